/* Where cutout keeps its on-disk caches: the OpenCL program binaries and
 * tuning choices, the CPU backend's packed weights. */
#ifndef CUTOUT_CACHE_DIR_H
#define CUTOUT_CACHE_DIR_H

#include <stddef.h>

/* $CUTOUT_CACHE_DIR, else $XDG_CACHE_HOME/cutout, else $HOME/.cache/cutout,
 * created (mode 0700) if missing; 0, or -1 when none can be named or made. */
int cut_cache_dir(char *buf, size_t len);

#endif
