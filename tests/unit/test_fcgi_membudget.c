/* The server's per-worker memory budget (fcgi/membudget.c): a request that
 * can never fit is refused at once, one that does not fit now waits until
 * memory is given back or its deadline passes. */
#include "../../fcgi/membudget.c"

#include <stdio.h>

#include "../../tools/app_util.c" /* the clock */

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static double waited;
static int waiter_rc = 99;

static void *waiter(void *arg)
{
    (void)arg;
    double t = app_mono_s();
    waiter_rc = mb_reserve(7, 10, t + 5);
    waited = app_mono_s() - t;
    return NULL;
}

int main(void)
{
    check(mb_reserve(11, 10, app_mono_s() + 1) == -1, "more than the whole budget: refused at once");
    check(mb_reserve(4, 10, app_mono_s() + 1) == 0, "4 of 10: reserved");
    double t = app_mono_s();
    int rc = mb_reserve(7, 10, t + 0.3);
    double dt = app_mono_s() - t;
    check(rc == -2 && dt >= 0.29 && dt < 2, "7 more while 4 are held: waits to the deadline (0.3 s), then -2");
    pthread_t th;
    pthread_create(&th, NULL, waiter, NULL);
    nanosleep(&(struct timespec){0, 300000000}, NULL);
    check(waiter_rc == 99, "a waiter is still waiting after 0.3 s");
    mb_release(4);
    pthread_join(th, NULL);
    char what[128];
    snprintf(what, sizeof what, "the waiter gets its 7 when the 4 are given back (waited %.2f s)", waited);
    check(waiter_rc == 0 && waited >= 0.29 && waited < 0.9, what); /* woken, not polled (1 s) */
    check(mb_reserve(3, 10, app_mono_s() + 1) == 0, "3 more fit beside the 7");
    check(mb_reserve(1, 10, app_mono_s()) == -2, "and then nothing more, past the deadline");
    mb_release(7);
    mb_release(3);
    check(mb_reserve(10, 10, app_mono_s()) == 0, "everything given back: the whole budget fits");
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
