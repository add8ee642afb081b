/* libcutout: background removal with the U²-Net family of networks.
 *
 * Public API. Every function that can fail returns CUTOUT_OK (0) or a
 * negative cutout_status and, when err is not NULL, writes a human sentence
 * into err (at most errlen bytes, NUL-terminated). The library never prints
 * and never exits. */
#ifndef CUTOUT_H
#define CUTOUT_H

#include <stddef.h>

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

/* Resolves a registry name ("u2netp") or a path to a model file: a name is
 * looked up as NAME.onnx in $CUTOUT_MODEL_DIR, ./models, ./models/cache (where
 * tools/fetch-model writes) and the installed data directory, in that order. */
int cutout_model_find(const char *name_or_path, char *path, size_t pathlen, char *err,
                      size_t errlen);

cutout_arch cutout_model_arch(const cutout_model *model);
/* "u2net", "u2netp" (U²-Net with 16-channel RSU middles) or "isnet". */
const char *cutout_model_arch_name(const cutout_model *model);
/* Input size the model was exported with (320 for U²-Net, 1024 for ISNet). */
int cutout_model_input_size(const cutout_model *model);
/* Number of outputs (output 0 plus side outputs): 7 for U²-Net, 6 for ISNet. */
int cutout_model_num_outputs(const cutout_model *model);
/* Normalisation constants rembg uses for this architecture. */
void cutout_model_mean_std(const cutout_model *model, float mean[3], float std[3]);
size_t cutout_model_num_params(const cutout_model *model);
/* Multiply-accumulates of one forward pass over a 1×3×h×w input (output 0 only). */
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
} cutout_engine_options;

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
int cutout_engine_threads(const cutout_engine *engine);
/* Bytes of activation memory planned for the maximum batch and size. */
size_t cutout_engine_arena_bytes(const cutout_engine *engine);

/* Forward pass. input: n×3×h×w float32 (NCHW, already normalised).
 * outputs[0]: n×1×h×w, output 0 after sigmoid. When the engine was created
 * with side_outputs, outputs[1..num_outputs-1] receive the side outputs
 * (each n×1×h×w, after sigmoid) where not NULL. n, h, w must not exceed the
 * planned maxima; h, w >= 8. */
int cutout_engine_run(cutout_engine *engine, const float *input, int n, int h, int w,
                      float *const *outputs, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
