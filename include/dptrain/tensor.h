/* The BLAS seam: the few matrix products the layers need, behind one
 * signature, with a naive reference loop the tests compare against. All
 * matrices are row-major float. */
#ifndef DPTRAIN_TENSOR_H
#define DPTRAIN_TENSOR_H

#include <stddef.h>

/* C[m][n] = alpha * op(A) * op(B) + beta * C; op transposes when trans_x is set;
 * op(A) is [m][k], op(B) is [k][n]; lda, ldb, ldc are row strides. */
void dpt_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Same contract as dpt_gemm, computed with plain loops in double (for tests). */
void dpt_gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Sets the BLAS library's thread count for this process (n >= 1). */
void dpt_blas_set_threads(int n);

/* The BLAS library's thread count for this process. */
int dpt_blas_threads(void);

/* Makes this thread treat subnormal floats as zero, in and out (x86 DAZ and FTZ), or not;
 * returns 0 where the CPU offers no such mode. Threads started later inherit the mode. */
int dpt_fp_flush_denormals(int on);

/* The BLAS build's own description (OpenBLAS config string). */
const char *dpt_blas_info(void);

/* The CPU kernel set OpenBLAS runs ("Haswell", "SkylakeX", ...): OPENBLAS_CORETYPE or its pick. */
const char *dpt_blas_core(void);

#endif
