/* Max and average pooling over square windows, as torch's nn.MaxPool2d and nn.AvgPool2d
 * (stride defaults to the window, no padding). The gradient of a max goes to the first maximum
 * in the window's row-major order, as torch's does; the workspace keeps its position. */
#include "dptrain/layer.h"

#include <stdint.h>
#include <string.h>

#include "dptrain/lanes.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define POOL2_SIMD 1
#else
#define POOL2_SIMD 0
#endif

/* Parses "K [stride S]". */
static int pool_configure(dpt_layer *l, const char *arg, dpt_err *e)
{
    const char *p = arg ? arg : "";
    long k, s;
    int ok = dpt_layer_parse_int(&p, 1, 1L << 12, &k);
    l->kernel = l->stride = (int)k;
    while (ok && (*p == ' ' || *p == '\t'))
        p++;
    if (ok && *p) {
        ok = strncmp(p, "stride", 6) == 0 && (p += 6, dpt_layer_parse_int(&p, 1, 1L << 12, &s));
        l->stride = (int)s;
        while (ok && (*p == ' ' || *p == '\t'))
            p++;
        ok = ok && !*p;
    }
    if (!ok)
        return dpt_errf(e, "%s needs 'K [stride S]', got '%s'", l->ops->name, arg ? arg : "");
    dpt_shape in = l->in_shape;
    int oh, ow;
    if (dpt_layer_window(in.h, l->kernel, l->stride, 0, &oh, "window", e) != DPT_OK ||
        dpt_layer_window(in.w, l->kernel, l->stride, 0, &ow, "window", e) != DPT_OK)
        return DPT_FAIL;
    l->out_shape = (dpt_shape){in.c, oh, ow};
    return DPT_OK;
}

/* 2x2 windows of stride 2 over rows of even width take a path of their own (below). */
static int pairs(const dpt_layer *l)
{
    return l->kernel == 2 && l->stride == 2 && l->in_shape.w == 2 * l->out_shape.w;
}

/* A max pool keeps, per output value, where its maximum sat: for 2x2 windows a byte 0..3, its
 * place in the window (a quarter of the int32 plane offsets that the general path keeps, and of
 * the memory that its backward reads); without AVX-512 the 2x2 path also needs a fixed scratch of
 * one plane's pair maxima. */
static int maxpool_configure(dpt_layer *l, const char *arg, dpt_err *e)
{
    if (pool_configure(l, arg, e) != DPT_OK)
        return DPT_FAIL;
    size_t out = (size_t)dpt_shape_size(l->out_shape), half = 2 * (size_t)l->out_shape.h * l->out_shape.w;
    l->ws_fixed = pairs(l) && !POOL2_SIMD ? ((sizeof(float) + sizeof(int32_t)) * half + 63) & ~(size_t)63 : 0;
    l->ws_per_sample = pairs(l) ? out : sizeof(int32_t) * out;
    return DPT_OK;
}

/* Values read (or, in backward, written) this far ahead of their use: 4 KB, as the Winograd
 * convolution's. The first pool's forward at 64 samples: 0.26 ms without, 0.20 with. */
enum { POOL_AHEAD = 1024 };

static void *argmax(const dpt_layer *l)
{
    return (char *)l->ws + l->ws_fixed;
}

/* The window's first maximum in row-major order is the lower row's pick only if strictly greater
 * than the upper row's, so pairs within rows, then the two rows' picks, give torch's answer (a
 * NaN wins, the last one, as in its sequential scan). */
#if POOL2_SIMD
/* 16 outputs at a time: the 32 values of each row split into even and odd columns by one permute
 * each. The portable two passes below leave their second, over rows of 14 or 7 values, scalar
 * and branchy (gcc 12 vectorizes no one-pass loop of this): 3.4-4.8 and 1.4-2.5 ms of the
 * reference CNN's two poolings in its step at batch 128, this 0.5-1.3 and 0.4-1.0 (load 4). */
/* b's lanes that win over a's: greater, or a NaN. */
static __mmask16 later_wins(__m512 b, __m512 a)
{
    return _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
}

