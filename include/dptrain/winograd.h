/* Winograd F(2x2,3x3) convolution (Lavin & Gray 2015) of 3x3 kernels with stride 1: each 2x2
 * output tile takes 16 multiplies per input/output channel pair instead of 36, as 16 GEMMs, one
 * per position of the 4x4 transformed tile, over the tiles of a chunk of samples
 * (src/layers/winograd.c). */
#ifndef DPTRAIN_WINOGRAD_H
#define DPTRAIN_WINOGRAD_H

#include <stddef.h>

/* A convolution of f filters 3x3, stride 1, zero padding p, over inputs c x h x w. */
typedef struct {
    int c, h, w, f, p;
    int oh, ow;   /* output size: h + 2p - 2, w + 2p - 2 */
    int th, tw;   /* 2x2 tiles down and across (a partial tile at an odd size) */
    int chunk;    /* samples whose tiles go through one GEMM: depends on the shape alone */
} dpt_wino;

/* Fills g for inputs c x h x w (h, w + 2p >= 3), f filters and padding p. */
void dpt_wino_plan(dpt_wino *g, int c, int h, int w, int f, int p);

/* Bytes of workspace dpt_wino_forward and dpt_wino_backward need, whatever the batch. */
size_t dpt_wino_ws_bytes(const dpt_wino *g);

/* y [n][f][oh][ow] = bias + w [f][c][3][3] convolved with x [n][c][h][w]; ws of
 * dpt_wino_ws_bytes(g), 64-byte aligned or not. */
void dpt_wino_forward(const dpt_wino *g, void *ws, float *y, const float *x, const float *w, const float *b, int n);

/* dw [f][c][3][3] (+)= the weight gradient of dy [n][f][oh][ow] (added when accumulate), and
 * dx [n][c][h][w] = the input gradient unless dx is NULL; the bias gradient is the caller's. */
void dpt_wino_backward(const dpt_wino *g, void *ws, float *dx, float *dw, const float *dy, const float *x,
                       const float *w, int n, int accumulate);

#endif
