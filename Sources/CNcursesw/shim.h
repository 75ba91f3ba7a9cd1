// ncursesw for Swift: the wide-character API needs NCURSES_WIDECHAR before the header (SwiftPM drops
// pkg-config's -D flags, so it lives here). Macros Swift cannot import get static inline getters.
#ifndef HERD_CNCURSESW_SHIM_H
#define HERD_CNCURSESW_SHIM_H
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <ncursesw/curses.h>

static inline WINDOW *herd_stdscr(void) { return stdscr; }
static inline int herd_lines(void) { return LINES; }
static inline int herd_cols(void) { return COLS; }
#endif
