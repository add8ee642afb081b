/* Measurement for bench/results/e2e-2026-12-07.md (DCT-domain JPEG downscaling; not
 * adopted). dctmask MODEL FULL.jpg SCALED.png OUT_FULL.raw OUT_SCALED.raw: the mask at
 * FULL's size (i) from FULL decoded at full size, as the CLI does, and (ii) from SCALED,
 * FULL decoded by libjpeg-turbo at 1/2, 1/4 or 1/8 (PIL's draft()) and saved losslessly,
 * as the preprocess source; raw 8-bit masks out. Build from the repository root:
 *   cc -O2 -Iengine/include bench/results/e2e-2026-12-07-tools/dctmask.c build/libcutout.a \
 *      -o dctmask -lclblast -lOpenCL -lpng16 -ldeflate -lz -ljpeg -lwebp -lwebpdemux -lwebpmux -lpthread -lm
 * then: CUTOUT_MODEL_DIR=models /usr/bin/python3 bench/results/e2e-2026-12-07-tools/dct_check.py \
 *      ./dctmask /tmp/dctout PHOTO... */
#include <stdio.h>
#include <stdlib.h>
#include "cutout.h"
static int mask_from(cutout_engine*e,cutout_model*m,const char*src,int W,int H,const char*out){
  char err[256];uint8_t*d;size_t n;cutout_image img={0},mask={0};
  if(cutout_read_file(src,1<<30,&d,&n,err,256)||cutout_image_decode(d,n,NULL,(cutout_decode_flags){0},&img,NULL,err,256)){fprintf(stderr,"%s\n",err);return 1;}
  float mean[3],std[3];cutout_model_mean_std(m,mean,std);int S=cutout_model_input_size(m);
  float*t=malloc(3*S*S*4),*p=malloc(S*S*4);float*o[1]={p};
  if(cutout_pipeline_preprocess(&img,S,mean,std,t,NULL,err,256)||cutout_engine_run(e,t,1,S,S,o,err,256)||
     cutout_pipeline_mask(p,S,W?W:img.width,H?H:img.height,&mask,NULL,err,256)){fprintf(stderr,"%s\n",err);return 1;}
  FILE*f=fopen(out,"wb");for(int y=0;y<mask.height;y++)fwrite(mask.pixels+y*mask.stride,1,mask.width,f);fclose(f);
  printf("%s %dx%d -> mask %dx%d\n",src,img.width,img.height,mask.width,mask.height);
  return 0;}
int main(int c,char**v){char err[256];cutout_model*m;cutout_engine*e;cutout_engine_options eo;cutout_engine_options_default(&eo);eo.backend=CUTOUT_BACKEND_CPU;eo.threads=1;
  if(cutout_model_load_named(v[1],&m,err,256)||cutout_engine_create(m,&eo,&e,err,256)){fprintf(stderr,"%s\n",err);return 1;}
  uint8_t*d;size_t n;cutout_image img={0};cutout_read_file(v[2],1<<30,&d,&n,err,256);cutout_image_decode(d,n,NULL,(cutout_decode_flags){0},&img,NULL,err,256);
  return mask_from(e,m,v[2],0,0,v[4])||mask_from(e,m,v[3],img.width,img.height,v[5]);}
