// attention_bf16_bench.c - the bf16 attention kernel against the fp32 one, per (sequence, head), one core:
// the error of its output and gradients against fp32, and microseconds per call. Run:
//   bash Benchmarks/scripts/attention_bf16_bench.sh [T HEAD_SIZE]      (default 128 32: the `tiny` model)
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
#include "CKernels.h"
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float rnd(void){return (float)((double)rand()/RAND_MAX*2-1);}
int main(int argc,char**argv){
  if(tc_bf16_level()<1){puts("this CPU has no AVX512-BF16: nothing to compare");return 0;}
  size_t t=argc>1?atoi(argv[1]):128, hd=argc>2?atoi(argv[2]):32, H=4, d=H*hd, ld=3*d;
  size_t tp=(t+31)/32*32;
  float *qkv=malloc(t*ld*4), *out=malloc(t*d*4), *out2=malloc(t*d*4), *p=malloc(t*t*4), *dy=malloc(t*d*4);
  float *g1=calloc(t*ld,4), *g2=calloc(t*ld,4);
  for(size_t i=0;i<t*ld;i++)qkv[i]=rnd()*2; for(size_t i=0;i<t*d;i++)dy[i]=rnd();
  uint16_t *pb=malloc(tp*tp*2);
  void *scr=malloc(tc_attention_bf16_scratch_bytes(t,hd,1)); float *kt=malloc((hd+t)*((t+63)/64*64)*4);
  float scale=1/sqrtf(hd);
  tc_attention_forward(qkv,qkv+d,qkv+2*d,ld,out,d,p,t,hd,scale,kt);
  int rc=tc_attention_forward_bf16(qkv,qkv+d,qkv+2*d,ld,out2,d,pb,t,hd,scale,scr);
  double md=0,mx=0; for(size_t i=0;i<t;i++)for(size_t c=0;c<hd;c++){double e=fabs(out[i*d+c]-out2[i*d+c]); if(e>md)md=e; if(fabs(out[i*d+c])>mx)mx=fabs(out[i*d+c]);}
  printf("rc %d fwd max err %.5f (max |out| %.3f)\n",rc,md,mx);
  tc_attention_backward(qkv,qkv+d,qkv+2*d,ld,p,dy,d,g1,g1+d,g1+2*d,t,hd,scale,1,kt);
  rc=tc_attention_backward_bf16(qkv,qkv+d,qkv+2*d,ld,pb,dy,d,g2,g2+d,g2+2*d,t,hd,scale,1,scr);
  for(int part=0;part<3;part++){double num=0,den=0; for(size_t i=0;i<t;i++)for(size_t c=0;c<hd;c++){double a=g1[i*ld+part*d+c],b=g2[i*ld+part*d+c]; num+=(a-b)*(a-b); den+=a*a;}
    printf("rc %d grad %c rel err %.5f\n",rc,"qkv"[part],sqrt(num/den));}
  int N=2000; double s=now(); for(int i=0;i<N;i++) tc_attention_forward(qkv,qkv+d,qkv+2*d,ld,out,d,p,t,hd,scale,kt); double f32=(now()-s)/N;
  s=now(); for(int i=0;i<N;i++) tc_attention_forward_bf16(qkv,qkv+d,qkv+2*d,ld,out2,d,pb,t,hd,scale,scr); double f16=(now()-s)/N;
  s=now(); for(int i=0;i<N;i++) tc_attention_backward(qkv,qkv+d,qkv+2*d,ld,p,dy,d,g1,g1+d,g1+2*d,t,hd,scale,1,kt); double b32=(now()-s)/N;
  s=now(); for(int i=0;i<N;i++) tc_attention_backward_bf16(qkv,qkv+d,qkv+2*d,ld,pb,dy,d,g2,g2+d,g2+2*d,t,hd,scale,1,scr); double b16=(now()-s)/N;
  printf("per pair us: fwd fp32 %.1f bf16 %.1f | bwd fp32 %.1f bf16 %.1f\n",f32*1e6,f16*1e6,b32*1e6,b16*1e6);
}
