// ncursesw for Swift: the wide-character API needs NCURSES_WIDECHAR before the header (SwiftPM drops
// pkg-config's -D flags, so it lives here). Macros Swift cannot import get static inline getters.
#ifndef HERD_CNCURSESW_SHIM_H
#define HERD_CNCURSESW_SHIM_H
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <signal.h>
#include <unistd.h>
#include <ncursesw/curses.h>

static inline WINDOW *herd_stdscr(void) { return stdscr; }
static inline int herd_lines(void) { return LINES; }
static inline int herd_cols(void) { return COLS; }
static inline int herd_colors(void) { return COLORS; }
static inline int herd_color_pairs(void) { return COLOR_PAIRS; }
static inline attr_t herd_a_bold(void) { return A_BOLD; }
static inline attr_t herd_a_dim(void) { return A_DIM; }
static inline attr_t herd_a_reverse(void) { return A_REVERSE; }
static inline attr_t herd_a_underline(void) { return A_UNDERLINE; }
static inline int herd_key_code_yes(void) { return KEY_CODE_YES; }

// MARK: signals. The console calls these from one place (Terminal.swift) only.

// Set by SIGINT/SIGTERM: the render loop sees it within a frame and quits cleanly (endwin, engine stop).
static volatile sig_atomic_t herd_quit_signal = 0;
static inline int herd_quit_requested(void) { return herd_quit_signal; }
static void herd_on_quit_signal(int sig) { herd_quit_signal = sig; }

// While the console runs, stderr goes to a log file (a library's message would tear the screen); this
// is the terminal's stderr, put back on exit and before a crash report.
static int herd_saved_stderr = -1;
static inline void herd_set_saved_stderr(int fd) { herd_saved_stderr = fd; }

// A crash (or SIGHUP: the terminal went away) restores the terminal, then dies of the same signal with
// the default action, so the exit status, core dump and crash report are what they would have been.
static void herd_on_fatal_signal(int sig) {
    endwin();
    if (herd_saved_stderr >= 0) dup2(herd_saved_stderr, 2);
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline void herd_install_signal_handlers(void) {
    struct sigaction quit = {0}, fatal = {0};
    quit.sa_handler = herd_on_quit_signal;
    sigemptyset(&quit.sa_mask);
    sigaction(SIGINT, &quit, NULL);
    sigaction(SIGTERM, &quit, NULL);
    fatal.sa_handler = herd_on_fatal_signal;
    sigemptyset(&fatal.sa_mask);
    fatal.sa_flags = SA_RESETHAND;
    int fatals[] = {SIGHUP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGQUIT};
    for (unsigned i = 0; i < sizeof fatals / sizeof fatals[0]; i++) sigaction(fatals[i], &fatal, NULL);
}

/// Back to the default actions (after endwin on a normal exit).
static inline void herd_restore_signal_handlers(void) {
    int all[] = {SIGINT, SIGTERM, SIGHUP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGQUIT};
    for (unsigned i = 0; i < sizeof all / sizeof all[0]; i++) signal(all[i], SIG_DFL);
}
#endif
