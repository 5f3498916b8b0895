/* The matrix products of the convolutions (Winograd's per-position products, whose inner
 * dimension is a channel count or a chunk's tiles; im2col's with a first layer's K = 9) and of the
 * dense layers, in AVX-512 registers (src/smallgemm.c): the BLAS packs both operands of every
 * call, which the thin products pay for many times over, and where OPENBLAS_CORETYPE pins an older
 * kernel set it runs 256-bit FMAs. */
#ifndef DPTRAIN_SMALLGEMM_H
#define DPTRAIN_SMALLGEMM_H

/* dpt_gemm's contract with alpha = 1 and beta 0 or 1; each output is one sum in an order fixed
 * by the shape of op(B) (the same bits whatever the number of rows m); passes to dpt_gemm on a
 * CPU without AVX-512 (checked at run time, whatever the build's -march) or when both operands
 * are transposed. */
void dpt_gemm_small(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                    float beta, float *c, int ldc);

/* Nonzero when dpt_gemm_small runs its own kernels on this CPU, 0 when it passes every call to
 * dpt_gemm. */
int dpt_gemm_small_native(void);

#endif
