/* Direct convolution, for convolutions whose input has few channels (src/layers/direct.c): each
 * output row is the sum over (channel, ky, kx) of a weight times a shifted input row, vectorized
 * across the row, where im2col's GEMM would have an inner dimension of only c*k*k. */
#ifndef DPTRAIN_DIRECT_H
#define DPTRAIN_DIRECT_H

#include <stddef.h>

#include "dptrain/im2col.h"

/* 1 when the direct convolution was built with its AVX-512 code, 0 when it runs plain loops
 * (which model.conv_algorithm = auto then leaves to im2col). */
int dpt_direct_vectorized(void);

/* Bytes of workspace the functions below need for f filters over geometry g, whatever the batch. */
size_t dpt_direct_ws_bytes(dpt_conv_geom g, int f);

/* y [n][f][oh][ow] = bias b [f] + w [f][c][k][k] convolved with x [n][c][h][w]. */
void dpt_direct_forward(dpt_conv_geom g, int f, void *ws, float *y, const float *x, const float *w, const float *b,
                        int n);

/* dw [f][c][k][k] and db [f] (+)= the weight and bias gradients of dy [n][f][oh][ow] (added when
 * accumulate), in an order fixed by the shape and n alone; dx [n][c][h][w] = the input gradient
 * unless dx is NULL. */
void dpt_direct_backward(dpt_conv_geom g, int f, void *ws, float *dx, float *dw, float *db, const float *dy,
                         const float *x, const float *w, int n, int accumulate);

#endif
