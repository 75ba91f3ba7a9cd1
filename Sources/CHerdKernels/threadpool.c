// A persistent pool of worker threads for the CPU backend's parallel regions.
//
// One region (herd_pool_run) hands out tasks 0..<n from an atomic counter to the calling thread and the
// workers. Idle workers spin briefly (the next region of a forward pass usually follows within
// microseconds), then sleep on a condition variable, so an idle engine costs no CPU.
#include "CHerdKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

// About 50-100 microseconds of pause instructions before a worker sleeps.
#define HERD_SPIN_ROUNDS 2000

struct herd_pool {
    int threads;                 // including the caller
    pthread_t *workers;          // threads - 1
    pthread_mutex_t lock;
    pthread_cond_t wake;
    _Atomic unsigned generation; // bumped once per region
    _Atomic int sleepers;
    _Atomic int next_task;
    _Atomic int busy;            // workers still inside the current region
    _Atomic int stop;
    int n_tasks;
    herd_task_fn fn;
    void *ctx;
};

typedef struct { herd_pool *pool; int index; } worker_arg;

static void run_tasks(herd_pool *p, int worker) {
    const int n = p->n_tasks;
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next_task, 1, memory_order_relaxed);
        if (t >= n) break;
        p->fn(p->ctx, t, worker);
    }
}

static void *worker_main(void *arg) {
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    herd_pool *p = a.pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
            if (spins < HERD_SPIN_ROUNDS) { CPU_RELAX(); spins++; continue; }
            pthread_mutex_lock(&p->lock);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->generation) == seen) pthread_cond_wait(&p->wake, &p->lock);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->lock);
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        run_tasks(p, a.index);
        atomic_fetch_sub_explicit(&p->busy, 1, memory_order_release);
    }
    return NULL;
}

herd_pool *herd_pool_create(int threads) {
    herd_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (p->threads > 1) {
        p->workers = calloc((size_t)p->threads - 1, sizeof(pthread_t));
        for (int i = 1; i < p->threads; i++) {
            worker_arg *a = malloc(sizeof *a);
            a->pool = p;
            a->index = i;
            if (pthread_create(&p->workers[i - 1], NULL, worker_main, a) != 0) {
                free(a);
                p->threads = i;  // run with the workers we got
                break;
            }
        }
    }
    return p;
}

int herd_pool_threads(const herd_pool *p) { return p ? p->threads : 1; }

static void signal_region(herd_pool *p) {
    atomic_fetch_add(&p->generation, 1);  // seq_cst: pairs with the sleepers increment in worker_main
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

void herd_pool_run(herd_pool *p, int n_tasks, herd_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    p->n_tasks = n_tasks;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&p->busy, p->threads - 1, memory_order_relaxed);
    signal_region(p);
    run_tasks(p, 0);
    int spins = 0;
    while (atomic_load_explicit(&p->busy, memory_order_acquire) > 0) {
        if (++spins < HERD_SPIN_ROUNDS) CPU_RELAX();
        else sched_yield();  // a worker was descheduled (a busy machine): give it the core
    }
}

void herd_pool_destroy(herd_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    signal_region(p);
    for (int i = 1; i < p->threads; i++) pthread_join(p->workers[i - 1], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p->workers);
    free(p);
}
