/* Matrix products too thin for the BLAS to run near peak: the convolutions' GEMMs, whose inner
 * or outer dimensions are a layer's channel count (Winograd's per-position products) or its
 * kernel's 9 values (im2col of a first layer). The BLAS packs both
 * operands on every call and, where OPENBLAS_CORETYPE pins an older kernel set, runs 256-bit FMAs;
 * these read their operands where they lie, in AVX-512 registers (src/smallgemm.c). */
#ifndef DPTRAIN_SMALLGEMM_H
#define DPTRAIN_SMALLGEMM_H

/* dpt_gemm's contract with alpha = 1 and beta 0 or 1; each output is one sum in an order fixed
 * by k alone (the same bits whatever the rest of the call); passes to dpt_gemm on a CPU without
 * AVX-512 (checked at run time, whatever the build's -march),
 * when both operands are transposed, or when B is transposed and has more than 65536 floats. */
void dpt_gemm_small(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                    float beta, float *c, int ldc);

/* Nonzero when dpt_gemm_small runs its own kernels on this CPU, 0 when it passes every call to
 * dpt_gemm. */
int dpt_gemm_small_native(void);

#endif
