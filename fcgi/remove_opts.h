/* The options of POST /remove and POST /api/remove: query and multipart
 * form fields turned into a job's model, render and encode options
 * (fcgi/README.md "HTTP API"). Bad values fail the response with 400. */
#ifndef CUTOUT_FCGI_REMOVE_OPTS_H
#define CUTOUT_FCGI_REMOVE_OPTS_H

#include "form.h"
#include "request.h"
#include "response.h"

typedef struct {
    int model;
    int cloth;          /* u2net_cloth_seg: CUTOUT_CLOTH_* class, or 0 (all, stacked) */
    cutout_render_options ropt;
    cutout_encode_options eopt;
    const char *ctype;
} job_opts;

/* The query string into p; 0, or -1 with r failed (400 bad_parameter). */
int ro_query(request *rq, response *r, form_params *p);

/* Fields of a multipart body other than "file" become parameters; file
 * gets the image (pointing into the body). */
int ro_multipart(request *rq, response *r, const char *boundary, form_params *p, mp_part *file);

/* A JSON body {"image": "<base64>", option: value, ...}: the members
 * other than image become parameters (numbers and booleans as their text,
 * null as absent); *image gets the decoded bytes (malloc'ed, the caller
 * frees them). 0, or -1 with r failed (400 bad_json, bad_base64,
 * bad_parameter). */
int ro_json(request *rq, response *r, form_params *p, uint8_t **image, size_t *image_len);

/* POST /remove parameters: model, format, quality, mask, crop,
 * post_process, bg, margin, max_width, max_height, cloth, alpha_matting, af, ab,
 * ae. */
int ro_remove_params(request *rq, response *r, const form_params *p, job_opts *o);

/* POST /api/remove parameters (rembg server: model, om, ppm, a, af, ab, ae,
 * bgc, cc). */
int ro_rembg_params(request *rq, response *r, const form_params *p, job_opts *o);

#endif
