/* libcutout: background removal with the U²-Net family of networks.
 *
 * Public API. Every function that can fail returns CUTOUT_OK (0) or a
 * negative cutout_status and, when err is not NULL, writes a human sentence
 * into err (at most errlen bytes, NUL-terminated). The library never prints
 * and never exits. */
#ifndef CUTOUT_H
#define CUTOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CUTOUT_OK = 0,
    CUTOUT_E_ARG = -1,         /* bad argument from the caller */
    CUTOUT_E_IO = -2,          /* file could not be read or written */
    CUTOUT_E_FORMAT = -3,      /* malformed input (ONNX, image) */
    CUTOUT_E_UNSUPPORTED = -4, /* well-formed but not something cutout runs */
    CUTOUT_E_NOMEM = -5,       /* allocation failed */
    CUTOUT_E_BACKEND = -6,     /* the compute backend failed */
    CUTOUT_E_LIMIT = -7        /* input exceeds a configured limit */
} cutout_status;

typedef enum { CUTOUT_ARCH_U2NET = 1, CUTOUT_ARCH_ISNET = 2 } cutout_arch;

/* A loaded, recognised network: immutable weights, shareable between engines. */
typedef struct cutout_model cutout_model;

int cutout_model_load_file(const char *path, cutout_model **out, char *err, size_t errlen);
int cutout_model_load_memory(const void *data, size_t size, cutout_model **out, char *err,
                             size_t errlen);
void cutout_model_free(cutout_model *model);

/* Reads a whole file of at most max_bytes into a malloc'd buffer (the reader
 * the library uses for models), for applications that hand image bytes to
 * cutout_image_decode: CUTOUT_OK, or CUTOUT_E_IO, CUTOUT_E_LIMIT (larger than
 * max_bytes) or CUTOUT_E_NOMEM with a message naming the path. */
int cutout_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                     char *err, size_t errlen);

/* Resolves a registry name ("u2netp") or a path to a model file: a name is
 * looked up as NAME.onnx in $CUTOUT_MODEL_DIR, ./models, ./models/cache (where
 * tools/fetch-model writes) and the installed data directory, in that order. */
int cutout_model_find(const char *name_or_path, char *path, size_t pathlen, char *err,
                      size_t errlen);
/* A name of a rembg model cutout does not run (BiRefNet, BRIA RMBG, BEN, SAM,
 * u2net_custom/dis_custom) fails with CUTOUT_E_UNSUPPORTED and a message that
 * says what it is and which models cutout runs; a file of such a network is
 * refused the same way by cutout_model_load_file when its graph shows it
 * (attention / layer-norm operators). */

/* cutout_model_find + cutout_model_load_file, and for a registry name the
 * registry's normalisation (cutout_model_use_registry): what an application
 * loading a model the user named should call. */
int cutout_model_load_named(const char *name_or_path, cutout_model **out, char *err,
                            size_t errlen);
/* Gives the model the mean and std of the registry row NAME (models/registry.tsv,
 * compiled in): 1 if NAME is a registry model cutout runs, 0 otherwise (the
 * model keeps its architecture's default). Call it before sharing the model,
 * e.g. for a file loaded by path that the configuration names. Two models of
 * one architecture can differ: isnet-anime uses mean 0.485,0.456,0.406 and
 * std 1, isnet-general-use mean 0.5 and std 1. */
int cutout_model_use_registry(cutout_model *model, const char *name);

cutout_arch cutout_model_arch(const cutout_model *model);
/* "u2net", "u2netp" (U²-Net with 16-channel RSU middles) or "isnet". */
const char *cutout_model_arch_name(const cutout_model *model);
/* Input size the model was exported with (320 for U²-Net, 1024 for ISNet). */
int cutout_model_input_size(const cutout_model *model);
/* Number of outputs (output 0 plus side outputs): 7 for U²-Net, 6 for ISNet. */
int cutout_model_num_outputs(const cutout_model *model);
/* Channels of each output: 1 (a saliency map), or 4 for u2net_cloth_seg
 * (class scores: background, upper body, lower body, full body; see
 * cutout_pipeline_class_masks). */
