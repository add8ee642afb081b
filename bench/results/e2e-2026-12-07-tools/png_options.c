/* Measurement for bench/results/e2e-2026-12-07.md: PNG filter x compressor options on one
 * photo's RGBA cutout (u2netp mask). png_options PHOTO. Build from the repository root:
 *   cc -O2 -Iengine/include bench/results/e2e-2026-12-07-tools/png_options.c build/libcutout.a -o png_options \
 *      -lclblast -lOpenCL -lpng16 -ldeflate -lz -ljpeg -lwebp -lwebpdemux -lwebpmux -lpthread -lm
 * Filters 0 none, 1 Sub, 2 Up, 4 Paeth (naive scalar loop, its time in parentheses); zlib
 * strategies 0 default, 1 filtered, 3 RLE; bytes of the zlib stream alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <libdeflate.h>
#include "cutout.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int pa(int a,int b,int c){int p=a+b-c,pa=abs(p-a),pb=abs(p-b),pc=abs(p-c);return (pa<=pb&&pa<=pc)?a:(pb<=pc?b:c);}
int main(int argc,char**argv){
  char err[256]; uint8_t*data;size_t n;
  cutout_read_file(argv[1],1<<30,&data,&n,err,256);
  cutout_image img={0},mask={0},out={0};
  cutout_image_decode(data,n,NULL,(cutout_decode_flags){0},&img,NULL,err,256);
  cutout_model*m;cutout_engine*e;cutout_engine_options eo;cutout_engine_options_default(&eo);eo.backend=CUTOUT_BACKEND_CPU;eo.threads=1;
  cutout_model_load_named("u2netp",&m,err,256);cutout_engine_create(m,&eo,&e,err,256);
  float mean[3],std[3];cutout_model_mean_std(m,mean,std);
  float*t=malloc(3*320*320*4),*p=malloc(320*320*4);
  cutout_pipeline_preprocess(&img,320,mean,std,t,NULL,err,256);
  float*o[1]={p};cutout_engine_run(e,t,1,320,320,o,err,256);
  cutout_pipeline_mask(p,320,img.width,img.height,&mask,NULL,err,256);
  cutout_render_options ro;cutout_render_options_default(&ro);
  cutout_render(&img,&mask,&ro,&out,NULL,err,256);
  int W=out.width,H=out.height,C=out.channels; size_t rl=1+(size_t)W*C, tot=rl*H;
  uint8_t*f=malloc(tot);
  for(int ft=0;ft<=4;ft++){ if(ft==3) continue;
    double t0=now();
    for(int y=0;y<H;y++){uint8_t*r=out.pixels+(size_t)y*out.stride,*pr=y?r-out.stride:NULL,*d=f+y*rl;d[0]=ft;d++;
      for(int x=0;x<W*C;x++){int a=x>=C?r[x-C]:0,b=pr?pr[x]:0,c=(pr&&x>=C)?pr[x-C]:0;
        d[x]=(uint8_t)(r[x]-(ft==0?0:ft==1?a:ft==2?b:pa(a,b,c)));}}
    double tf=now()-t0;
    for(int lv=1;lv<=3;lv++) for(int st=0;st<3;st++){
      int strat= st==0?Z_DEFAULT_STRATEGY:st==1?Z_FILTERED:Z_RLE;
      uLongf ol=compressBound(tot);uint8_t*ob=malloc(ol);z_stream z;memset(&z,0,sizeof z);
      t0=now();deflateInit2(&z,lv,Z_DEFLATED,15,8,strat);z.next_in=f;z.avail_in=tot;z.next_out=ob;z.avail_out=ol;deflate(&z,Z_FINISH);deflateEnd(&z);
      printf("filter %d (%.0f ms) zlib L%d strat %d: %.0f ms %zu bytes\n",ft,tf*1e3,lv,strat,(now()-t0)*1e3,(size_t)z.total_out);free(ob);}
    for(int lv=1;lv<=6;lv++){struct libdeflate_compressor*c=libdeflate_alloc_compressor(lv);size_t ol=libdeflate_zlib_compress_bound(c,tot);uint8_t*ob=malloc(ol);
      t0=now();size_t r=libdeflate_zlib_compress(c,f,tot,ob,ol);
      printf("filter %d libdeflate L%d: %.0f ms %zu bytes\n",ft,lv,(now()-t0)*1e3,r);free(ob);libdeflate_free_compressor(c);}
  }
  return 0;}
