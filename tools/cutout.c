/* cutout: removes image backgrounds from the command line (CLI contract in
 * README.md, "CLI reference"). Three stages run at once so a folder goes at the network's
 * speed: a decoder thread reads, decodes and preprocesses ahead (bounded
 * queue), the main thread runs the forward passes, an encoder thread builds
 * the masks and outputs, encodes and writes them. Per-file errors are
 * reported by the encoder thread only, so stderr lines never interleave. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "app_util.h"
#include "cutout_client.h"
#include "cutout.h"

#define QUEUE_DEPTH 3
#define MAX_INPUT_BYTES ((size_t)512 << 20)
#define MAX_INPUT_PIXELS ((uint64_t)200000000)

static const char *prog = "cutout";

/* ---------------------------------------------------------------- help */

static void usage_short(FILE *f)
{
    fprintf(f, "usage: %s [OPTIONS] INPUT [INPUT...]   (%s --help for the manual)\n", prog, prog);
}

static void help(void)
{
    printf(
        "NAME\n"
        "    cutout - remove the background of images (U2-Net family, rembg-compatible)\n"
        "\n"
        "SYNOPSIS\n"
        "    cutout [OPTIONS] INPUT [INPUT...]\n"
        "\n"
        "DESCRIPTION\n"
        "    Each INPUT (PNG, JPEG, WebP or BMP; a directory means the images in it) goes through\n"
        "    the same steps as rembg: EXIF orientation, LANCZOS resize to the model size,\n"
        "    normalisation, the network, a min-max normalised 8-bit mask resized back to the\n"
        "    image. The output is the image with the mask as its alpha channel (RGBA PNG by\n"
        "    default), or the mask itself, or the object composited over a background.\n"
        "\n"
        "    An INPUT or an OUTPUT of \"-\" means standard input / standard output.\n"
        "\n"
        "OPTIONS\n"
        "    -o, --output PATH\n"
        "        The output file for one input; a directory (created if missing) when there\n"
        "        are several inputs or a directory input. Outputs in a directory are named\n"
        "        after their input with the output format's extension (photo.jpg ->\n"
        "        photo.png); files found with -r keep their sub-directories. Required unless\n"
        "        the only input is \"-\" (then the output goes to standard output).\n"
        "    -r, --recursive\n"
        "        Descend into sub-directories of directory inputs.\n"
        "    -m, --model NAME|PATH\n"
        "        A registry name (default u2netp), looked up as NAME.onnx in\n"
        "        $CUTOUT_MODEL_DIR, ./models and the installed data directory; or an .onnx path.\n"
        "    -b, --backend auto|cpu|opencl\n"
        "        Compute backend (default auto: an OpenCL GPU or accelerator when there\n"
        "        is one, else the CPU; PoCL's CPU device only with -b opencl).\n"
        "        --device N|TEXT\n"
        "        OpenCL device by index or name substring (ignored by the cpu backend).\n"
        "        --require-gpu\n"
        "        Fail (exit 1) unless an OpenCL GPU or accelerator runs the network,\n"
        "        instead of falling back to the CPU.\n"
        "    -t, --threads N\n"
        "        CPU threads for the network (default: all online CPUs).\n"
        "        --mask\n"
        "        Write the 8-bit mask only (grayscale).\n"
        "        --format png|webp|jpeg\n"
        "        Output format (default: from the output file's extension, else png). JPEG\n"
        "        has no alpha: the object is flattened over --bg (white by default).\n"
        "        --quality N\n"
        "        JPEG and WebP quality 1..100 (default 90; WebP is lossless without it).\n"
        "        --png-level N\n"
        "        PNG compression 0..9 (default %d): 1..3 are libdeflate's levels (Paeth\n"
        "        rows), 4..9 zlib's with adaptive filters, 0 stored; higher is smaller\n"
        "        and slower.\n"
        "        --bg COLOR\n"
        "        Composite over a colour: #rrggbb, #rrggbbaa, r,g,b or r,g,b,a.\n"
        "        --bg-image PATH\n"
        "        Composite over an image, scaled to cover the output and centred.\n"
        "        --crop\n"
        "        Crop to the bounding box of the object (mask > 0).\n"
        "        --margin N[%%]\n"
        "        With --crop, keep N pixels (or N percent of the box) around the object.\n"
        "        --max-size WxH\n"
        "        Downscale the output (LANCZOS, aspect kept) to fit in W x H.\n"
        "        --post-process\n"
        "        rembg's post_process_mask: opening, Gaussian blur, threshold (hard edges).\n"
        "        --server URL\n"
        "        Do the work on a cutout-fcgi server instead (http://host/ or\n"
        "        http://host/prefix/): the inputs go as one job (POST /jobs), the\n"
        "        progress bar follows the job, and the results are downloaded to the\n"
        "        outputs. -m names one of the server's models; -b, -t, --device,\n"
        "        --require-gpu, --png-level and --bg-image do not apply (the server's\n"
        "        output.png_compression sets its PNG level). At most the server's\n"
        "        jobs.max_items inputs (100 by default).\n"
        "        --cloth upper|lower|full|all\n"
        "        u2net_cloth_seg only (rembg's cc): the clothes class to cut out. One class\n"
        "        writes OUTPUT; all (the default) writes one file per class, NAME-upper.png,\n"
        "        NAME-lower.png and NAME-full.png.\n"
        "        --alpha-matting [--af N] [--ab N] [--ae N]\n"
        "        rembg's alpha matting: soft edges (hair, fur) solved from a trimap of the\n"
        "        mask: foreground above --af (0..255, default 240), background below --ab\n"
        "        (0..255, default 10), both eroded by an --ae square (0..255, default 10).\n"
        "        Seconds per megapixel; falls back to the plain cutout as rembg does.\n"
        "    -q, --quiet\n"
        "        No progress bar.\n"
        "    -v, --verbose\n"
        "        Says on stderr which backend and device run the model and what the CPU\n"
        "        weight cache did (hit, written, not written, off; see README.md).\n"
        "    -h, --help\n"
        "        This manual.\n"
        "\n"
        "OUTPUT\n"
        "    Files are written atomically: a temporary file in the output directory, then a\n"
        "    rename. An output that would replace one of the inputs is refused. With\n"
        "    several inputs and a terminal on standard error, a progress bar shows the\n"
        "    count, the rate and the time left.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  every input was processed\n"
        "    1  some inputs failed (each is named on standard error), or the model or\n"
        "       backend could not be set up\n"
        "    2  usage error\n"
        "\n"
        "EXAMPLES\n"
        "    cutout photo.jpg -o photo.png\n"
        "    cutout -r shots/ -o cut/ --bg '#ffffff' --format jpeg --max-size 1024x1024\n"
        "    curl -s URL | cutout - --mask > mask.png\n", APP_CLI_PNG_LEVEL);
}