/* The maxima of windows (a b / c d), lane by lane, and in *pos each one's place 0..3. */
static __m512 pick(__m128i *pos, __m512 a, __m512 b, __m512 c, __m512 d)
{
    __mmask16 r0 = later_wins(b, a), r1 = later_wins(d, c);
    __m512 m0 = _mm512_mask_blend_ps(r0, a, b), m1 = _mm512_mask_blend_ps(r1, c, d);
    __mmask16 down = later_wins(m1, m0), bit0 = (__mmask16)((down & r1) | (~down & r0));
    *pos = _mm_or_si128(_mm_maskz_mov_epi8(bit0, _mm_set1_epi8(1)), _mm_maskz_mov_epi8(down, _mm_set1_epi8(2)));
    return _mm512_mask_blend_ps(down, m0, m1);
}

/* For rows of at most 8 windows (the reference CNN's second pool: 7), two output rows a vector:
 * lanes [0, ow) from input rows 0 and 1, [ow, 2 ow) from rows 2 and 3, so that the outputs (two
 * rows, contiguous) take one store. One row a vector left 9 of its 16 lanes empty. */
static __m512i pair_idx(int ow, int odd)
{
    int32_t t[16];
    for (int k = 0; k < 16; k++)
        t[k] = (k < ow ? 2 * k : 16 + 2 * (k - ow)) + odd;
    return _mm512_loadu_si512(t);
}

/* y [2 ow] and pos [2 ow] of output rows i, i + 1 from the four input rows x [4][2 ow]. */
static void pool2_two_rows(float *y, uint8_t *pos, const float *x, int ow, __m512i ev, __m512i od)
{
    __mmask16 in = dpt_lanes16(2 * ow);
    __m512 u[4];
    for (int q = 0; q < 4; q++)
        u[q] = _mm512_maskz_loadu_ps(in, x + (size_t)q * 2 * ow);
    __m128i p;
    __m512 v = pick(&p, _mm512_permutex2var_ps(u[0], ev, u[2]), _mm512_permutex2var_ps(u[0], od, u[2]),
                    _mm512_permutex2var_ps(u[1], ev, u[3]), _mm512_permutex2var_ps(u[1], od, u[3]));
    _mm512_mask_storeu_ps(y, in, v);
    _mm_mask_storeu_epi8(pos, in, p);
}

/* y [ow] and pos [ow] from input rows x0, x1 [2 * ow]. With `loose`, a last vector of fewer than
 * 16 windows reads and writes whole vectors anyway, past the rows into those the next call
 * writes over (masked loads and stores for every row of 14 windows took 3 times as long). */
static void pool2_row(float *y, uint8_t *pos, const float *x0, const float *x1, int ow, int loose)
{
    const __m512i ev = dpt_split16(0), od = dpt_split16(1);
    for (int j = 0; j < ow; j += 16) {
        int m = ow - j < 16 && !loose ? ow - j : 16;
        __mmask16 out = dpt_lanes16(m), lo = dpt_lanes16(2 * m), hi = dpt_lanes16(2 * m - 16);
        __m512 u0, u1, v0, v1;
        if (m == 16) {
            u0 = _mm512_loadu_ps(x0 + 2 * j), u1 = _mm512_loadu_ps(x0 + 2 * j + 16);
            v0 = _mm512_loadu_ps(x1 + 2 * j), v1 = _mm512_loadu_ps(x1 + 2 * j + 16);
        } else {
            u0 = _mm512_maskz_loadu_ps(lo, x0 + 2 * j), u1 = _mm512_maskz_loadu_ps(hi, x0 + 2 * j + 16);
            v0 = _mm512_maskz_loadu_ps(lo, x1 + 2 * j), v1 = _mm512_maskz_loadu_ps(hi, x1 + 2 * j + 16);
        }
        __m128i p;
        __m512 v = pick(&p, _mm512_permutex2var_ps(u0, ev, u1), _mm512_permutex2var_ps(u0, od, u1),
                        _mm512_permutex2var_ps(v0, ev, v1), _mm512_permutex2var_ps(v0, od, v1));
        if (m == 16) {
            _mm512_storeu_ps(y + j, v);
            _mm_storeu_si128((__m128i *)(pos + j), p);
        } else {
            _mm512_mask_storeu_ps(y + j, out, v);
            _mm_mask_storeu_epi8(pos + j, out, p);
        }
    }
}

