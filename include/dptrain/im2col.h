/* im2col and col2im of one sample for a square-kernel 2-D convolution (src/layers/im2col.c). */
#ifndef DPTRAIN_IM2COL_H
#define DPTRAIN_IM2COL_H

/* An input of c x h x w, a k x k kernel sliding by s over zero padding p, an output of oh x ow. */
typedef struct {
    int c, h, w, k, s, p, oh, ow;
} dpt_conv_geom;

/* cols [c*k*k][oh*ow] from x [c][h][w]: row (c, ki, kj) holds x[c][oh*s-p+ki][ow*s-p+kj], 0 in the padding. */
void dpt_im2col(float *cols, const float *x, dpt_conv_geom g);

/* dx [c][h][w] = the sum of cols [c*k*k][oh*ow] folded back onto the positions dpt_im2col read them from. */
void dpt_col2im(float *dx, const float *cols, dpt_conv_geom g);

#endif