/* ---------------------------------------------------------------- jobs */

typedef struct {
    char *in;  /* path, or "-" */
    char *out; /* path, or "-" */
} job;

typedef struct {
    job *v;
    size_t n, cap;
} job_list;

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(1);
    }
    return d;
}

static void jobs_add(job_list *l, const char *in, const char *out)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        job *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            fprintf(stderr, "%s: out of memory\n", prog);
            exit(1);
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n].in = xstrdup(in);
    l->v[l->n].out = out ? xstrdup(out) : NULL;
    l->n++;
}

static void jobs_free(job_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].in);
        free(l->v[i].out);
    }
    free(l->v);
}

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    static const char *exts[] = {".png", ".jpg", ".jpeg", ".webp", ".jpe", ".bmp", ".dib"};
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the images under dir (sorted; sub-directories when recursive). rel is
 * the path relative to the directory argument, kept in job.out until the
 * output names are made. Returns -1 when the directory cannot be read. */
static int walk_dir(job_list *l, const char *dir, const char *rel, int recursive)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* hidden files and our temporaries */
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                fprintf(stderr, "%s: out of memory\n", prog);
                exit(1);
            }
            names = nn;
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        size_t plen = strlen(dir) + strlen(names[i]) + 2, rlen = strlen(rel) + strlen(names[i]) + 2;
        char *path = malloc(plen), *r = malloc(rlen);
        if (!path || !r) {
            fprintf(stderr, "%s: out of memory\n", prog);
            exit(1);
        }
        snprintf(path, plen, "%s/%s", dir, names[i]);
        snprintf(r, rlen, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        struct stat st;
        if (stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                if (recursive && walk_dir(l, path, r, recursive)) rc = -1;
            } else if (S_ISREG(st.st_mode) && has_image_ext(names[i])) {
                jobs_add(l, path, r);
            }
        }
        free(path);
        free(r);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* "dir/sub/photo.jpg" -> "dir/sub/photo" + ext, in a new string. */
static char *with_ext(const char *dir, const char *rel, const char *ext)
{
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - rel) : strlen(rel);
    size_t len = (dir ? strlen(dir) + 1 : 0) + stem + strlen(ext) + 2;
    char *s = malloc(len);
    if (!s) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(1);
    }
    snprintf(s, len, "%s%s%.*s.%s", dir ? dir : "", dir ? "/" : "", (int)stem, rel, ext);
    return s;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) return -1;
    struct stat st;
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* ---------------------------------------------------------------- queue */