int cutout_model_output_channels(const cutout_model *model);
/* Normalisation constants rembg uses for this model: its registry row when it
 * was loaded by registry name (cutout_model_load_named,
 * cutout_model_use_registry), otherwise its architecture's (ImageNet mean and
 * std for U²-Net; mean 0.5, std 1 for ISNet). */
void cutout_model_mean_std(const cutout_model *model, float mean[3], float std[3]);
size_t cutout_model_num_params(const cutout_model *model);
/* Multiply-accumulates, in 10⁹, of one forward pass over a 1×3×h×w input
 * as a direct convolution would do them: the sum over every convolution the
 * pass runs of out_h·out_w·out_c·in_c·k_h·k_w (U²-Net and ISNet have no
 * grouped convolutions and no ConvTranspose). Counted by a dry run of the
 * forward pass, so it is the work of what cutout_engine_run computes by
 * default: output 0 (U²-Net: all six side convs, which the fusion conv reads;
 * ISNet: side 1 only). ReLU, residual adds, max-pooling, resizes and the
 * sigmoid are not counted: a few operations per element, ~1% of the total
 * or less. Winograd and GEMM do fewer or more arithmetic operations than this
 * for the same result; the count stays the direct-convolution one, so rates
 * derived from it compare across methods and machines. -1 when h or w is
 * outside 8..16384 (the engine's range). */
double cutout_model_gmac(const cutout_model *model, int h, int w);

typedef enum { CUTOUT_BACKEND_AUTO = 0, CUTOUT_BACKEND_CPU = 1, CUTOUT_BACKEND_OPENCL = 2 } cutout_backend_kind;

typedef struct {
    cutout_backend_kind backend;
    int threads;      /* CPU threads; 0: all online CPUs */
    int max_batch;    /* activation memory is planned for this... */
    int max_height;   /* ...and this input size; 0: the model's input size */
    int max_width;
    int side_outputs; /* 1: also compute every side output (tests) */
    const char *device; /* OpenCL device: index or name substring; NULL: first GPU */
    int require_gpu;    /* fail unless a GPU/accelerator runs the network */
    int retune;         /* OpenCL: measure direct vs GEMM again for every conv shape
                           of the first pass, whatever the tuning cache says, and
                           update the cache (cutout-bench --tune) */
    int no_weight_cache; /* CPU: 1 neither reads nor writes the weight cache (below) */
} cutout_engine_options;

/* The CPU backend keeps each model's laid-out conv weights (Winograd
 * transforms, packed GEMM operands) in a file of the cache directory
 * ($CUTOUT_CACHE_DIR, else $XDG_CACHE_HOME/cutout, else ~/.cache/cutout),
 * keyed by the weights, the ISA the kernels use and the file format, and maps
 * it read-only at the next engine creation instead of computing them again.
 * CUTOUT_WEIGHT_CACHE=0 in the environment, or no_weight_cache, turns it off.
 * A missing, damaged or foreign file is a miss, silently rewritten. What an
 * engine's creation did: */
typedef enum {
    CUTOUT_WEIGHT_CACHE_UNUSED = 0, /* off, no cache directory, or not the CPU backend */
    CUTOUT_WEIGHT_CACHE_HIT = 1,    /* the weights were mapped from the cache */
    CUTOUT_WEIGHT_CACHE_WRITTEN = 2, /* laid out here and written to the cache */
    CUTOUT_WEIGHT_CACHE_NOT_WRITTEN = 3 /* laid out here; writing the file failed */
} cutout_weight_cache_state;

void cutout_engine_options_default(cutout_engine_options *opt);

/* Runs a model on one backend with activation memory planned once. One
 * engine runs one forward pass at a time (not thread-safe); use one engine
 * per thread, all sharing the model. */
typedef struct cutout_engine cutout_engine;

int cutout_engine_create(const cutout_model *model, const cutout_engine_options *opt,
                         cutout_engine **out, char *err, size_t errlen);
