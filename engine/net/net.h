/* The forward pass of a recognised model over a backend. */
#ifndef CUTOUT_NET_H
#define CUTOUT_NET_H

#include "backend.h"
#include "model.h"
#include "plan.h"

/* Runs (bk != NULL) or plans (bk == NULL: records allocations in pl, counts
 * MACs) one forward pass over n×3×h×w. With side_outputs, outputs[1..] get
 * the side outputs (see cutout_engine_run). *macs receives the MAC count. */
int cut_net_forward(const cutout_model *m, backend *bk, plan *pl, const float *input, int n, int h,
                int w, int side_outputs, float *const *outputs, double *macs, char *err,
                size_t errlen);

#endif
