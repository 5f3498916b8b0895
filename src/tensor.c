/* The only file that calls CBLAS, so a different BLAS (or a checked build)
 * is one file away; and the floating-point mode the numeric loops run in. */
#include "dptrain/tensor.h"

#include <cblas.h>

#if defined(__x86_64__)
#include <pmmintrin.h>
#endif

void dpt_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m == 0 || n == 0)
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void dpt_gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                double av = trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                double bv = trans_b ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += av * bv;
            }
            float *cij = &c[(size_t)i * ldc + j];
            *cij = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *cij));
        }
}

void dpt_blas_set_threads(int n)
{
    openblas_set_num_threads(n);
}

int dpt_blas_threads(void)
{
    return openblas_get_num_threads();
}

int dpt_fp_flush_denormals(int on)
{
#if defined(__x86_64__)
    _MM_SET_FLUSH_ZERO_MODE(on ? _MM_FLUSH_ZERO_ON : _MM_FLUSH_ZERO_OFF);
    _MM_SET_DENORMALS_ZERO_MODE(on ? _MM_DENORMALS_ZERO_ON : _MM_DENORMALS_ZERO_OFF);
    return 1;
#else
    (void)on;
    return 0;
#endif
}

const char *dpt_blas_info(void)
{
    return openblas_get_config();
}

const char *dpt_blas_core(void)
{
    return openblas_get_corename();
}