void cutout_engine_free(cutout_engine *engine);
const char *cutout_engine_backend_name(const cutout_engine *engine);
const char *cutout_engine_device_name(const cutout_engine *engine);
/* What the engine's creation did with the CPU weight cache. */
cutout_weight_cache_state cutout_engine_weight_cache(const cutout_engine *engine);
int cutout_engine_threads(const cutout_engine *engine);
/* Bytes of activation memory planned for the maximum batch and size. */
size_t cutout_engine_arena_bytes(const cutout_engine *engine);

/* Forward pass. input: n×3×h×w float32 (NCHW, already normalised).
 * outputs[0]: n×C×h×w with C = cutout_model_output_channels (1 except
 * u2net_cloth_seg), output 0 after sigmoid (per channel). When the engine was
 * created with side_outputs, outputs[1..num_outputs-1] receive the side
 * outputs (each n×C×h×w, after sigmoid) where not NULL. n, h, w must not exceed the
 * planned maxima; h, w >= 8. */
int cutout_engine_run(cutout_engine *engine, const float *input, int n, int h, int w,
                      float *const *outputs, char *err, size_t errlen);

/* A conv shape the OpenCL backend measured in this engine (with retune, or
 * not yet in the tuning cache) and the method it chose for it. */
typedef struct {
    char shape[96];     /* e.g. "k3 s1 d1 cin64 cout16 320x320 n1" */
    const char *method; /* "direct" or "gemm" */
    double direct_ms, gemm_ms; /* best times of each path; gemm_ms < 0: GEMM failed */
} cutout_tuning;

/* The i-th measurement (0, 1, ... in the order the shapes ran): 1 and *out
 * filled, or 0 past the last one (always 0 on the CPU backend). */
int cutout_engine_tuning(const cutout_engine *engine, int i, cutout_tuning *out);

/* The SIMD kernel family the CPU backend picks now: "avx512", "avx2" or
 * "portable" — the best the CPU and OS support, capped by CUTOUT_ISA
 * (README.md). For benchmarks that relate a rate to the machine's peak. */
const char *cutout_cpu_isa(void);

/* ---- threads for the image work ----
 *
 * A fixed pool of worker threads that the image and pipeline functions below
 * may spread one image's work over (a server giving one request every
 * core). The calling thread takes part, so a pool of N threads starts N-1. */
typedef struct cutout_pool cutout_pool;

/* threads < 1 counts as 1. CUTOUT_OK or CUTOUT_E_NOMEM (memory, threads). */
int cutout_pool_create(int threads, cutout_pool **out);
int cutout_pool_threads(const cutout_pool *pool);
void cutout_pool_free(cutout_pool *pool); /* NULL: nothing */

/* ---- images ----
 *
 * Decoding follows what PIL does for Image.open(...) + ImageOps.exif_transpose
 * + convert("RGB"/"RGBA"), so that the pipeline sees the same pixels rembg
 * sees. Known, deliberate differences are listed at cutout_image_decode(). */

/* Interleaved 8-bit pixels: channels 1 (grey), 3 (RGB) or 4 (RGBA, straight
 * alpha). Rows are stride bytes apart (stride >= width * channels). */
typedef struct {
    int width, height, channels;
    size_t stride;
    uint8_t *pixels;
} cutout_image;

/* Allocates width x height x channels (tight stride, contents undefined). */
int cutout_image_alloc(cutout_image *img, int width, int height, int channels, char *err,
                    size_t errlen);
/* Frees the pixels and zeroes the struct; safe on a zeroed struct. */
void cutout_image_free(cutout_image *img);

/* Converts to 1, 3 or 4 channels into a new image, like PIL's convert():
 * grey -> RGB replicates; RGBA -> RGB drops alpha (no compositing); RGB ->
 * grey is ITU-R 601 (PIL's L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16);
 * anything -> RGBA gets alpha 255 where it had none. */
int cutout_image_convert(const cutout_image *src, int channels, cutout_image *dst, char *err,
                      size_t errlen);

