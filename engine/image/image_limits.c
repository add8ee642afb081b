/* The header check every decoder runs before allocating pixels: dimensions
 * against the caller's limits. Its own file so that the codecs need nothing
 * from the dispatcher (image_io.c) that calls them. */
#include <inttypes.h>

#include "image_codec.h"
#include "util.h"

int cut_check_limits(const char *fmt, uint64_t width, uint64_t height,
                     const cutout_image_limits *limits, char *err, size_t errlen)
{
    if (width == 0 || height == 0)
        return cut_fail(err, errlen, CUTOUT_E_FORMAT, "%s: invalid size %" PRIu64 "x%" PRIu64,
                        fmt, width, height);
    /* Beyond INT_MAX nothing downstream can index it, whatever the limits. */
    if (width > 0x7fffffff || height > 0x7fffffff)
        return cut_fail(err, errlen, CUTOUT_E_LIMIT, "%s: %" PRIu64 "x%" PRIu64 " is too large",
                        fmt, width, height);
    if (!limits) return CUTOUT_OK;
    uint64_t maxd = (uint64_t)(limits->max_dimension > 0 ? limits->max_dimension : 0);
    if (maxd && (width > maxd || height > maxd))
        return cut_fail(err, errlen, CUTOUT_E_LIMIT,
                        "%s: %" PRIu64 "x%" PRIu64 " exceeds the maximum dimension %" PRIu64,
                        fmt, width, height, maxd);
    if (limits->max_pixels && width * height > limits->max_pixels)
        return cut_fail(err, errlen, CUTOUT_E_LIMIT,
                        "%s: %" PRIu64 "x%" PRIu64 " exceeds the limit of %" PRIu64 " pixels",
                        fmt, width, height, limits->max_pixels);
    uint64_t mind = (uint64_t)(limits->min_dimension > 0 ? limits->min_dimension : 0);
    if (width < mind || height < mind)
        return cut_fail(err, errlen, CUTOUT_E_LIMIT,
                        "%s: %" PRIu64 "x%" PRIu64 " is below the minimum dimension %" PRIu64,
                        fmt, width, height, mind);
    return CUTOUT_OK;
}
