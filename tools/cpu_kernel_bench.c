/* tools/cpu_kernel_bench.c - development only: times the CPU kernels' blocked product
 * (src/cpu/kern.h) on the seed network's shapes of one training step (batch 100), in
 * the calling thread's CPU time (best of 7 x 200 calls), for one instruction set.
 * Not built by CMake; from the repository root, after a build:
 *
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -DABGPU_CPU_AVX512=1 -Isrc -Iinclude \
 *       -Ibuild/include tools/cpu_kernel_bench.c build/libabgpu.a -lm -lpthread -lOpenCL \
 *       -o /tmp/cpu_kernel_bench && /tmp/cpu_kernel_bench 3      # 3 avx512, 2 avx2, 1 generic
 *
 * Rows are padded to 112 floats as the backend pads them for AVX-512. The 2-class
 * output layer's dW is the 2 x 100 product of its transposed W (docs/cpu.md, Layout).
 * The products the backend gives B transposed (Bt, for the dot columns) get it here too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cpu/kern.h"
static double ts(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
/* n floats in [-0.5, 0.5), 64-byte aligned. */
static float *buf(size_t n){float*f=aligned_alloc(64,(n*4+63)/64*64);for(size_t i=0;i<n;i++)f[i]=(float)((i*7919)%1000)/1000.0f-0.5f;return f;}
typedef struct { const char*name; cpu_mm m; int reps_units; } sh;
int main(int argc,char**argv){
  const cpu_kern *kt = cpu_kern_get(argc>1?atoi(argv[1]):3);
  int ld=112; float *A=buf(100*ld),*B=buf(128*ld),*C=buf(100*ld),*Y=buf(100*ld),*P=buf(128*ld),*M=buf(128*ld),*V=buf(128*ld),*bias=buf(ld),*Bt=buf(128*ld);
  for(int i=0;i<128*ld;i++) V[i]=V[i]*V[i];
  cpu_adam ad; cpu_adam_init(&ad,1e-3f,0,0.9f,0.999f,1e-8f,5);
  sh s[]={
   {"fwd L0 100x100x10 relu",{.M=100,.N=100,.K=10,.A=A,.ars=16,.aks=1,.B=B,.ldb=ld,.ep=CPU_EP_ACT,.C=C,.ldc=ld,.bias=bias,.act=AB_ACT_RELU},1},
   {"fwd L1 100x100x100 sigm",{.M=100,.N=100,.K=100,.A=A,.ars=ld,.aks=1,.B=B,.ldb=ld,.Bt=Bt,.ldbt=ld,.ep=CPU_EP_ACT,.C=C,.ldc=ld,.bias=bias,.act=AB_ACT_SIGMOID},1},
   {"fwd L1 100x100x100 ident",{.M=100,.N=100,.K=100,.A=A,.ars=ld,.aks=1,.B=B,.ldb=ld,.Bt=Bt,.ldbt=ld,.ep=CPU_EP_ACT,.C=C,.ldc=ld,.bias=bias,.act=AB_ACT_IDENTITY},1},
   {"fwd L2 100x2x100",{.M=100,.N=2,.K=100,.A=A,.ars=ld,.aks=1,.B=B,.ldb=16,.Bt=Bt,.ldbt=ld,.ep=CPU_EP_ACT,.C=C,.ldc=16,.bias=bias,.act=AB_ACT_IDENTITY},1},
   {"dX L2 100x100x2 dsig",{.M=100,.N=100,.K=2,.A=A,.ars=16,.aks=1,.B=B,.ldb=ld,.ep=CPU_EP_DACT,.C=C,.ldc=ld,.act=AB_ACT_SIGMOID,.Y=Y,.ldy=ld},1},
   {"dX L1 100x100x100 drelu",{.M=100,.N=100,.K=100,.A=A,.ars=ld,.aks=1,.B=B,.ldb=ld,.Bt=Bt,.ldbt=ld,.ep=CPU_EP_DACT,.C=C,.ldc=ld,.act=AB_ACT_RELU,.Y=Y,.ldy=ld},1},
   {"dW L1 10x(10x100x100) adam",{.M=10,.N=100,.K=100,.A=A,.ars=1,.aks=ld,.B=B,.ldb=ld,.ep=CPU_EP_ADAM,.P=P,.Mo=M,.V=V,.ldp=ld,.adam=&ad},10},
   {"dW L1 10x(10x100x100) store",{.M=10,.N=100,.K=100,.A=A,.ars=1,.aks=ld,.B=B,.ldb=ld,.ep=CPU_EP_STORE,.C=C,.ldc=ld},10},
   {"dW L2 2x100x100 adam (W^T)",{.M=2,.N=100,.K=100,.A=A,.ars=1,.aks=16,.B=B,.ldb=ld,.ep=CPU_EP_ADAM,.P=P,.Mo=M,.V=V,.ldp=ld,.adam=&ad},1},
   {"dW L0 10x100x100 adam",{.M=10,.N=100,.K=100,.A=A,.ars=1,.aks=16,.B=B,.ldb=ld,.ep=CPU_EP_ADAM,.P=P,.Mo=M,.V=V,.ldp=ld,.adam=&ad},1},
  };
  double tot=0;
  for(unsigned i=0;i<sizeof s/sizeof s[0];i++){
    double best=1e9;
    for(int rep=0;rep<7;rep++){double t0=ts();for(int it=0;it<200;it++)for(int u=0;u<s[i].reps_units;u++)kt->mm(&s[i].m);double t=(ts()-t0)/200;if(t<best)best=t;}
    double fl=2.0*s[i].m.M*s[i].m.N*s[i].m.K*s[i].reps_units;
    printf("%-30s %8.2f us  %6.1f GFLOP/s\n",s[i].name,best*1e6,fl/best/1e9);
    if(!strstr(s[i].name,"ident")&&!strstr(s[i].name,"store"))tot+=best;
  }
  printf("sum of a step's GEMMs: %.2f us -> x35 = %.3f ms/epoch\n",tot*1e6,tot*35e3);
  return 0;
}
