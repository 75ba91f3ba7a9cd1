// A persistent pool of worker threads for the CPU backend's parallel regions.
//
// One region (herd_pool_run) hands out tasks 0..<n from an atomic counter to the calling thread and the
// workers; the caller returns when every task has run, without waiting for workers that took none (on a
// busy machine a descheduled worker would otherwise stall every region). Idle workers spin briefly (the next
// region of a forward pass usually follows within microseconds), then sleep on a condition variable, so an
// idle engine costs no CPU.
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

// The region in progress, in one atomic word so that a worker claims a task of the region it saw or of
// none: generation (20 bits) | task count (22 bits) | next task to hand out (22 bits).
#define GEN_SHIFT 44
#define COUNT_SHIFT 22
#define FIELD_MASK ((1ull << 22) - 1)
static unsigned gen_of(uint64_t s) { return (unsigned)(s >> GEN_SHIFT); }
static int count_of(uint64_t s) { return (int)((s >> COUNT_SHIFT) & FIELD_MASK); }
static int next_of(uint64_t s) { return (int)(s & FIELD_MASK); }

struct herd_pool {
    int threads;                 // including the caller
    pthread_t *workers;          // threads - 1
    pthread_mutex_t lock;
    pthread_cond_t wake;
    _Atomic uint64_t state;      // see GEN_SHIFT
    _Atomic int sleepers;
    _Atomic int done;            // tasks of the current region finished
    _Atomic int stop;
    herd_task_fn fn;             // valid while the current region has unfinished tasks
    void *ctx;
};

typedef struct { herd_pool *pool; int index; } worker_arg;

// Claims and runs tasks of region `gen` until none are left (or another region began).
static void run_tasks(herd_pool *p, unsigned gen, int worker) {
    uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    for (;;) {
        if (gen_of(s) != gen || next_of(s) >= count_of(s)) return;
        if (!atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1, memory_order_acquire, memory_order_acquire))
            continue;
        // The region cannot end (nor fn/ctx change) before this task is counted done.
        p->fn(p->ctx, next_of(s), worker);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        s = atomic_load_explicit(&p->state, memory_order_acquire);
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
        while ((g = gen_of(atomic_load_explicit(&p->state, memory_order_acquire))) == seen) {
            if (spins < HERD_SPIN_ROUNDS) { CPU_RELAX(); spins++; continue; }
            pthread_mutex_lock(&p->lock);
            atomic_fetch_add(&p->sleepers, 1);
            while (gen_of(atomic_load(&p->state)) == seen) pthread_cond_wait(&p->wake, &p->lock);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->lock);
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        run_tasks(p, g, a.index);
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

// Publishes a new region (count tasks) and wakes sleeping workers. Returns its generation.
static unsigned begin_region(herd_pool *p, int count) {
    const unsigned gen = (gen_of(atomic_load(&p->state)) + 1) & (unsigned)((1u << (64 - GEN_SHIFT)) - 1);
    // seq_cst: pairs with the sleepers increment in worker_main
    atomic_store(&p->state, (uint64_t)gen << GEN_SHIFT | (uint64_t)count << COUNT_SHIFT);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    return gen;
}

void herd_pool_run(herd_pool *p, int n_tasks, herd_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->threads == 1 || n_tasks == 1 || (uint64_t)n_tasks > FIELD_MASK) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    const unsigned gen = begin_region(p, n_tasks);
    run_tasks(p, gen, 0);
    // Wait only for tasks other threads claimed: a worker that has not woken up yet (a busy machine) claims
    // nothing and is not waited for.
    int spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks) {
        if (++spins < HERD_SPIN_ROUNDS) CPU_RELAX();
        else sched_yield();  // a worker was descheduled mid-task: give it the core
    }
}

void herd_pool_destroy(herd_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    begin_region(p, 0);
    for (int i = 1; i < p->threads; i++) pthread_join(p->workers[i - 1], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p->workers);
    free(p);
}
