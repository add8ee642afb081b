/* Helpers the programs share (the CLI, cutout-bench, cutout-fcgi): option
 * parsing and error messages in the library's style.
 * Not part of libcutout, which has no use for them. */
#ifndef CUTOUT_APP_UTIL_H
#define CUTOUT_APP_UTIL_H

#include <stddef.h>

/* Parses a whole decimal string as an int in [lo, hi] into *out: 0, or -1
 * (not a number, trailing characters, out of range). */
int app_parse_int(const char *s, long lo, long hi, int *out);

/* Writes a formatted message into err (if not NULL) and returns code, as
 * the library's functions do with their cutout_status. */
int app_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Makes malloc keep freed memory for the next allocation instead of giving
 * it back to the kernel (glibc: no mmap for big blocks, no trimming): a
 * program that decodes photo after photo then reuses the same pages instead
 * of faulting in and zeroing ~150 MB of fresh ones per 12 MP photo (decode
 * 37 -> 23 ms, cutout 38 -> 13 ms, encode 193 -> 160 ms; e2e-2026-12-07.md).
 * Costs memory: it is not returned before exit (the 1-12 MP folder of
 * e2e.sh: peak RSS 550 -> 656-700 MB).
 * Nothing elsewhere. Call before the first allocation that matters. */
void app_keep_freed_memory(void);

/* The CLI's default PNG level (cutout --png-level): libdeflate level 1,
 * 4x faster than zlib's level 3 and no larger on photos
 * (bench/results/e2e-2026-12-07.md). */
#define APP_CLI_PNG_LEVEL 1

/* The programs' clocks, in seconds: monotonic (intervals, deadlines) and
 * wall (timestamps shown to people and stored). */
double app_mono_s(void);
double app_wall_s(void);

#endif