static void maxpool2_forward(const dpt_layer *l, float *y, const float *x, int n)
{
    int w = l->in_shape.w, h = l->in_shape.h, oh = l->out_shape.h, ow = l->out_shape.w;
    uint8_t *pos = argmax(l);
    size_t whole = ((size_t)ow + 15) / 16 * 16, nin = (size_t)n * l->in, nout = (size_t)n * l->out;
    const __m512i ev = pair_idx(ow, 0), od = pair_idx(ow, 1);
    for (int c = 0; c < n * l->in_shape.c; c++)
        for (int i = 0; i < oh; i++) {
            size_t at = ((size_t)c * h + 2 * (size_t)i) * w, o = ((size_t)c * oh + i) * ow;
            int two = ow <= 8 && i + 1 < oh;
            for (int k = 0; k < (two ? 4 : 2) * w; k += 16)
                __builtin_prefetch(x + at + k + POOL_AHEAD);
            if (two) {
                pool2_two_rows(y + o, pos + o, x + at, ow, ev, od);
                i++;
                continue;
            }
            /* whole vectors only while they stay inside x, y and pos */
            int loose = at + w + 2 * whole <= nin && o + whole <= nout;
            pool2_row(y + o, pos + o, x + at, x + at + w, ow, loose);
        }
}
#else
/* Two passes, long unit-stride loops that vectorize at least in part; one pass over each window
 * of four took 5-6 ms of the reference CNN's first pooling at batch 128. */
static void maxpool2_forward(const dpt_layer *l, float *y, const float *x, int n)
{
    int w = l->in_shape.w, h = l->in_shape.h, oh = l->out_shape.h, ow = l->out_shape.w;
    int half = 2 * oh * ow; /* one value per pair of columns, over the 2 * oh rows */
    float *hm = l->ws;
    int32_t *hr = (int32_t *)(hm + half); /* 1 where the pair's right value won */
    uint8_t *pos = argmax(l);
    for (int c = 0; c < n * l->in_shape.c; c++) {
        const float *xp = x + (size_t)c * h * w;
        for (int q = 0; q < half; q++) { /* w = 2 * ow: pair q covers values 2q and 2q + 1 */
            float a = xp[2 * q], b = xp[2 * q + 1];
            int more = (b > a) | (b != b);
            hm[q] = more ? b : a;
            hr[q] = more;
        }
        float *yp = y + (size_t)c * oh * ow;
        uint8_t *pp = pos + (size_t)c * oh * ow;
        for (int i = 0; i < oh; i++) {
            const float *m0 = hm + 2 * i * ow, *m1 = m0 + ow;
            const int32_t *r0 = hr + 2 * i * ow, *r1 = r0 + ow;
            for (int j = 0; j < ow; j++) {
                float a = m0[j], b = m1[j];
                int more = (b > a) | (b != b);
                yp[i * ow + j] = more ? b : a;
                pp[i * ow + j] = (uint8_t)(more ? 2 + r1[j] : r0[j]);
            }
        }
    }
}
#endif

#if POOL2_SIMD
/* v[q] = the gradients dy of the windows (lanes in) whose maximum is at place q, 0 elsewhere;
 * dy + 0, as the portable path's 0 += dy: +0 for a -0. */
static void spread(__m512 v[4], const float *dy, const uint8_t *pos, __mmask16 in)
{
    __m512 g = _mm512_add_ps(_mm512_maskz_loadu_ps(in, dy), _mm512_setzero_ps());
    __m128i p = _mm_maskz_loadu_epi8(in, pos);
    for (int q = 0; q < 4; q++)
        v[q] = _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(p, _mm_set1_epi8((char)q)), g);
}

/* Rows x0, x1 [2 * ow] of dx from dy [ow] and the places pos [ow]: each window's four values in
 * one pass, 16 windows a time, its gradient where its byte says and 0 elsewhere. With dx's lines
 * asked for POOL_AHEAD values before their
 * stores, the reference CNN's two pool backwards at 64 samples take 0.25 and 0.16 ms instead of
 * memset plus a scalar scatter's 0.59 and 0.27 (without the prefetch, this was no faster: each
 * store waited for its line to be read). */