typedef enum {
    CUTOUT_FORMAT_UNKNOWN = 0,
    CUTOUT_FORMAT_PNG = 1,
    CUTOUT_FORMAT_JPEG = 2,
    CUTOUT_FORMAT_WEBP = 3,
    CUTOUT_FORMAT_BMP = 4 /* decoding only */
} cutout_image_format;

/* By magic bytes only. */
cutout_image_format cutout_image_sniff(const void *data, size_t size);
const char *cutout_image_format_name(cutout_image_format format); /* "PNG", ... */

/* Checked from the file header before any pixel memory is allocated.
 * Zero means no limit. Dimensions are those stored in the file (before the
 * EXIF rotation, which only swaps them). */
typedef struct {
    uint64_t max_pixels;
    int max_dimension;
    int min_dimension;
} cutout_image_limits;

typedef struct {
    unsigned gray16_clip : 1; /* 16-bit grey PNG like PIL 9.4: values clipped
                                 to 0..255 instead of scaled (>> 8). */
} cutout_decode_flags;

typedef struct {
    cutout_image_format format;
    int file_width, file_height; /* as stored, before orientation */
    int orientation;             /* EXIF orientation 1..8 (1 if none); already applied */
    int frames;                  /* animation frames (WebP, APNG), 1 otherwise */
    int has_alpha;               /* alpha channel or tRNS transparency: output is RGBA */
    char warning[160];           /* not an error, e.g. animation truncated; "" if none */
} cutout_image_info;

/* Decodes a PNG, JPEG, WebP or BMP held in memory into grey (1), RGB (3) or RGBA
 * (4) with the EXIF orientation applied. Grey stays grey; every source with
 * transparency (alpha, tRNS) becomes RGBA; BMP as PIL 9.4 reads it (1/4/8-bit palette, grey
 * when PIL would call it greyscale; 16/24/32-bit; BI_BITFIELDS layouts PIL
 * knows, RGBA only where the masks name alpha; RLE8/RLE4; see image_bmp.c); CMYK JPEGs become RGB with PIL's
 * formula (Adobe-inverted CMYK, as PIL always assumes). 16-bit samples keep
 * their high byte (PIL's unpacking). An animated WebP or PNG yields its first
 * frame (as PIL's Image.open) and a warning in info->warning.
 *
 * Differences from PIL 9.4 (on purpose): 16-bit grey PNGs are scaled (>> 8)
 * unless flags.gray16_clip (PIL clips them, turning them nearly white); PNG
 * tRNS on 1/2/4/16-bit grey and 16-bit RGB is applied as the PNG spec says
 * (PIL compares the unscaled key with scaled pixels and misses); JPEGs with
 * corrupt entropy data are rejected (PIL silently decodes garbage); XMP
 * orientation and ImageMagick "Raw profile type exif" text chunks are ignored.
 *
 * Errors: CUTOUT_E_UNSUPPORTED (not PNG/JPEG/WebP/BMP, e.g. TIFF), CUTOUT_E_FORMAT (corrupt or
 * truncated), CUTOUT_E_LIMIT (limits, or a progressive JPEG with more than
 * CUTOUT_JPEG_MAX_SCANS scans), CUTOUT_E_NOMEM. limits and info may be
 * NULL. On error *out is zeroed. */
int cutout_image_decode(const void *data, size_t size, const cutout_image_limits *limits,
                     cutout_decode_flags flags, cutout_image *out, cutout_image_info *info, char *err,
                     size_t errlen);

/* The most scans a progressive JPEG may have: real encoders write about 10
 * (libjpeg's default script: 10, mozjpeg: up to 20ish); hostile files cycle
 * thousands of tiny scans, each one a pass over every block. More gives
 * CUTOUT_E_LIMIT. (libjpeg-turbo's djpeg -maxscans is the same guard.) */
#define CUTOUT_JPEG_MAX_SCANS 64

/* What a file's header declares, read without decoding any pixels, and what
 * processing it would cost: the memory budget a server reserves before it
 * decodes. */
