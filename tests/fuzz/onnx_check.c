/* onnx_check FILE...: loads each file as a model and reports the outcome.
 * Used on the malformed-model corpus under the sanitizer build: every file
 * must give either a model or an error message, never a crash. Prints one
 * line per file; exit 0 when all were handled. */
#include <stdio.h>

#include "cutout.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char err[512] = "";
        cutout_model *m = NULL;
        int rc = cutout_model_load_file(argv[i], &m, err, sizeof err);
        if (rc == CUTOUT_OK)
            printf("loaded %s: %s, %d output channel(s)\n", argv[i], cutout_model_arch_name(m),
                   cutout_model_output_channels(m));
        else if (!err[0])
            printf("FAIL %s: error %d without a message\n", argv[i], rc);
        else
            printf("rejected %s\n", err);
        cutout_model_free(m);
        if (rc != CUTOUT_OK && !err[0]) return 1;
    }
    return 0;
}
