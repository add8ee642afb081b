/* GET /models: the models a client may ask for (?model=NAME), the
 * default first in "default", for a page's model menu. */
#include "endpoint.h"

#include <stdio.h>

#include "cutout.h"
#include "models.h"

void ep_models(request *rq, response *r)
{
    const infer_queue *q = rq->h->q;
    strbuf *o = &r->body;
    r->status = 200;
    snprintf(r->ctype, sizeof r->ctype, "application/json");
    sb_puts(o, "{\"default\":");
    sb_json_str(o, q->models[0].name); /* the worker loads the default first */
    sb_puts(o, ",\"models\":[");
    for (int i = 0; i < q->n_models; i++) {
        const char *arch = cutout_model_arch_name(q->models[i].model);
        sb_puts(o, i ? ",{\"name\":" : "{\"name\":");
        sb_json_str(o, q->models[i].name);
        sb_puts(o, ",\"arch\":");
        sb_json_str(o, arch);
        sb_printf(o, ",\"input_size\":%d,\"description\":", q->models[i].size);
        sb_json_str(o, models_describe(arch));
        sb_puts(o, "}");
    }
    sb_puts(o, "]}\n");
}
