/* Winograd F(2x2,3x3) (Lavin & Gray 2015). With B^T, G and A^T of the paper, per input channel ci,
 * filter co and 2x2 output tile t reading the 4x4 input patch d at (2ti - p, 2tj - p):
 *   U[xi][co][ci] = (G g G^T)[xi],  V[xi][ci][t] = (B^T d B)[xi],  M[xi] = U[xi] V[xi] (a GEMM per
 *   position xi of the 4x4 tile),  y tile = A^T M A + bias;
 * backward is the adjoint of each step: dM = A dy A^T (dy zero past the output's edge),
 * dU[xi] = sum over tiles of dM[xi] V[xi]^T, dw = G^T dU G, and dx = B (U[xi]^T dM[xi]) B^T added
 * over overlapping patches. Samples go through in chunks whose size depends on the shape alone,
 * so that V and M stay near the cache and a sample's bits do not depend on the rank count.
 * Each input plane is copied into a zero-bordered plane first, so the transforms need no bounds. */
#include "dptrain/winograd.h"

#include <string.h>

#include "dptrain/tensor.h"

/* Tiles per chunk the GEMMs aim for: enough columns to run near peak, few enough that a chunk's
 * V and M (16 x (c + f) x tiles floats) stay in L2 on the reference CNN. */
enum { WINO_TILES = 256 };

void dpt_wino_plan(dpt_wino *g, int c, int h, int w, int f, int p)
{
    g->c = c, g->h = h, g->w = w, g->f = f, g->p = p;
    g->oh = h + 2 * p - 2, g->ow = w + 2 * p - 2;
    g->th = (g->oh + 1) / 2, g->tw = (g->ow + 1) / 2;
    int tiles = g->th * g->tw;
    g->chunk = (WINO_TILES + tiles - 1) / tiles;
}

/* The zero-bordered plane: a 4x4 patch of every tile lies inside it. */
static int plane_h(const dpt_wino *g) { return 2 * g->th + 2; }
static int plane_w(const dpt_wino *g) { return 2 * g->tw + 2; }

/* The workspace, in floats: U and dU [16][f][c], V [16][c][T], M [16][f][T] for T tiles of a
 * chunk, the input's bordered plane, the input gradient's, and rows for the transforms. */
typedef struct {
    float *u, *du, *v, *m, *pad, *dpad, *rows;
} wino_ws;

static wino_ws carve(const dpt_wino *g, void *ws)
{
    size_t fc = (size_t)16 * g->f * g->c, t = (size_t)g->chunk * g->th * g->tw;
    size_t plane = (size_t)plane_h(g) * plane_w(g);
    wino_ws s;
    s.u = ws;
    s.du = s.u + fc;
    s.v = s.du + fc;
    s.m = s.v + (size_t)16 * g->c * t;
    s.pad = s.m + (size_t)16 * g->f * t;
    s.dpad = s.pad + plane;
    s.rows = s.dpad + plane;
    return s;
}

size_t dpt_wino_ws_bytes(const dpt_wino *g)
{
    size_t fc = (size_t)16 * g->f * g->c, t = (size_t)g->chunk * g->th * g->tw;
    size_t plane = (size_t)plane_h(g) * plane_w(g);
    return sizeof(float) * (2 * fc + (size_t)16 * (g->c + g->f) * t + 2 * plane + 4 * (size_t)plane_w(g));
}