static void unpool2_row(float *x0, float *x1, const float *dy, const uint8_t *pos, int ow)
{
    const __m512i lo = dpt_zip16(0), hi = dpt_zip16(1);
    for (int j = 0; j < ow; j += 16) {
        int m = ow - j < 16 ? ow - j : 16;
        __mmask16 first = dpt_lanes16(2 * m), second = dpt_lanes16(2 * m - 16);
        __m512 v[4];
        spread(v, dy + j, pos + j, dpt_lanes16(m));
        _mm512_mask_storeu_ps(x0 + 2 * j, first, _mm512_permutex2var_ps(v[0], lo, v[1]));
        _mm512_mask_storeu_ps(x0 + 2 * j + 16, second, _mm512_permutex2var_ps(v[0], hi, v[1]));
        _mm512_mask_storeu_ps(x1 + 2 * j, first, _mm512_permutex2var_ps(v[2], lo, v[3]));
        _mm512_mask_storeu_ps(x1 + 2 * j + 16, second, _mm512_permutex2var_ps(v[2], hi, v[3]));
    }
}

/* For rows of at most 8 windows: the four input rows x [4][2 ow] under output rows i, i + 1 from
 * their dy [2 ow] and pos [2 ow], as pool2_two_rows lays them out (index vectors from
 * unpair_idx). */
static void unpool2_two_rows(float *x, const float *dy, const uint8_t *pos, int ow, const __m512i idx[2])
{
    __mmask16 in = dpt_lanes16(2 * ow);
    __m512 v[4];
    spread(v, dy, pos, in);
    for (int r = 0; r < 4; r++) /* rows 0 and 2 take places 0 and 1; rows 1 and 3 places 2 and 3 */
        _mm512_mask_storeu_ps(x + (size_t)r * 2 * ow, in,
                              _mm512_permutex2var_ps(v[2 * (r & 1)], idx[r >> 1], v[2 * (r & 1) + 1]));
}

/* Lane k of input row 0 (lower) or 2 (upper) of a pair: window k / 2 of its output row, from the
 * even (k even) or the odd place's vector. */
static __m512i unpair_idx(int ow, int upper)
{
    int32_t t[16];
    for (int k = 0; k < 16; k++)
        t[k] = (k & 1) * 16 + (upper ? ow : 0) + k / 2;
    return _mm512_loadu_si512(t);
}

static void maxpool2_backward(const dpt_layer *l, float *dx, const float *dy, int n)
{
    int w = l->in_shape.w, h = l->in_shape.h, oh = l->out_shape.h, ow = l->out_shape.w;
    const uint8_t *pos = argmax(l);
    const __m512i idx[2] = {unpair_idx(ow, 0), unpair_idx(ow, 1)};
    for (int c = 0; c < n * l->in_shape.c; c++) /* windows tile the input: h = 2 * oh */
        for (int i = 0; i < oh; i++) {
            float *d0 = dx + ((size_t)c * h + 2 * (size_t)i) * w;
            size_t o = ((size_t)c * oh + i) * ow;
            int two = ow <= 8 && i + 1 < oh;
            for (int k = 0; k < (two ? 4 : 2) * w; k += 16)
                __builtin_prefetch(d0 + k + POOL_AHEAD, 1);
            if (two) {
                unpool2_two_rows(d0, dy + o, pos + o, ow, idx);
                i++;
                continue;
            }
            unpool2_row(d0, d0 + w, dy + o, pos + o, ow);
        }
}
#else
/* The gradient of each window to the place its byte names, after zeroing dx. Writing dx in one
 * pass instead (each window's four values, three of them 0) was 10-30% slower at batch 128:
 * its stores read every line of dx first, where memset's do not. */
static void maxpool2_backward(const dpt_layer *l, float *dx, const float *dy, int n)
{
    int w = l->in_shape.w, h = l->in_shape.h, oh = l->out_shape.h, ow = l->out_shape.w;
    const uint8_t *pos = argmax(l);
    const int at[4] = {0, 1, w, w + 1}; /* each place's offset from the window's first value */
    memset(dx, 0, sizeof(float) * (size_t)n * l->in);
    for (int c = 0; c < n * l->in_shape.c; c++) /* windows tile the input: h = 2 * oh */
        for (int i = 0; i < oh; i++) {
            float *d0 = dx + ((size_t)c * h + 2 * (size_t)i) * w;
            size_t o = ((size_t)c * oh + i) * ow;
            for (int j = 0; j < ow; j++)
                d0[2 * j + at[pos[o + j] & 3]] += dy[o + j];
        }
}
#endif

static void pool_init(dpt_layer *l, uint64_t seed, uint64_t stream, dpt_init_kind kind)
{
    (void)l, (void)seed, (void)stream, (void)kind;
}