typedef struct {
    cutout_image_format format;
    int width, height;    /* as stored; the canvas for animations */
    int frames;           /* animation frames declared (1 for still images) */
    int progressive;      /* JPEG: progressive (all coefficients held at once) */
    uint64_t decode_bytes; /* peak while decoding: pixels, EXIF rotation copy and
                              the decoder's own whole-image buffers */
    uint64_t peak_bytes;  /* peak of decode + resample + mask + render + encode
                             at the model size given (an upper estimate) */
} cutout_image_probe_info;

/* Reads the header of a PNG, JPEG, WebP or BMP (frame count from acTL / the
 * demuxer, JPEG up to the first scan) and estimates the memory that decoding
 * it and running rembg's pipeline at model_size (0: decode alone) takes. An
 * animation is decoded as its first frame on one canvas, so frames only
 * count once. The same errors as cutout_image_decode for what it cannot
 * read; no limits are checked (compare peak_bytes with a budget, width and
 * height with limits). */
int cutout_image_probe(const void *data, size_t size, int model_size,
                       cutout_image_probe_info *info, char *err, size_t errlen);

typedef struct {
    cutout_image_format format;
    int quality;     /* JPEG and lossy WebP: 1..100 (0: 90) */
    int lossless;    /* WebP: lossless instead of quality */
    int png_level;   /* PNG level 0..9 (-1: 3). 1..3: Paeth-filtered rows
                        deflated whole by libdeflate at that level (its 1 is
                        faster and smaller than zlib's 3); 4..9: libpng with
                        adaptive filters at that zlib level; 0: stored */
    int png_strips;  /* PNG levels 0..3: zlib-deflate independent strips, on
                        the pool's threads when one is given (the same pixels,
                        other bytes; the server's fast path) */
} cutout_encode_options;

void cutout_encode_options_default(cutout_encode_options *opt, cutout_image_format format);

/* Encodes into a malloc'd buffer (*data, *size; the caller frees). PNG takes
 * 1, 3 or 4 channels, WebP 3 or 4 (grey is expanded), JPEG 1 or 3: alpha must
 * be composited by the caller first (CUTOUT_E_ARG otherwise). pool (may be
 * NULL) is used by png_strips only; the bytes do not depend on it. */
int cutout_image_encode(const cutout_image *img, const cutout_encode_options *opt,
                        uint8_t **data, size_t *size, cutout_pool *pool, char *err,
                        size_t errlen);

/* ---- rembg's pipeline around the network (README.md "rembg-compatible
 * processing") ----
 *
 * Pure over their arguments. Those taking a pool spread their work over its
 * threads (NULL: the calling thread only) and give the same bytes either way.
 * Functions that produce an image allocate it (free with cutout_image_free). */

/* rembg's normalize(): img (1, 3 or 4 channels) converted to RGB (alpha
 * dropped, grey replicated), LANCZOS-resized to size x size (aspect not
 * kept), divided by its own maximum value (over all three channels, after
 * the resize; an all-black image divides by 1 instead of 0), minus mean,
 * over std, computed in double and stored as float32 CHW (3*size*size
 * floats at out): the input of cutout_engine_run. For a batch call it once
 * per image with out advanced by 3*size*size. */
int cutout_pipeline_preprocess(const cutout_image *img, int size, const float mean[3],
                               const float std[3], float *out, cutout_pool *pool, char *err,
                               size_t errlen);

/* rembg's predict() after the forward pass: pred is output 0 of one image
 * (size x size floats). Min-max normalised in float32 ((p - mi) / (ma - mi),
 * clipped to [0,1]; a constant map gives 0), times 255 truncated to uint8
 * (numpy astype), then LANCZOS-resized to width x height. *mask is a new
 * 1-channel image. */
int cutout_pipeline_mask(const float *pred, int size, int width, int height,
                         cutout_image *mask, cutout_pool *pool, char *err, size_t errlen);

/* u2net_cloth_seg (cutout_model_output_channels == 4), rembg's
 * Unet2ClothSession.predict: pred is output 0 of one image (channels planes of
 * size x size floats). The class of each pixel is the first channel holding
 * the maximum (numpy argmax), stored as an 8-bit index and LANCZOS-resized to
 * width x height: *map is a new 1-channel image of class indices. */