typedef struct {
    size_t idx;
    int failed;
    char err[512];
    cutout_image img;  /* decoded, orientation applied */
    float *tensor;  /* 3 x S x S network input */
    float *pred;    /* C x S x S output 0 (C: the model's output channels) */
} item;

typedef struct {
    item *v[QUEUE_DEPTH];
    int head, count, closed;
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
} queue;

static void queue_init(queue *q)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
}

static void queue_push(queue *q, item *it)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == QUEUE_DEPTH) pthread_cond_wait(&q->not_full, &q->mu);
    q->v[(q->head + q->count) % QUEUE_DEPTH] = it;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

static void queue_close(queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

/* NULL once closed and drained. */
static item *queue_pop(queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed) pthread_cond_wait(&q->not_empty, &q->mu);
    item *it = NULL;
    if (q->count) {
        it = q->v[q->head];
        q->head = (q->head + 1) % QUEUE_DEPTH;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return it;
}

static void item_free(item *it)
{
    if (!it) return;
    cutout_image_free(&it->img);
    free(it->tensor);
    free(it->pred);
    free(it);
}

/* ---------------------------------------------------------------- run state */

typedef struct {
    job_list jobs;
    int size;
    int out_ch;     /* output channels: 4 for u2net_cloth_seg */
    int cloth;      /* CUTOUT_CLOTH_* to write, CLOTH_ALL, or 0 (not given) */
    float mean[3], std[3];
    cutout_render_options render;
    cutout_encode_options enc;
    /* identities of the inputs, so no output replaces one */
    dev_t *in_dev;
    ino_t *in_ino;
    queue decoded, inferred;
    /* progress and results (encoder thread only) */
    size_t done, failed;
    int progress;
    double t0;
} run_state;

static void *decoder_main(void *arg)
{
    run_state *rs = arg;
    size_t plane = (size_t)rs->size * (size_t)rs->size;
    for (size_t i = 0; i < rs->jobs.n; i++) {
        item *it = calloc(1, sizeof *it);
        if (!it) { /* cannot even report through the queue: stop reading */
            fprintf(stderr, "%s: out of memory\n", prog);
            break;
        }
        it->idx = i;
        const char *in = rs->jobs.v[i].in;
        uint8_t *data = NULL;
        size_t size = 0;
        cutout_image_limits lim = {MAX_INPUT_PIXELS, 0, 1};
        cutout_decode_flags flags = {0};
        int rc = cutout_read_file(strcmp(in, "-") ? in : "/dev/stdin", MAX_INPUT_BYTES, &data,
                                  &size, it->err, sizeof it->err);
        if (!rc && size == 0) rc = app_fail(it->err, sizeof it->err, CUTOUT_E_FORMAT, "empty file");
        if (!rc) rc = cutout_image_decode(data, size, &lim, flags, &it->img, NULL, it->err, sizeof it->err);
        free(data);
        if (!rc) {
            it->tensor = malloc(3 * plane * sizeof(float));
            it->pred = malloc((size_t)rs->out_ch * plane * sizeof(float));
            if (!it->tensor || !it->pred)
                rc = app_fail(it->err, sizeof it->err, CUTOUT_E_NOMEM, "out of memory");
        }
        if (!rc)
            rc = cutout_pipeline_preprocess(&it->img, rs->size, rs->mean, rs->std, it->tensor, NULL, it->err,
                                         sizeof it->err);
        if (rc) it->failed = 1;
        queue_push(&rs->decoded, it);
    }
    queue_close(&rs->decoded);
    return NULL;
}

static void progress_draw(run_state *rs, int final)
{
    if (!rs->progress) return;
    size_t n = rs->jobs.n, k = rs->done;
    double el = app_mono_s() - rs->t0, rate = el > 0 ? k / el : 0;
    double eta = rate > 0 ? (n - k) / rate : 0;
    int width = 30, fill = n ? (int)(width * k / n) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r\033[K[%s] %zu/%zu  %.2f img/s  ETA %d:%02d%s", bar, k, n, rate,
            (int)eta / 60, (int)eta % 60, final ? "\n" : "");
    fflush(stderr);
}

static void report_failure(run_state *rs, const char *name, const char *msg)
{
    size_t n = strlen(name); /* file errors already start with the path */
    if (!strncmp(msg, name, n) && !strncmp(msg + n, ": ", 2)) msg += n + 2;
    if (rs->progress) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "%s: %s: %s\n", prog, strcmp(name, "-") ? name : "(stdin)", msg);
    rs->failed++;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes data to path atomically; refuses to replace an input. */
static int write_output(run_state *rs, const char *path, const uint8_t *data, size_t size,
                        char *err, size_t errlen)
{
    if (!strcmp(path, "-")) {
        if (write_all(STDOUT_FILENO, data, size))
            return app_fail(err, errlen, CUTOUT_E_IO, "writing standard output: %s", strerror(errno));
        return 0;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        for (size_t i = 0; i < rs->jobs.n; i++)
            if (rs->in_ino[i] && st.st_dev == rs->in_dev[i] && st.st_ino == rs->in_ino[i])
                return app_fail(err, errlen, CUTOUT_E_IO,
                                "refusing to overwrite input %s with output %s", rs->jobs.v[i].in,
                                path);
        if (S_ISDIR(st.st_mode))
            return app_fail(err, errlen, CUTOUT_E_IO, "output %s is a directory", path);
    }
    const char *slash = strrchr(path, '/');
    char tmp[PATH_MAX];
    int n = slash ? snprintf(tmp, sizeof tmp, "%.*s/.cutout-XXXXXX", (int)(slash - path), path)
                  : snprintf(tmp, sizeof tmp, ".cutout-XXXXXX");
    if (n < 0 || n >= (int)sizeof tmp)
        return app_fail(err, errlen, CUTOUT_E_IO, "output path too long: %s", path);
    if (slash) { /* sub-directories of -r outputs */
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        if (*dir && mkdir_p(dir))
            return app_fail(err, errlen, CUTOUT_E_IO, "cannot create directory %s: %s", dir,
                            strerror(errno));
    }
    int fd = mkstemp(tmp);
    if (fd < 0) return app_fail(err, errlen, CUTOUT_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    mode_t um = umask(0);
    umask(um);
    int rc = 0;
    if (write_all(fd, data, size) || fchmod(fd, 0666 & ~um)) rc = -1;
    if (close(fd)) rc = -1;
    if (!rc && rename(tmp, path)) rc = -1;
    if (rc) {
        int e = errno;
        unlink(tmp);
        return app_fail(err, errlen, CUTOUT_E_IO, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

#define CLOTH_ALL 4
static const char *const cloth_names[] = {NULL, "upper", "lower", "full", "all"};

/* PATH with -SUFFIX before the extension of its last component. */
static int suffixed_path(const char *path, const char *suffix, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    int stem = dot ? (int)(dot - path) : (int)strlen(path);
    int n = snprintf(out, outlen, "%.*s-%s%s", stem, path, suffix, dot ? dot : "");
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Renders, encodes and writes one mask of the item to path. */
static int write_one(run_state *rs, item *it, cutout_image *mask, const char *path)
{
    cutout_image out = {0};
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = cutout_render(&it->img, mask, &rs->render, &out, NULL, it->err, sizeof it->err);
    if (!rc) rc = cutout_image_encode(&out, &rs->enc, &data, &size, NULL, it->err, sizeof it->err);
    if (!rc) rc = write_output(rs, path, data, size, it->err, sizeof it->err);
    free(data);
    cutout_image_free(&out);
    return rc;
}

/* u2net_cloth_seg: one output per selected class (rembg's cc). */
static int write_classes(run_state *rs, item *it, const char *path)
{
    cutout_image map = {0};
    int rc = cutout_pipeline_class_map(it->pred, rs->out_ch, rs->size, it->img.width,
                                       it->img.height, &map, NULL, it->err, sizeof it->err);
    int all = rs->cloth == CLOTH_ALL || rs->cloth == 0;
    for (int cls = CUTOUT_CLOTH_UPPER; !rc && cls <= CUTOUT_CLOTH_FULL; cls++) {
        if (!all && cls != rs->cloth) continue;
        char named[4096];
        if (all && suffixed_path(path, cloth_names[cls], named, sizeof named)) {
            rc = app_fail(it->err, sizeof it->err, CUTOUT_E_ARG, "output path too long");
            break;
        }
        cutout_image mask = {0};
        rc = cutout_pipeline_class_mask(&map, cls, &mask, it->err, sizeof it->err);
        if (!rc) rc = write_one(rs, it, &mask, all ? named : path);
        cutout_image_free(&mask);
    }
    cutout_image_free(&map);
    return rc;
}

static void *encoder_main(void *arg)
{
    run_state *rs = arg;
    item *it;
    while ((it = queue_pop(&rs->inferred))) {
        const job *jb = &rs->jobs.v[it->idx];
        if (!it->failed) {
            int rc;
            if (rs->out_ch > 1) {
                rc = write_classes(rs, it, jb->out);
            } else {
                cutout_image mask = {0};
                rc = cutout_pipeline_mask(it->pred, rs->size, it->img.width, it->img.height,
                                          &mask, NULL, it->err, sizeof it->err);
                if (!rc) rc = write_one(rs, it, &mask, jb->out);
                cutout_image_free(&mask);
            }
            if (rc) it->failed = 1;
        }
        if (it->failed) report_failure(rs, jb->in, it->err);
        rs->done++;
        progress_draw(rs, rs->done == rs->jobs.n);
        item_free(it);
    }
    return NULL;
}

/* ---------------------------------------------------------------- options */

static cutout_image_format format_from_name(const char *s)
{
    if (!strcasecmp(s, "png")) return CUTOUT_FORMAT_PNG;
    if (!strcasecmp(s, "jpeg") || !strcasecmp(s, "jpg")) return CUTOUT_FORMAT_JPEG;
    if (!strcasecmp(s, "webp")) return CUTOUT_FORMAT_WEBP;
    return CUTOUT_FORMAT_UNKNOWN;
}

static cutout_image_format format_from_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    return dot ? format_from_name(dot + 1) : CUTOUT_FORMAT_UNKNOWN;
}

static const char *format_ext(cutout_image_format f)
{
    return f == CUTOUT_FORMAT_JPEG ? "jpg" : f == CUTOUT_FORMAT_WEBP ? "webp" : "png";
}

static int is_dir(const char *p)
{
    struct stat st;
    return strcmp(p, "-") && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

#define USAGE(...)                                   \
    do {                                             \
        fprintf(stderr, "%s: ", prog);               \
        fprintf(stderr, __VA_ARGS__);                \
        fputc('\n', stderr);                         \
        usage_short(stderr);                         \
        return 2;                                    \
    } while (0)

enum {
    OPT_DEVICE = 256, OPT_SERVER, OPT_REQUIRE_GPU, OPT_MASK, OPT_FORMAT, OPT_QUALITY, OPT_PNG_LEVEL, OPT_BG,
    OPT_BG_IMAGE, OPT_CROP, OPT_MARGIN, OPT_MAX_SIZE, OPT_POST, OPT_CLOTH, OPT_AM, OPT_AF, OPT_AB,
    OPT_AE
};

/* The options as the server's parameters of POST /remove and POST /jobs
 * (fcgi/README.md); percent-encoding is needed for bg's '#' only. */
static void server_query(char *q, size_t len, const char *model, cutout_image_format format,
                         int quality, const cutout_render_options *r, const char *bg,
                         const char *margin)
{
    size_t o = 0;
#define ADD(...) do { int k_ = snprintf(q + o, len - o, __VA_ARGS__); if (k_ > 0 && (size_t)k_ < len - o) o += (size_t)k_; } while (0)
    q[0] = '\0';
    if (strcmp(model, "u2netp")) ADD("&model=%s", model);
    ADD("&format=%s", format_ext(format)[0] == 'j' ? "jpeg" : format_ext(format));
    if (quality) ADD("&quality=%d", quality);
    if (r->mask_only) ADD("&mask=1");
    if (r->crop) ADD("&crop=1");
    if (margin) {
        ADD("&margin=");
        for (const char *m = margin; *m; m++)
            if (*m == '%') ADD("%%25");
            else ADD("%c", *m);
    }
    if (r->post_process) ADD("&post_process=1");
    if (bg) ADD("&bg=%s%s", bg[0] == '#' ? "%23" : "", bg[0] == '#' ? bg + 1 : bg);
    if (r->max_w) ADD("&max_width=%d&max_height=%d", r->max_w, r->max_h);
    if (r->alpha_matting)
        ADD("&alpha_matting=1&af=%d&ab=%d&ae=%d", r->am_foreground_threshold,
            r->am_background_threshold, r->am_erode_size);
#undef ADD
    if (q[0] == '&') memmove(q, q + 1, strlen(q));
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},   {"recursive", no_argument, NULL, 'r'},
        {"model", required_argument, NULL, 'm'},    {"backend", required_argument, NULL, 'b'},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"require-gpu", no_argument, NULL, OPT_REQUIRE_GPU},
        {"threads", required_argument, NULL, 't'},  {"mask", no_argument, NULL, OPT_MASK},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"quality", required_argument, NULL, OPT_QUALITY},
        {"png-level", required_argument, NULL, OPT_PNG_LEVEL},
        {"bg", required_argument, NULL, OPT_BG},    {"bg-image", required_argument, NULL, OPT_BG_IMAGE},
        {"crop", no_argument, NULL, OPT_CROP},      {"margin", required_argument, NULL, OPT_MARGIN},
        {"max-size", required_argument, NULL, OPT_MAX_SIZE},
        {"post-process", no_argument, NULL, OPT_POST},
        {"server", required_argument, NULL, OPT_SERVER},
        {"cloth", required_argument, NULL, OPT_CLOTH},
        {"alpha-matting", no_argument, NULL, OPT_AM}, {"af", required_argument, NULL, OPT_AF},
        {"ab", required_argument, NULL, OPT_AB},    {"ae", required_argument, NULL, OPT_AE},
        {"quiet", no_argument, NULL, 'q'},          {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *out_arg = NULL, *model_arg = "u2netp", *bg_image_path = NULL;
    cutout_engine_options eopt;
    cutout_engine_options_default(&eopt);
    cutout_render_options ropt;
    int cloth = 0;
    cutout_render_options_default(&ropt);
    cutout_image_format format = CUTOUT_FORMAT_UNKNOWN;
    int quality = 0, png_level = APP_CLI_PNG_LEVEL, recursive = 0, quiet = 0, verbose = 0, c;
    const char *server = NULL, *bg_arg = NULL, *margin_arg = NULL;

    while ((c = getopt_long(argc, argv, "o:rm:b:t:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_arg = optarg; break;
        case 'r': recursive = 1; break;
        case 'm': model_arg = optarg; break;
        case 'b':
            if (!strcmp(optarg, "auto")) eopt.backend = CUTOUT_BACKEND_AUTO;
            else if (!strcmp(optarg, "cpu")) eopt.backend = CUTOUT_BACKEND_CPU;
            else if (!strcmp(optarg, "opencl")) eopt.backend = CUTOUT_BACKEND_OPENCL;
            else USAGE("--backend: '%s' is not auto, cpu or opencl", optarg);
            break;
        case OPT_DEVICE: eopt.device = optarg; break; /* only the OpenCL backend reads it */
        case OPT_REQUIRE_GPU: eopt.require_gpu = 1; break;
        case 't':
            if (app_parse_int(optarg, 1, 1024, &eopt.threads)) USAGE("--threads: '%s' is not 1..1024", optarg);
            break;
        case OPT_MASK: ropt.mask_only = 1; break;
        case OPT_FORMAT:
            format = format_from_name(optarg);
            if (!format) USAGE("--format: '%s' is not png, webp or jpeg", optarg);
            break;
        case OPT_QUALITY:
            if (app_parse_int(optarg, 1, 100, &quality)) USAGE("--quality: '%s' is not 1..100", optarg);
            break;
        case OPT_PNG_LEVEL:
            if (app_parse_int(optarg, 0, 9, &png_level)) USAGE("--png-level: '%s' is not 0..9", optarg);
            break;
        case OPT_BG:
            if (cutout_parse_color(optarg, ropt.bg_color))
                USAGE("--bg: '%s' is not #rrggbb[aa] or r,g,b[,a]", optarg);
            ropt.has_bg_color = 1;
            bg_arg = optarg;
            break;
        case OPT_BG_IMAGE: bg_image_path = optarg; break;
        case OPT_CROP: ropt.crop = 1; break;
        case OPT_MARGIN: {
            char buf[32];
            size_t n = strlen(optarg);
            if (n == 0 || n >= sizeof buf) USAGE("--margin: '%s' is not N or N%%", optarg);
            margin_arg = optarg;
            memcpy(buf, optarg, n + 1);
            if (buf[n - 1] == '%') {
                ropt.margin_percent = 1;
                buf[n - 1] = '\0';
            }
            if (app_parse_int(buf, 0, 1000000, &ropt.margin)) USAGE("--margin: '%s' is not N or N%%", optarg);
            break;
        }
        case OPT_MAX_SIZE: {
            char *x = strchr(optarg, 'x');
            char wbuf[16];
            if (!x || x == optarg || (size_t)(x - optarg) >= sizeof wbuf)
                USAGE("--max-size: '%s' is not WxH", optarg);
            snprintf(wbuf, sizeof wbuf, "%.*s", (int)(x - optarg), optarg);
            if (app_parse_int(wbuf, 1, 1 << 20, &ropt.max_w) || app_parse_int(x + 1, 1, 1 << 20, &ropt.max_h))
                USAGE("--max-size: '%s' is not WxH", optarg);
            break;
        }
        case OPT_POST: ropt.post_process = 1; break;
        case OPT_SERVER: server = optarg; break;
        case OPT_CLOTH:
            for (cloth = CLOTH_ALL; cloth > 0; cloth--)
                if (!strcmp(optarg, cloth_names[cloth])) break;
            if (!cloth) USAGE("--cloth: '%s' is not upper, lower, full or all", optarg);
            break;
        case OPT_AM: ropt.alpha_matting = 1; break;
        case OPT_AF:
        case OPT_AB:
        case OPT_AE: {
            int *v = c == OPT_AF ? &ropt.am_foreground_threshold
                     : c == OPT_AB ? &ropt.am_background_threshold : &ropt.am_erode_size;
            if (app_parse_int(optarg, 0, 255, v))
                USAGE("--%s: '%s' is not 0..255", c == OPT_AF ? "af" : c == OPT_AB ? "ab" : "ae", optarg);
            break;
        }
        case 'q': quiet = 1; break;
        case 'v': verbose = 1; break;
        case 'h': help(); return 0;
        default: usage_short(stderr); return 2;
        }
    }
    int nargs = argc - optind;
    if (nargs < 1) USAGE("no input given");
    if (ropt.has_bg_color && bg_image_path) USAGE("--bg and --bg-image exclude each other");
    if ((ropt.has_bg_color || bg_image_path) && ropt.mask_only)
        USAGE("--mask writes the mask only: --bg/--bg-image do not apply");

    /* Inputs -> jobs; multi: the output is a directory. */
    int multi = nargs > 1, stdin_count = 0;
    for (int i = optind; i < argc; i++) {
        if (!strcmp(argv[i], "-")) stdin_count++;
        else if (is_dir(argv[i])) multi = 1;
    }
    if (stdin_count > 1) USAGE("standard input can be read once");
    if (!out_arg) {
        if (nargs == 1 && stdin_count == 1) out_arg = "-";
        else USAGE("no output given (-o FILE or -o DIR; -o - for standard output)");
    }
    if (!strcmp(out_arg, "-") && multi) USAGE("several inputs need an output directory, not '-'");
    if (!format && !multi && strcmp(out_arg, "-") && !is_dir(out_arg)) format = format_from_path(out_arg);
    if (!format) format = CUTOUT_FORMAT_PNG;
    if (format == CUTOUT_FORMAT_JPEG && !ropt.mask_only) ropt.opaque = 1;

    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.cloth = cloth;
    cutout_encode_options_default(&rs.enc, format);
    if (quality) rs.enc.quality = quality;
    rs.enc.png_level = png_level;
    if (format == CUTOUT_FORMAT_WEBP) rs.enc.lossless = quality == 0;

    const char *out_dir = NULL;
    if (multi || is_dir(out_arg)) {
        out_dir = out_arg;
        if (mkdir_p(out_dir)) {
            fprintf(stderr, "%s: cannot create output directory %s: %s\n", prog, out_dir, strerror(errno));
            return 1;
        }
    }
    int input_errors = 0;
    for (int i = optind; i < argc; i++) {
        const char *a = argv[i];
        if (is_dir(a)) {
            size_t before = rs.jobs.n;
            if (walk_dir(&rs.jobs, a, "", recursive)) input_errors++;
            for (size_t k = before; k < rs.jobs.n; k++) { /* rel -> output path */
                char *o = with_ext(out_dir, rs.jobs.v[k].out, format_ext(format));
                free(rs.jobs.v[k].out);
                rs.jobs.v[k].out = o;
            }
        } else {
            const char *slash = strrchr(a, '/');
            const char *base = !strcmp(a, "-") ? "stdin" : slash ? slash + 1 : a;
            char *o = out_dir ? with_ext(out_dir, base, format_ext(format)) : xstrdup(out_arg);
            jobs_add(&rs.jobs, a, o);
            free(o);
        }
    }
    if (server) { /* the work goes to a cutout-fcgi server as one job */
        if (bg_image_path) USAGE("--bg-image is not available with --server");
        if (cloth) USAGE("--cloth is not available with --server (its classes are separate files)");
        char query[1024];
        server_query(query, sizeof query, model_arg, format, quality, &ropt, bg_arg, margin_arg);
        char **ins = calloc(rs.jobs.n, sizeof *ins), **outs = calloc(rs.jobs.n, sizeof *outs);
        if (!ins || !outs) {
            fprintf(stderr, "%s: out of memory\n", prog);
            return 1;
        }
        for (size_t k = 0; k < rs.jobs.n; k++) ins[k] = rs.jobs.v[k].in, outs[k] = rs.jobs.v[k].out;
        int st = rs.jobs.n ? client_run(prog, server, query, ins, outs, rs.jobs.n, quiet) : 1;
        if (!rs.jobs.n) fprintf(stderr, "%s: no images found in the inputs\n", prog);
        free(ins);
        free(outs);
        jobs_free(&rs.jobs);
        return st || input_errors ? 1 : 0;
    }
    char err[512];
    cutout_image bg_image = {0};
    cutout_model *model = NULL;
    cutout_engine *engine = NULL;
    int status = 0;
    if (rs.jobs.n == 0) {
        fprintf(stderr, "%s: no images found in the inputs\n", prog);
        status = 1;
        goto done;
    }
    /* Input identities; inputs that cannot be stat'ed fail later, when read. */
    rs.in_dev = calloc(rs.jobs.n, sizeof *rs.in_dev);
    rs.in_ino = calloc(rs.jobs.n, sizeof *rs.in_ino);
    if (!rs.in_dev || !rs.in_ino) {
        fprintf(stderr, "%s: out of memory\n", prog);
        status = 1;
        goto done;
    }
    for (size_t i = 0; i < rs.jobs.n; i++) {
        struct stat st;
        if (strcmp(rs.jobs.v[i].in, "-") && stat(rs.jobs.v[i].in, &st) == 0) {
            rs.in_dev[i] = st.st_dev;
            rs.in_ino[i] = st.st_ino;
        }
    }
    /* Two inputs with one output name (a.jpg and a.png): the later one fails. */
    char **outs = malloc(rs.jobs.n * sizeof *outs);
    if (!outs) {
        status = 1;
        goto done;
    }
    for (size_t i = 0; i < rs.jobs.n; i++) outs[i] = rs.jobs.v[i].out;
    qsort(outs, rs.jobs.n, sizeof *outs, cmp_str);
    for (size_t i = 1; i < rs.jobs.n; i++)
        if (strcmp(outs[i], "-") && !strcmp(outs[i], outs[i - 1])) {
            fprintf(stderr, "%s: two inputs would both be written to %s\n", prog, outs[i]);
            free(outs);
            status = 2;
            goto done;
        }
    free(outs);

    if (bg_image_path) {
        uint8_t *data = NULL;
        size_t size = 0;
        if (cutout_read_file(bg_image_path, MAX_INPUT_BYTES, &data, &size, err, sizeof err) ||
            cutout_image_decode(data, size, NULL, (cutout_decode_flags){0}, &bg_image, NULL, err,
                                sizeof err)) {
            fprintf(stderr, "%s: --bg-image %s: %s\n", prog, bg_image_path, err);
            free(data);
            status = 1;
            goto done;
        }
        free(data);
        ropt.bg_image = &bg_image;
    }
    rs.render = ropt;

    if (cutout_model_load_named(model_arg, &model, err, sizeof err)) {
        fprintf(stderr, "%s: model %s: %s\n", prog, model_arg, err);
        status = 1;
        goto done;
    }
    if (cutout_engine_create(model, &eopt, &engine, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        status = 1;
        goto done;
    }
    if (verbose) {
        static const char *const wcache[] = {"off", "hit", "written", "not written"};
        unsigned ws = (unsigned)cutout_engine_weight_cache(engine);
        fprintf(stderr, "%s: model %s on %s (%s), weight cache: %s\n", prog,
                cutout_model_arch_name(model), cutout_engine_backend_name(engine),
                cutout_engine_device_name(engine), ws < 4 ? wcache[ws] : "?");
    }
    rs.size = cutout_model_input_size(model);
    rs.out_ch = cutout_model_output_channels(model);
    if (rs.cloth && rs.out_ch != 4) {
        fprintf(stderr, "%s: --cloth needs u2net_cloth_seg; model %s has one output\n", prog,
                model_arg);
        status = 2;
        goto done;
    }
    if (rs.out_ch > 1 && rs.cloth != CUTOUT_CLOTH_UPPER && rs.cloth != CUTOUT_CLOTH_LOWER &&
        rs.cloth != CUTOUT_CLOTH_FULL)
        for (size_t i = 0; i < rs.jobs.n; i++)
            if (!strcmp(rs.jobs.v[i].out, "-")) {
                fprintf(stderr, "%s: --cloth all writes a file per class: give -o, or one "
                        "class\n", prog);
                status = 2;
                goto done;
            }
    cutout_model_mean_std(model, rs.mean, rs.std);
    app_keep_freed_memory(); /* photo after photo: the same pages again */
    rs.progress = !quiet && rs.jobs.n > 1 && isatty(STDERR_FILENO);
    rs.t0 = app_mono_s();
    queue_init(&rs.decoded);
    queue_init(&rs.inferred);

    pthread_t dec, enc;
    if (pthread_create(&dec, NULL, decoder_main, &rs) ||
        pthread_create(&enc, NULL, encoder_main, &rs)) {
        fprintf(stderr, "%s: cannot start threads\n", prog);
        return 1;
    }
    item *it;
    while ((it = queue_pop(&rs.decoded))) {
        if (!it->failed) {
            float *outs0[1] = {it->pred};
            if (cutout_engine_run(engine, it->tensor, 1, rs.size, rs.size, outs0, it->err,
                                  sizeof it->err))
                it->failed = 1;
        }
        queue_push(&rs.inferred, it);
    }
    queue_close(&rs.inferred);
    pthread_join(dec, NULL);
    pthread_join(enc, NULL);

    size_t missing = rs.jobs.n - rs.done; /* items the decoder could not allocate */
    status = rs.failed || missing || input_errors ? 1 : 0;
done:
    cutout_engine_free(engine);
    cutout_model_free(model);
    cutout_image_free(&bg_image);
    jobs_free(&rs.jobs);
    free(rs.in_dev);
    free(rs.in_ino);
    return status;
}
