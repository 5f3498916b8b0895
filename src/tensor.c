/* The only file that calls CBLAS, so a different BLAS (or a checked build)
 * is one file away. */
#include "dptrain/tensor.h"

#include <cblas.h>

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

const char *dpt_blas_info(void)
{
    return openblas_get_config();
}
