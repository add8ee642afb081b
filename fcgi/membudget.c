#include "membudget.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "app_util.h"

/* One budget per worker process (each worker starts from zero after fork). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t freed = PTHREAD_COND_INITIALIZER;
static uint64_t in_use;

int mb_reserve(uint64_t bytes, uint64_t budget, double deadline)
{
    if (bytes > budget) return -1;
    pthread_mutex_lock(&lock);
    int rc = 0;
    while (in_use + bytes > budget) {
        double left = deadline - app_mono_s();
        if (left <= 0) {
            rc = -2;
            break;
        }
        struct timespec ts; /* the condition variable waits on CLOCK_REALTIME */
        clock_gettime(CLOCK_REALTIME, &ts);
        double wake = (double)ts.tv_sec + ts.tv_nsec / 1e9 + (left < 1.0 ? left : 1.0);
        ts.tv_sec = (time_t)wake;
        ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&freed, &lock, &ts);
    }
    if (rc == 0) in_use += bytes;
    pthread_mutex_unlock(&lock);
    return rc;
}

void mb_release(uint64_t bytes)
{
    if (!bytes) return;
    pthread_mutex_lock(&lock);
    in_use -= bytes;
    pthread_cond_broadcast(&freed);
    pthread_mutex_unlock(&lock);
}