/* Window offsets (a, b) in row-major order, each compared across a whole output row with
 * selects, not branches (a loop over each window with a branch per value took 19% of the
 * reference CNN's step under perf, this one 12-14%); strictly greater keeps the first maximum,
 * and a NaN wins, as in torch. */
static void maxpool_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    int h = l->in_shape.h, w = l->in_shape.w, k = l->kernel, s = l->stride;
    int oh = l->out_shape.h, ow = l->out_shape.w, planes = n * l->in_shape.c;
    int32_t *arg = argmax(l);
    if (pairs(l)) {
        maxpool2_forward(l, y, x, n);
        return;
    }
    for (int c = 0; c < planes; c++) {
        const float *xp = x + (size_t)c * h * w;
        for (int i = 0; i < oh; i++) {
            size_t o = ((size_t)c * oh + i) * ow;
            float *yo = y + o;
            int32_t *ao = arg + o;
            for (int j = 0; j < ow; j++) {
                yo[j] = xp[i * s * w + j * s];
                ao[j] = i * s * w + j * s;
            }
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++) {
                    if (a == 0 && b == 0)
                        continue;
                    int base = (i * s + a) * w + b;
                    const float *r = xp + base;
                    for (int j = 0; j < ow; j++) {
                        float v = r[j * s], cur = yo[j];
                        int32_t at = ao[j];
                        int more = (v > cur) | (v != v); /* as torch: greater, or a NaN */
                        yo[j] = more ? v : cur;
                        ao[j] = more ? base + j * s : at;
                    }
                }
        }
    }
}

static void maxpool_backward(const dpt_layer *l, float *dx, const float *dy, const float *x, const float *y,
                             int n, int accumulate)
{
    (void)x, (void)y, (void)accumulate;
    if (!dx)
        return;
    if (pairs(l)) {
        maxpool2_backward(l, dx, dy, n);
        return;
    }
    size_t plane_in = (size_t)l->in_shape.h * l->in_shape.w, plane_out = (size_t)l->out_shape.h * l->out_shape.w;
    const int32_t *arg = argmax(l);
    memset(dx, 0, sizeof(float) * (size_t)n * l->in);
    for (size_t c = 0; c < (size_t)n * l->in_shape.c; c++)
        for (size_t o = 0; o < plane_out; o++)
            dx[c * plane_in + arg[c * plane_out + o]] += dy[c * plane_out + o];
}

static void avgpool_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    int h = l->in_shape.h, w = l->in_shape.w, k = l->kernel, s = l->stride;
    int oh = l->out_shape.h, ow = l->out_shape.w, planes = n * l->in_shape.c;
    float scale = 1.0f / (float)(k * k);
    for (int c = 0; c < planes; c++) {
        const float *xp = x + (size_t)c * h * w;
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float sum = 0;
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++)
                        sum += xp[(i * s + a) * w + j * s + b];
                y[((size_t)c * oh + i) * ow + j] = sum * scale;
            }
    }
}

static void avgpool_backward(const dpt_layer *l, float *dx, const float *dy, const float *x, const float *y,
                             int n, int accumulate)
{
    (void)x, (void)y, (void)accumulate;
    if (!dx)
        return;
    int h = l->in_shape.h, w = l->in_shape.w, k = l->kernel, s = l->stride;
    int oh = l->out_shape.h, ow = l->out_shape.w, planes = n * l->in_shape.c;
    float scale = 1.0f / (float)(k * k);
    memset(dx, 0, sizeof(float) * (size_t)n * l->in);
    for (int c = 0; c < planes; c++) {
        float *dp = dx + (size_t)c * h * w;
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float g = dy[((size_t)c * oh + i) * ow + j] * scale;
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++)
                        dp[(i * s + a) * w + j * s + b] += g;
            }
    }
}

const dpt_layer_ops dpt_layer_maxpool = {
    .name = "maxpool", .syntax = "maxpool K [stride S]", .takes_max = 1, .configure = maxpool_configure,
    .init = pool_init,
    .forward = maxpool_forward, .backward = maxpool_backward,
};

const dpt_layer_ops dpt_layer_avgpool = {
    .name = "avgpool", .syntax = "avgpool K [stride S]", .configure = pool_configure, .init = pool_init,
    .forward = avgpool_forward, .backward = avgpool_backward,
};