/* U [16][f][c] = G g G^T of every 3x3 kernel g of w [f][c][3][3]. */
static void weight_transform(float *u, const float *w, int f, int c)
{
    size_t fc = (size_t)f * c;
    for (size_t k = 0; k < fc; k++) {
        const float *g = w + 9 * k;
        float t[4][3], r[4][4];
        for (int j = 0; j < 3; j++) {
            t[0][j] = g[j];
            t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
            t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
            t[3][j] = g[6 + j];
        }
        for (int i = 0; i < 4; i++) {
            r[i][0] = t[i][0];
            r[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            r[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            r[i][3] = t[i][2];
        }
        for (int xi = 0; xi < 16; xi++)
            u[xi * fc + k] = r[xi / 4][xi % 4];
    }
}

/* dw [f][c][3][3] (+)= G^T dU G, the adjoint of weight_transform. */
static void weight_gradient(float *dw, const float *du, int f, int c, int accumulate)
{
    size_t fc = (size_t)f * c;
    for (size_t k = 0; k < fc; k++) {
        float q[3][4];
        for (int j = 0; j < 4; j++) {
            float u0 = du[j * fc + k], u1 = du[(4 + j) * fc + k], u2 = du[(8 + j) * fc + k];
            float u3 = du[(12 + j) * fc + k];
            q[0][j] = u0 + 0.5f * (u1 + u2);
            q[1][j] = 0.5f * (u1 - u2);
            q[2][j] = 0.5f * (u1 + u2) + u3;
        }
        float *d = dw + 9 * k;
        for (int i = 0; i < 3; i++) {
            float v[3] = {q[i][0] + 0.5f * (q[i][1] + q[i][2]), 0.5f * (q[i][1] - q[i][2]),
                          0.5f * (q[i][1] + q[i][2]) + q[i][3]};
            for (int j = 0; j < 3; j++)
                d[3 * i + j] = accumulate ? d[3 * i + j] + v[j] : v[j];
        }
    }
}

/* v[xi * stride + tile] = B^T d B of every tile of one bordered plane (tiles row by row):
 * B^T down the 4 rows of a tile row first, then across each tile's 4 columns. */
static void input_transform(float *v, size_t stride, const float *pad, float *rows, const dpt_wino *g)
{
    int pw = plane_w(g), tw = g->tw;
    float *t0 = rows, *t1 = rows + pw, *t2 = rows + 2 * pw, *t3 = rows + 3 * pw;
    for (int ti = 0; ti < g->th; ti++) {
        const float *r0 = pad + (size_t)2 * ti * pw, *r1 = r0 + pw, *r2 = r1 + pw, *r3 = r2 + pw;
        for (int x = 0; x < pw; x++) {
            t0[x] = r0[x] - r2[x];
            t1[x] = r1[x] + r2[x];
            t2[x] = r2[x] - r1[x];
            t3[x] = r1[x] - r3[x];
        }
        for (int k = 0; k < 4; k++) {
            const float *t = rows + (size_t)k * pw;
            float *v0 = v + (size_t)4 * k * stride + (size_t)ti * tw, *v1 = v0 + stride, *v2 = v1 + stride;
            float *v3 = v2 + stride;
            for (int j = 0; j < tw; j++) {
                float a = t[2 * j], b = t[2 * j + 1], c = t[2 * j + 2], d = t[2 * j + 3];
                v0[j] = a - c;
                v1[j] = b + c;
                v2[j] = c - b;
                v3[j] = b - d;
            }
        }
    }
}

/* One output plane y [oh][ow] = A^T M A + bias from m[xi * stride + tile]; a partial tile writes
 * only its valid outputs. */
static void output_transform(float *y, const float *m, size_t stride, float bias, float *rows, const dpt_wino *g)
{
    int tw = g->tw, ow = g->ow;
    float *o0 = rows, *o1 = rows + 2 * tw;
    for (int ti = 0; ti < g->th; ti++) {
        const float *mt = m + (size_t)ti * tw;
        for (int j = 0; j < tw; j++) {
            float s0[4], s1[4];
            for (int c = 0; c < 4; c++) {
                float a = mt[(size_t)c * stride + j], b = mt[(size_t)(4 + c) * stride + j];
                float d = mt[(size_t)(8 + c) * stride + j], e = mt[(size_t)(12 + c) * stride + j];
                s0[c] = a + b + d;
                s1[c] = b - d - e;
            }
            o0[2 * j] = s0[0] + s0[1] + s0[2];
            o0[2 * j + 1] = s0[1] - s0[2] - s0[3];
            o1[2 * j] = s1[0] + s1[1] + s1[2];
            o1[2 * j + 1] = s1[1] - s1[2] - s1[3];
        }
        float *y0 = y + (size_t)2 * ti * ow;
        for (int x = 0; x < ow; x++)
            y0[x] = o0[x] + bias;
        if (2 * ti + 1 < g->oh)
            for (int x = 0; x < ow; x++)
                y0[ow + x] = o1[x] + bias;
    }
}

/* m[xi * stride + tile] = A dy A^T of every tile of one output gradient plane dy [oh][ow], zero
 * past its edge. */
static void output_gradient(float *m, size_t stride, const float *dy, float *rows, const dpt_wino *g)
{
    int tw = g->tw, ow = g->ow;
    float *a = rows, *b = rows + 2 * tw;
    for (int ti = 0; ti < g->th; ti++) {
        const float *d0 = dy + (size_t)2 * ti * ow;
        memcpy(a, d0, sizeof(float) * (size_t)ow);
        a[2 * tw - 1] = ow & 1 ? 0.0f : a[2 * tw - 1];
        if (2 * ti + 1 < g->oh) {
            memcpy(b, d0 + ow, sizeof(float) * (size_t)ow);
            b[2 * tw - 1] = ow & 1 ? 0.0f : b[2 * tw - 1];
        } else {
            memset(b, 0, sizeof(float) * (size_t)2 * tw);
        }
        float *mt = m + (size_t)ti * tw;
        for (int j = 0; j < tw; j++) {
            float y00 = a[2 * j], y01 = a[2 * j + 1], y10 = b[2 * j], y11 = b[2 * j + 1];
            float r[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {-y10, -y11}};
            for (int i = 0; i < 4; i++) {
                float u = r[i][0], w = r[i][1];
                mt[(size_t)(4 * i) * stride + j] = u;
                mt[(size_t)(4 * i + 1) * stride + j] = u + w;
                mt[(size_t)(4 * i + 2) * stride + j] = u - w;
                mt[(size_t)(4 * i + 3) * stride + j] = -w;
            }
        }
    }
}

/* The bordered plane dpad = the sum over tiles of B dV B^T placed on each tile's patch, from
 * v[xi * stride + tile]. */
static void input_gradient(float *dpad, const float *v, size_t stride, const dpt_wino *g)
{
    int pw = plane_w(g), tw = g->tw;
    memset(dpad, 0, sizeof(float) * (size_t)plane_h(g) * pw);
    for (int ti = 0; ti < g->th; ti++) {
        const float *vt = v + (size_t)ti * tw;
        float *p0 = dpad + (size_t)2 * ti * pw;
        for (int j = 0; j < tw; j++) {
            float q[4][4], e[4][4];
            for (int xi = 0; xi < 16; xi++)
                q[xi / 4][xi % 4] = vt[(size_t)xi * stride + j];
            for (int c = 0; c < 4; c++) {
                e[0][c] = q[0][c];
                e[1][c] = q[1][c] - q[2][c] + q[3][c];
                e[2][c] = q[1][c] + q[2][c] - q[0][c];
                e[3][c] = -q[3][c];
            }
            for (int r = 0; r < 4; r++) {
                float *p = p0 + (size_t)r * pw + 2 * j;
                p[0] += e[r][0];
                p[1] += e[r][1] - e[r][2] + e[r][3];
                p[2] += e[r][1] + e[r][2] - e[r][0];
                p[3] -= e[r][3];
            }
        }
    }
}

/* Copies plane x [h][w] into the bordered plane at (p, p); the border stays as it was (zero). */
static void fill_plane(float *pad, const float *x, const dpt_wino *g)
{
    int pw = plane_w(g);
    for (int r = 0; r < g->h; r++)
        memcpy(pad + (size_t)(r + g->p) * pw + g->p, x + (size_t)r * g->w, sizeof(float) * (size_t)g->w);
}

/* V of samples x [ns][c][h][w] of a chunk of T tiles: v [16][c][T]. */
static void chunk_inputs(const wino_ws *s, const float *x, int ns, const dpt_wino *g)
{
    int tiles = g->th * g->tw;
    size_t t = (size_t)ns * tiles, hw = (size_t)g->h * g->w;
    for (int i = 0; i < ns; i++)
        for (int ci = 0; ci < g->c; ci++) {
            fill_plane(s->pad, x + ((size_t)i * g->c + ci) * hw, g);
            input_transform(s->v + (size_t)ci * t + (size_t)i * tiles, (size_t)g->c * t, s->pad, s->rows, g);
        }
}

void dpt_wino_forward(const dpt_wino *g, void *ws, float *y, const float *x, const float *w, const float *b, int n)
{
    wino_ws s = carve(g, ws);
    int tiles = g->th * g->tw, f = g->f, c = g->c;
    size_t fc = (size_t)f * c, ohw = (size_t)g->oh * g->ow, in = (size_t)c * g->h * g->w;
    weight_transform(s.u, w, f, c);
    memset(s.pad, 0, sizeof(float) * (size_t)plane_h(g) * plane_w(g));
    for (int i0 = 0; i0 < n; i0 += g->chunk) {
        int ns = n - i0 < g->chunk ? n - i0 : g->chunk, t = ns * tiles;
        chunk_inputs(&s, x + (size_t)i0 * in, ns, g);
        for (int xi = 0; xi < 16; xi++)
            dpt_gemm(0, 0, f, t, c, 1.0f, s.u + xi * fc, c, s.v + (size_t)xi * c * t, t, 0.0f,
                     s.m + (size_t)xi * f * t, t);
        for (int i = 0; i < ns; i++)
            for (int co = 0; co < f; co++)
                output_transform(y + ((size_t)(i0 + i) * f + co) * ohw, s.m + (size_t)co * t + (size_t)i * tiles,
                                 (size_t)f * t, b[co], s.rows, g);
    }
}

/* The input gradient of a chunk from its dV (in s->v): dx [ns][c][h][w]. */
static void chunk_dx(const wino_ws *s, float *dx, int ns, int t, const dpt_wino *g)
{
    int tiles = g->th * g->tw, pw = plane_w(g);
    size_t hw = (size_t)g->h * g->w;
    for (int i = 0; i < ns; i++)
        for (int ci = 0; ci < g->c; ci++) {
            input_gradient(s->dpad, s->v + (size_t)ci * t + (size_t)i * tiles, (size_t)g->c * t, g);
            float *d = dx + ((size_t)i * g->c + ci) * hw;
            for (int r = 0; r < g->h; r++)
                memcpy(d + (size_t)r * g->w, s->dpad + (size_t)(r + g->p) * pw + g->p, sizeof(float) * (size_t)g->w);
        }
}

void dpt_wino_backward(const dpt_wino *g, void *ws, float *dx, float *dw, const float *dy, const float *x,
                       const float *w, int n, int accumulate)
{
    wino_ws s = carve(g, ws);
    int tiles = g->th * g->tw, f = g->f, c = g->c;
    size_t fc = (size_t)f * c, ohw = (size_t)g->oh * g->ow, in = (size_t)c * g->h * g->w;
    if (dx)
        weight_transform(s.u, w, f, c);
    memset(s.pad, 0, sizeof(float) * (size_t)plane_h(g) * plane_w(g));
    memset(s.du, 0, sizeof(float) * 16 * fc);
    for (int i0 = 0; i0 < n; i0 += g->chunk) {
        int ns = n - i0 < g->chunk ? n - i0 : g->chunk, t = ns * tiles;
        chunk_inputs(&s, x + (size_t)i0 * in, ns, g);
        for (int i = 0; i < ns; i++)
            for (int co = 0; co < f; co++)
                output_gradient(s.m + (size_t)co * t + (size_t)i * tiles, (size_t)f * t,
                                dy + ((size_t)(i0 + i) * f + co) * ohw, s.rows, g);
        for (int xi = 0; xi < 16; xi++)
            dpt_gemm(0, 1, f, c, t, 1.0f, s.m + (size_t)xi * f * t, t, s.v + (size_t)xi * c * t, t, i0 > 0 ? 1.0f : 0.0f,
                     s.du + xi * fc, c);
        if (!dx)
            continue;
        /* dV = U^T dM over V, which the weight gradient no longer needs. */
        for (int xi = 0; xi < 16; xi++)
            dpt_gemm(1, 0, c, t, f, 1.0f, s.u + xi * fc, c, s.m + (size_t)xi * f * t, t, 0.0f,
                     s.v + (size_t)xi * c * t, t);
        chunk_dx(&s, dx + (size_t)i0 * in, ns, t, g);
    }
    weight_gradient(dw, s.du, f, c, accumulate);
}
