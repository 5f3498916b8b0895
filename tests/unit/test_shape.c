/* Data with a shape: IDX and NPY images keep C x H x W, flat files stay flat unless
 * model.input_shape says otherwise, and a shape that does not hold the features is an error. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dptrain/data.h"

#include "support.h"

static char g_dir[64];

/* Writes len bytes to g_dir/name; returns the path (valid until the next call). */
static const char *put(const char *name, const void *bytes, size_t len)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    return path;
}

/* A uint8 IDX file of the given dimensions, every value 7. */
static const char *idx_u8(const char *name, int ndims, const uint32_t *dims)
{
    unsigned char buf[4096] = {0, 0, 0x08, (unsigned char)ndims};
    size_t n = 1;
    for (int k = 0; k < ndims; k++) {
        for (int b = 0; b < 4; b++)
            buf[4 + 4 * k + b] = (unsigned char)(dims[k] >> (24 - 8 * b));
        n *= dims[k];
    }
    memset(buf + 4 + 4 * ndims, 7, n);
    return put(name, buf, 4 + 4 * (size_t)ndims + n);
}

/* A float32 NPY file of the given shape (a Python tuple such as "(2, 3, 4, 5)"), every value 0.5. */
static const char *npy_f4(const char *name, const char *shape, size_t count)
{
    unsigned char buf[8192];
    char dict[128];
    int dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    size_t off = 128, hlen = off - 10; /* the dict fits: at most 127 characters */
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)hlen, buf[9] = 0;
    memcpy(buf + 10, dict, (size_t)dl);
    memset(buf + 10 + dl, ' ', hlen - (size_t)dl - 1);
    buf[off - 1] = '\n';
    float half = 0.5f;
    for (size_t i = 0; i < count; i++)
        memcpy(buf + off + 4 * i, &half, 4);
    return put(name, buf, off + 4 * count);
}

static void load_x(dpt_dataset *ds, dpt_data_format fmt, const char *path)
{
    dpt_data_opts o = {.format = fmt, .path = path, .targets = "", .label = "", .header = -1,
                       .task = DPT_TASK_REGRESS};
    dpt_err e = {{0}, 0};
    ck_assert_msg(dpt_data_load_features(ds, &o, &e) == DPT_OK, "%s: %s", path, e.msg);
}

static void expect_shape(const dpt_dataset *ds, const char *spec, int c, int h, int w)
{
    int s[3];
    dpt_err e = {{0}, 0};
    ck_assert_msg(dpt_data_sample_shape(s, ds, spec, "data.train", &e) == DPT_OK, "%s", e.msg);
    ck_assert_msg(s[0] == c && s[1] == h && s[2] == w, "shape %dx%dx%d, wanted %dx%dx%d", s[0], s[1], s[2], c, h, w);
}

START_TEST(idx_images_keep_their_shape)
{
    dpt_dataset ds;
    load_x(&ds, DPT_FORMAT_IDX, idx_u8("img-idx3-ubyte", 3, (uint32_t[]){4, 5, 6}));
    ck_assert_uint_eq(ds.d, 30);
    expect_shape(&ds, "", 1, 5, 6);
    expect_shape(&ds, "2,5,3", 2, 5, 3); /* model.input_shape wins over the file's */
    dpt_data_free(&ds);
    load_x(&ds, DPT_FORMAT_IDX, idx_u8("img-idx4-ubyte", 4, (uint32_t[]){2, 3, 4, 5}));
    expect_shape(&ds, "", 3, 4, 5);
    dpt_data_free(&ds);
    load_x(&ds, DPT_FORMAT_IDX, idx_u8("vec-idx2-ubyte", 2, (uint32_t[]){3, 12}));
    expect_shape(&ds, "", 12, 1, 1); /* N x D stays flat */
    dpt_data_free(&ds);
}
END_TEST

START_TEST(npy_images_keep_their_shape)
{
    dpt_dataset ds;
    load_x(&ds, DPT_FORMAT_NPY, npy_f4("nhw.npy", "(2, 3, 4)", 24));
    expect_shape(&ds, "", 1, 3, 4);
    dpt_data_free(&ds);
    load_x(&ds, DPT_FORMAT_NPY, npy_f4("nchw.npy", "(2, 3, 4, 5)", 120));
    expect_shape(&ds, "", 3, 4, 5);
    dpt_data_free(&ds);
    load_x(&ds, DPT_FORMAT_NPY, npy_f4("nd.npy", "(2, 6)", 12));
    expect_shape(&ds, "", 6, 1, 1);
    expect_shape(&ds, " 1, 2 ,3", 1, 2, 3);
    dpt_data_free(&ds);
}
END_TEST

START_TEST(csv_is_flat_unless_told)
{
    const char text[] = "1,2,3,4,0\n5,6,7,8,1\n";
    dpt_dataset ds;
    load_x(&ds, DPT_FORMAT_CSV, put("x.csv", text, sizeof text - 1));
    expect_shape(&ds, "", 5, 1, 1);
    expect_shape(&ds, "1,1,5", 1, 1, 5);
    int s[3];
    dpt_err e = {{0}, 0};
    ck_assert_int_eq(dpt_data_sample_shape(s, &ds, "1,2,2", "data.train 'x.csv'", &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "model.input_shape = '1,2,2' holds 4 values, but data.train 'x.csv' has 5 "
                                "features per sample") != NULL, "%s", e.msg);
    const char *bad[] = {"1,2", "1,2,3,4", "0,1,5", "a,b,c", "1,1,5x", "-1,1,-5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(dpt_data_sample_shape(s, &ds, bad[i], "x", &e) == DPT_FAIL, "'%s' accepted", bad[i]);
        ck_assert_msg(strstr(e.msg, "expected C,H,W") != NULL, "%s", e.msg);
    }
    dpt_data_free(&ds);
}
END_TEST

int main(void)
{
    dpt_test_tmpdir(g_dir, sizeof g_dir, "dpt_test_shape");
    Suite *s = suite_create("shape");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, idx_images_keep_their_shape);
    tcase_add_test(tc, npy_images_keep_their_shape);
    tcase_add_test(tc, csv_is_flat_unless_told);
    suite_add_tcase(s, tc);
    int status = dpt_test_run(s);
    dpt_test_rmdir(g_dir);
    return status;
}
