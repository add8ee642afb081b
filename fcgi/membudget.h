/* The worker's memory budget for image work (limits.max_memory_mb): each
 * image request reserves what cutout_image_probe estimates from its header
 * before decoding and gives it back when its answer is built. Requests that
 * do not fit wait for others to finish, up to their deadline. */
#ifndef CUTOUT_FCGI_MEMBUDGET_H
#define CUTOUT_FCGI_MEMBUDGET_H

#include <stdint.h>

/* 0 once bytes are reserved out of budget; -1 if bytes can never fit
 * (more than budget); -2 if the deadline (app_mono_s() time) passed first. */
int mb_reserve(uint64_t bytes, uint64_t budget, double deadline);
void mb_release(uint64_t bytes);

#endif
