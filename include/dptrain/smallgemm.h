/* The matrix products of the convolutions (Winograd's per-position products, whose inner
 * dimension is a channel count or a chunk's tiles; im2col's with a first layer's K = 9) and of the
 * dense layers, in AVX-512 registers (src/smallgemm.c): the BLAS packs both operands of every
 * call, which the thin products pay for many times over, and where OPENBLAS_CORETYPE pins an older
 * kernel set it runs 256-bit FMAs. */
#ifndef DPTRAIN_SMALLGEMM_H
#define DPTRAIN_SMALLGEMM_H

/* dpt_gemm's contract with alpha = 1 and beta 0 or 1; in its own kernels each output is one sum
 * in an order fixed by the shape of op(B) (the same bits whatever the number of rows m); passes to
 * dpt_gemm (the BLAS's order) on a CPU without AVX-512 (checked at run time, whatever the build's
 * -march), when the job did not allow its kernels, or when both operands are transposed. */
void dpt_gemm_small(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                    float beta, float *c, int ldc);

/* Nonzero when dpt_gemm_small runs its own kernels (this CPU has AVX-512 and they are allowed),
 * 0 when it passes every call to dpt_gemm. */
int dpt_gemm_small_native(void);

/* Allows dpt_gemm_small its own kernels (on, the default) or sends every call to dpt_gemm (off):
 * a job whose ranks do not all have AVX-512 turns them off everywhere, so that every rank sums
 * its products in the same order. */
void dpt_gemm_small_allow(int on);

#endif