int cutout_pipeline_class_map(const float *pred, int channels, int size, int width, int height,
                              cutout_image *map, cutout_pool *pool, char *err, size_t errlen);

/* Cloth classes of u2net_cloth_seg, as rembg's cc ("cloth_category") names them. */
enum { CUTOUT_CLOTH_UPPER = 1, CUTOUT_CLOTH_LOWER = 2, CUTOUT_CLOTH_FULL = 3 };

/* The mask of class cls (1..3) from a class map, as rembg's palette step
 * gives it (putpalette + convert("RGB").convert("L"), PIL 9.4): 255 where the
 * index is cls, 0 at the other indices 0..3, the index itself above 3 (a
 * LANCZOS overshoot past the 4-entry palette). *mask is new (1 channel) and
 * goes to cutout_render like any mask. rembg's remove() with no cc renders
 * upper, lower and full in that order and stacks the three results
 * vertically into one image; with cc it renders that one class. */
int cutout_pipeline_class_mask(const cutout_image *map, int cls, cutout_image *mask, char *err,
                               size_t errlen);

/* rembg's get_concat_v_multi: the n images one below the other in a new
 * image as wide as the first, in `channels` channels (each converted as by
 * cutout_image_convert; grey -> RGBA is grey with alpha 255, like PIL's
 * paste of an L image into RGBA). Parts of a narrower image's rows stay 0
 * (transparent black); a wider one is clipped. rembg's remove() returns this
 * for u2net_cloth_seg with no cc: upper, lower, full, each rendered. */
int cutout_stack_vertical(const cutout_image *imgs, int n, int channels, cutout_image *out,
                          char *err, size_t errlen);

/* Parses "#rrggbb", "#rrggbbaa", "r,g,b" or "r,g,b,a" (decimal 0..255).
 * Returns 0 and fills rgba (alpha 255 when absent) or -1. */
int cutout_parse_color(const char *text, uint8_t rgba[4]);

typedef struct {
    int mask_only;          /* output the 8-bit mask (1 channel) */
    int post_process;       /* rembg post_process_mask on the mask first */
    int has_bg_color;       /* composite the cutout over bg_color */
    uint8_t bg_color[4];
    const cutout_image *bg_image; /* composite over this image (scaled to cover); NULL: none */
    int crop;               /* crop to the bounding box of mask > 0 (whole image if empty) */
    int margin, margin_percent;
    int max_w, max_h;       /* 0: no limit; otherwise LANCZOS downscale to fit */
    int opaque;             /* flatten onto the background (white when none): JPEG */
    /* rembg's alpha_matting: the cutout comes from closed-form matting on a
     * trimap built from the mask (mask > foreground threshold: foreground,
     * mask < background threshold: background, each eroded with an
     * erode_size square; 0 erodes with a 3x3 cross) and its multi-level
     * foreground colours, instead of the image with the mask as alpha. Where
     * rembg falls back (no foreground or no background left after the
     * erosion, or the solver does not converge) the plain cutout is made.
     * Ignored with mask_only. Thresholds 0..255, erode_size 0..255
     * (CUTOUT_E_ARG otherwise). Costs seconds per megapixel. */
    int alpha_matting;
    int am_foreground_threshold; /* default 240 */
    int am_background_threshold; /* default 10 */
    int am_erode_size;           /* default 10 */
} cutout_render_options;

/* Zero (no option) except rembg's alpha-matting defaults 240, 10, 10. */
void cutout_render_options_default(cutout_render_options *opt);

/* The whole output step: img (as decoded, orientation applied) and its mask
 * (same size; post-processed in place when opt->post_process) -> *out, a
 * new image: 1 channel (mask_only), 3 (opaque) or 4 channels. */
int cutout_render(const cutout_image *img, cutout_image *mask, const cutout_render_options *opt,
                  cutout_image *out, cutout_pool *pool, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
