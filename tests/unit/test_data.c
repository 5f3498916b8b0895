/* Unit tests of the data module: each format read from fixture bytes that the
 * tests write themselves into a fresh directory under /tmp, every kind of bad
 * input turned into a one-line error, gather and standardization checked
 * against sums computed here, and the split and k-fold invariants. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "dptrain/data.h"

#include "support.h"


static char g_dir[64];

/* A path in the fixture directory; a few rotating buffers so calls can nest. */
static const char *fx(const char *name)
{
    static char buf[64][512];
    static int k;
    k = (k + 1) % 64;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static const char *put(const char *name, const void *bytes, size_t len)
{
    const char *path = fx(name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    return path;
}

static const char *put_str(const char *name, const char *text)
{
    return put(name, text, strlen(text));
}

static const char *put_gz(const char *name, const void *bytes, size_t len)
{
    const char *path = fx(name);
    gzFile g = gzopen(path, "wb");
    ck_assert(g != NULL);
    ck_assert_int_eq(gzwrite(g, bytes, (unsigned)len), (int)len);
    gzclose(g);
    return path;
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An IDX image into buf: header then dlen data bytes; returns its length. */
static size_t idx_make(unsigned char *buf, int type, int ndims, const uint32_t *dims, const void *data, size_t dlen)
{
    buf[0] = buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)ndims;
    for (int k = 0; k < ndims; k++)
        be32(buf + 4 + 4 * k, dims[k]);
    memcpy(buf + 4 + 4 * ndims, data, dlen);
    return 4 + 4 * (size_t)ndims + dlen;
}

/* An NPY file into buf: dict padded with spaces and '\n' so data starts at
 * off (0 = the next multiple of 64, as numpy writes it). */
static size_t npy_make(unsigned char *buf, int major, const char *dict, size_t off, const void *data, size_t dlen)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    if (off == 0)
        off = (pre + dl + 1 + 63) / 64 * 64;
    ck_assert_uint_ge(off, pre + dl + 1);
    size_t hlen = off - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (unsigned char)hlen;
        buf[9] = (unsigned char)(hlen >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hlen - dl - 1);
    buf[off - 1] = '\n';
    memcpy(buf + off, data, dlen);
    return off + dlen;
}

/* The format named fmt, through the data module's table of readers. */
static dpt_data_format format_named(const char *fmt)
{
    for (int f = 0; dpt_data_format_name(f); f++)
        if (strcmp(dpt_data_format_name(f), fmt) == 0)
            return (dpt_data_format)f;
    ck_abort_msg("no format %s", fmt);
    return DPT_FORMAT_AUTO;
}

static dpt_data_opts opts(const char *fmt, const char *path, const char *targets, dpt_task task)
{
    dpt_data_opts o = {0};
    o.format = format_named(fmt);
    o.path = path;
    o.targets = targets;
    o.label = "";
    o.header = -1;
    o.task = task;
    return o;
}

static int zeroed(const dpt_dataset *ds)
{
    static const dpt_dataset z;
    return memcmp(ds, &z, sizeof z) == 0;
}

/* Loading must fail, leave ds empty, and say each of the given fragments. */
static void expect_fail(const dpt_data_opts *o, const char *frag1, const char *frag2)
{
    dpt_dataset ds;
    dpt_err e = {0};
    int rc = dpt_data_load(&ds, o, &e);
    ck_assert_msg(rc == DPT_FAIL, "loading %s should fail (wanted '%s')", o->path, frag1);
    ck_assert_msg(zeroed(&ds), "dataset not emptied after failure");
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "message is not one line: %s", e.msg);
    ck_assert_msg(strstr(e.msg, frag1) != NULL, "message lacks '%s': %s", frag1, e.msg);
    if (frag2)
        ck_assert_msg(strstr(e.msg, frag2) != NULL, "message lacks '%s': %s", frag2, e.msg);
}

static void load_ok(dpt_dataset *ds, const dpt_data_opts *o)
{
    dpt_err e = {0};
    int rc = dpt_data_load(ds, o, &e);
    ck_assert_msg(rc == DPT_OK, "loading %s failed: %s", o->path, e.msg);
}

/* ---- IDX ---- */

static const unsigned char img3[12] = {0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
static const unsigned char lab3[3] = {2, 0, 1};

static void write_mnist_like(int gz)
{
    unsigned char buf[256];
    uint32_t di[3] = {3, 2, 2}, dl[1] = {3};
    size_t n = idx_make(buf, 0x08, 3, di, img3, sizeof img3);
    if (gz)
        put_gz("z-images-idx3-ubyte.gz", buf, n);
    else
        put("a-images-idx3-ubyte", buf, n);
    n = idx_make(buf, 0x08, 1, dl, lab3, sizeof lab3);
    if (gz)
        put_gz("z-labels-idx1-ubyte.gz", buf, n);
    else
        put("a-labels-idx1-ubyte", buf, n);
}

static void check_mnist_like(const dpt_dataset *ds)
{
    ck_assert_uint_eq(ds->n, 3);
    ck_assert_uint_eq(ds->d, 4);
    ck_assert_int_eq(ds->xtype, DPT_DT_U8);
    ck_assert_uint_eq(ds->tdim, 1);
    ck_assert_int_eq(ds->nclasses, 3);
    float x[12], y[3];
    size_t idx[3] = {2, 0, 1};
    dpt_data_gather(x, y, ds, idx, 3);
    for (int r = 0; r < 3; r++) {
        ck_assert_float_eq(y[r], (float)lab3[idx[r]]);
        for (int j = 0; j < 4; j++)
            ck_assert_float_eq_tol(x[r * 4 + j], img3[idx[r] * 4 + j] / 255.0f, 1e-7);
    }
    ck_assert_float_eq(x[4 + 1], 1.0f); /* 255 -> 1 */
}

START_TEST(idx_mapped_u8)
{
    write_mnist_like(0);
    dpt_data_opts o = opts("auto", fx("a-images-idx3-ubyte"), fx("a-labels-idx1-ubyte"), DPT_TASK_CLASSIFY);
    dpt_dataset ds;
    load_ok(&ds, &o);
    check_mnist_like(&ds);
    /* Uncompressed bytes are used in place: no copy of the features. */
    ck_assert_ptr_nonnull(ds.map);
    ck_assert_ptr_null(ds.xbuf);
    ck_assert_ptr_eq(ds.x, (const unsigned char *)ds.map + 16);
    dpt_data_free(&ds);
    ck_assert(zeroed(&ds));
    dpt_data_free(&ds); /* twice is fine */
    dpt_data_free(NULL);
}
END_TEST

START_TEST(idx_gzip)
{
    write_mnist_like(1);
    dpt_data_opts o = opts("auto", fx("z-images-idx3-ubyte.gz"), fx("z-labels-idx1-ubyte.gz"), DPT_TASK_CLASSIFY);
    dpt_dataset ds;
    load_ok(&ds, &o);
    check_mnist_like(&ds);
    ck_assert_ptr_null(ds.map);
    ck_assert_ptr_nonnull(ds.xbuf);
    dpt_data_free(&ds);

    /* A cut-off gzip stream is an error, not a short dataset. */
    unsigned char raw[256], gzb[512];
    uint32_t di[3] = {3, 2, 2};
    size_t n = idx_make(raw, 0x08, 3, di, img3, sizeof img3);
    put_gz("cut.idx.gz", raw, n);
    FILE *f = fopen(fx("cut.idx.gz"), "rb");
    size_t gl = fread(gzb, 1, sizeof gzb, f);
    fclose(f);
    put("cut.idx.gz", gzb, gl - 10);
    o = opts("auto", fx("cut.idx.gz"), fx("z-labels-idx1-ubyte.gz"), DPT_TASK_CLASSIFY);
    expect_fail(&o, "cut.idx.gz", "gzip");
}
END_TEST

START_TEST(idx_other_dtypes)
{
    unsigned char buf[256], data[64];
    uint32_t di[2] = {2, 2}, dl[1] = {2};
    unsigned char labels[2] = {0, 1};
    unsigned char lb[64];
    put("l.idx1", lb, idx_make(lb, 0x08, 1, dl, labels, 2));

    /* int16 big-endian: -2, 300, 7, -32768 */
    int16_t s16[4] = {-2, 300, 7, -32768};
    for (int i = 0; i < 4; i++) {
        data[2 * i] = (unsigned char)((uint16_t)s16[i] >> 8);
        data[2 * i + 1] = (unsigned char)s16[i];
    }
    put("s.idx2", buf, idx_make(buf, 0x0B, 2, di, data, 8));
    dpt_data_opts o = opts("idx", fx("s.idx2"), fx("l.idx1"), DPT_TASK_CLASSIFY);
    dpt_dataset ds;
    load_ok(&ds, &o);
    ck_assert_int_eq(ds.xtype, DPT_DT_I32);
    float x[4];
    size_t all[2] = {0, 1};
    dpt_data_gather(x, NULL, &ds, all, 2);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(x[i], (float)s16[i]);
    dpt_data_free(&ds);

    /* float32 and float64 big-endian */
    float f32[4] = {1.5f, -0.25f, 3e10f, 0};
    for (int i = 0; i < 4; i++) {
        uint32_t u;
        memcpy(&u, &f32[i], 4);
        be32(data + 4 * i, u);
    }
    put("f.idx2", buf, idx_make(buf, 0x0D, 2, di, data, 16));
    o = opts("idx", fx("f.idx2"), fx("l.idx1"), DPT_TASK_CLASSIFY);
    load_ok(&ds, &o);
    ck_assert_int_eq(ds.xtype, DPT_DT_F32);
    dpt_data_gather(x, NULL, &ds, all, 2);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(x[i], f32[i]);
    dpt_data_free(&ds);

    double f64[4] = {2.5, -1e-3, 42, 7};
    for (int i = 0; i < 4; i++) {
        uint64_t u;
        memcpy(&u, &f64[i], 8);
        be32(data + 8 * i, (uint32_t)(u >> 32));
        be32(data + 8 * i + 4, (uint32_t)u);
    }
    put("d.idx2", buf, idx_make(buf, 0x0E, 2, di, data, 32));
    o = opts("idx", fx("d.idx2"), fx("l.idx1"), DPT_TASK_CLASSIFY);
    load_ok(&ds, &o);
    ck_assert_int_eq(ds.xtype, DPT_DT_F64);
    dpt_data_gather(x, NULL, &ds, all, 2);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(x[i], (float)f64[i]);
    dpt_data_free(&ds);

    /* A NaN among float features names the sample. */
    f64[3] = NAN;
    uint64_t u;
    memcpy(&u, &f64[3], 8);
    be32(data + 24, (uint32_t)(u >> 32));
    be32(data + 28, (uint32_t)u);
    put("nan.idx2", buf, idx_make(buf, 0x0E, 2, di, data, 32));
    o = opts("idx", fx("nan.idx2"), fx("l.idx1"), DPT_TASK_CLASSIFY);
    expect_fail(&o, "nan.idx2", "sample 1, feature 1");
}
END_TEST

START_TEST(idx_errors)
{
    unsigned char buf[256];
    uint32_t di[3] = {3, 2, 2}, dl[1] = {3};
    const char *labels = put("l-idx1-ubyte", buf, idx_make(buf, 0x08, 1, dl, lab3, 3));
    dpt_data_opts o = opts("auto", NULL, labels, DPT_TASK_CLASSIFY);

    o.path = fx("missing-idx3-ubyte");
    expect_fail(&o, "missing-idx3-ubyte", "cannot open");

    size_t n = idx_make(buf, 0x08, 3, di, img3, sizeof img3);
    buf[0] = 1;
    o.path = put("magic-idx3-ubyte", buf, n);
    expect_fail(&o, "magic-idx3-ubyte", "not an IDX file");

    n = idx_make(buf, 0x0A, 3, di, img3, sizeof img3);
    o.path = put("type-idx3-ubyte", buf, n);
    expect_fail(&o, "type-idx3-ubyte", "unsupported IDX data type 0x0a");

    n = idx_make(buf, 0x08, 3, di, img3, sizeof img3);
    o.path = put("short-idx3-ubyte", buf, n - 1);
    expect_fail(&o, "short-idx3-ubyte", "truncated");

    n = idx_make(buf, 0x08, 3, di, img3, sizeof img3);
    buf[3] = 0; /* a header that names no dimension */
    o.path = put("nodim-idx3-ubyte", buf, n);
    expect_fail(&o, "nodim-idx3-ubyte", "0 dimensions");

    /* A gzip stream that holds nothing is as empty as an empty file. */
    o.path = put_gz("hollow-idx3-ubyte.gz", buf, 0);
    expect_fail(&o, "hollow-idx3-ubyte.gz", "empty (after decompression)");
    n = idx_make(buf, 0x08, 3, di, img3, sizeof img3); /* the whole header again for what follows */
    o.path = put("hdr-idx3-ubyte", buf, 9);
    expect_fail(&o, "hdr-idx3-ubyte", "truncated IDX header");

    buf[n] = 0; /* one byte more than the header describes */
    o.path = put("long-idx3-ubyte", buf, n + 1);
    expect_fail(&o, "long-idx3-ubyte", "1 bytes after");

    uint32_t huge[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    o.path = put("huge-idx3-ubyte", buf, idx_make(buf, 0x08, 4, huge, img3, sizeof img3));
    expect_fail(&o, "huge-idx3-ubyte", "overflow");
    uint32_t big[3] = {60000, 28, 28};
    o.path = put("big-idx3-ubyte", buf, idx_make(buf, 0x08, 3, big, img3, sizeof img3));
    expect_fail(&o, "big-idx3-ubyte", "promises 47040000 data bytes");

    uint32_t zero[3] = {0, 2, 2};
    o.path = put("zero-idx3-ubyte", buf, idx_make(buf, 0x08, 3, zero, img3, 0));
    expect_fail(&o, "zero-idx3-ubyte", "no samples");

    o.path = put("empty-idx3-ubyte", buf, 0);
    expect_fail(&o, "empty-idx3-ubyte", "empty");

    /* 3 images, 2 labels */
    o.path = put("ok-idx3-ubyte", buf, idx_make(buf, 0x08, 3, di, img3, sizeof img3));
    uint32_t two[1] = {2};
    o.targets = put("two-idx1-ubyte", buf, idx_make(buf, 0x08, 1, two, lab3, 2));
    expect_fail(&o, "3 samples", "2 targets");

    o.targets = NULL;
    expect_fail(&o, "ok-idx3-ubyte", "no targets file");

    /* Labels must lie below nclasses. */
    o.targets = labels;
    o.nclasses = 2;
    expect_fail(&o, "l-idx1-ubyte: sample 0", "not below nclasses 2");
}
END_TEST

/* ---- NPY ---- */

START_TEST(npy_dtypes)
{
    unsigned char buf[1024];
    float f4[12];
    for (int i = 0; i < 12; i++)
        f4[i] = (float)i * 0.5f - 1;
    const char *xp = put("x.npy", buf,
                         npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 2), }", 0, f4,
                                  sizeof f4));
    int64_t y8[3] = {1, 0, 4};
    const char *yp = put("y.npy", buf,
                         npy_make(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", 0, y8,
                                  sizeof y8));
    dpt_data_opts o = opts("auto", xp, yp, DPT_TASK_CLASSIFY);
    dpt_dataset ds;
    load_ok(&ds, &o);
    ck_assert_uint_eq(ds.n, 3);
    ck_assert_uint_eq(ds.d, 4);
    ck_assert_int_eq(ds.xtype, DPT_DT_F32);
    ck_assert_int_eq(ds.nclasses, 5);
    ck_assert_ptr_nonnull(ds.map); /* aligned: used in place */
    float x[12], y[3];
    size_t idx[3] = {1, 2, 0};
    dpt_data_gather(x, y, &ds, idx, 3);
    for (int r = 0; r < 3; r++) {
        ck_assert_float_eq(y[r], (float)y8[idx[r]]);
        for (int j = 0; j < 4; j++)
            ck_assert_float_eq(x[r * 4 + j], f4[idx[r] * 4 + j]);
    }
    dpt_data_free(&ds);

    /* Version 2.0, float64 features, 2-D float32 targets for regression. */
    double f8[6] = {1, 2, 3, 4, 5, 6.25};
    xp = put("x2.npy", buf,
             npy_make(buf, 2, "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2, 3)}", 0, f8, sizeof f8));
    float t2[4] = {0.5f, -1, 2, 3};
    yp = put("t2.npy", buf,
             npy_make(buf, 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 0, t2, sizeof t2));
    o = opts("npy", xp, yp, DPT_TASK_REGRESS);
    load_ok(&ds, &o);
    ck_assert_uint_eq(ds.d, 3);
    ck_assert_uint_eq(ds.tdim, 2);
    ck_assert_int_eq(ds.nclasses, 0);
    idx[0] = 1;
    dpt_data_gather(x, y, &ds, idx, 1);
    ck_assert_float_eq(x[2], 6.25f);
    ck_assert_float_eq(y[0], 2);
    ck_assert_float_eq(y[1], 3);
    dpt_data_free(&ds);

    /* uint8, int32, int64 features; uint8 stays uint8. */
    unsigned char u1[4] = {0, 7, 255, 3};
    int32_t i4[4] = {-5, 6, 100000, 0};
    int64_t i8[4] = {-1, 2, 1LL << 40, 9};
    unsigned char yl[2] = {1, 0};
    yp = put("yl.npy", buf, npy_make(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", 0, yl, 2));
    struct {
        const char *descr;
        const void *data;
        size_t len;
        dpt_dtype t;
    } cases[] = {{"|u1", u1, 4, DPT_DT_U8}, {"<u1", u1, 4, DPT_DT_U8}, {"<i4", i4, 16, DPT_DT_I32},
                 {"<i8", i8, 32, DPT_DT_I64}};
    for (size_t c = 0; c < 4; c++) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 2), }", cases[c].descr);
        xp = put("xi.npy", buf, npy_make(buf, 1, dict, 0, cases[c].data, cases[c].len));
        o = opts("auto", xp, yp, DPT_TASK_CLASSIFY);
        load_ok(&ds, &o);
        ck_assert_int_eq(ds.xtype, cases[c].t);
        size_t all[2] = {0, 1};
        dpt_data_gather(x, y, &ds, all, 2);
        for (int j = 0; j < 4; j++) {
            float want = c < 2 ? (float)u1[j] : c == 2 ? (float)i4[j] : (float)i8[j];
            ck_assert_float_eq(x[j], want * ds.xscale);
        }
        ck_assert_float_eq(y[0], 1);
        dpt_data_free(&ds);
    }
}
END_TEST

/* Bytes of v (es of them) reversed into out: big-endian as numpy writes it with '>'. */
static void put_be(unsigned char *out, const void *v, size_t es)
{
    for (size_t k = 0; k < es; k++)
        out[k] = ((const unsigned char *)v)[es - 1 - k];
}

START_TEST(npy_big_endian)
{
    /* numpy writes '>f4' etc. for byte-swapped arrays: valid files, read as their values. */
    unsigned char buf[1024], be[64];
    float f4[4] = {1.5f, -2, 3e-3f, 4e6f};
    double f8[4] = {-1.25, 2, 1e-300, 7};
    int32_t i4[4] = {-5, 6, 100000, 0};
    int64_t i8[4] = {-1, 2, 1LL << 40, 9}, yl[2] = {1, 0};
    struct {
        const char *descr;
        const void *data;
        size_t es;
        dpt_dtype t;
    } cases[] = {{">f4", f4, 4, DPT_DT_F32}, {">f8", f8, 8, DPT_DT_F64}, {">i4", i4, 4, DPT_DT_I32},
                 {">i8", i8, 8, DPT_DT_I64}};
    for (int k = 0; k < 2; k++)
        put_be(be + 8 * k, &yl[k], 8);
    const char *yp = put("bey.npy", buf,
                         npy_make(buf, 1, "{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }", 0, be, 16));
    for (size_t c = 0; c < 4; c++) {
        for (int j = 0; j < 4; j++)
            put_be(be + j * cases[c].es, (const unsigned char *)cases[c].data + j * cases[c].es, cases[c].es);
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 2), }", cases[c].descr);
        /* Aligned and misaligned data offsets take different paths. */
        for (size_t off = 0; off <= 131; off += 131) {
            const char *xp = put("bex.npy", buf, npy_make(buf, 1, dict, off, be, 4 * cases[c].es));
            dpt_data_opts o = opts("auto", xp, yp, DPT_TASK_CLASSIFY);
            dpt_dataset ds;
            load_ok(&ds, &o);
            ck_assert_int_eq(ds.xtype, cases[c].t);
            float x[4], y[2];
            size_t all[2] = {0, 1};
            dpt_data_gather(x, y, &ds, all, 2);
            for (int j = 0; j < 4; j++) {
                float want = c == 0 ? f4[j] : c == 1 ? (float)f8[j] : c == 2 ? (float)i4[j] : (float)i8[j];
                ck_assert_msg(x[j] == want, "%s value %d: %g, want %g", cases[c].descr, j, x[j], want);
            }
            ck_assert_float_eq(y[0], 1);
            ck_assert_float_eq(y[1], 0);
            dpt_data_free(&ds);
        }
    }
}
END_TEST

START_TEST(npy_unaligned_copy)
{
    /* Data at offset 130 is not 4-aligned: the reader must copy, not alias. */
    unsigned char buf[256];
    float f4[4] = {1, 2, 3, 4};
    const char *xp = put("u.npy", buf,
                         npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 130, f4,
                                  sizeof f4));
    unsigned char yl[2] = {0, 1};
    const char *yp = put("uy.npy", buf,
                         npy_make(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", 131, yl, 2));
    dpt_data_opts o = opts("auto", xp, yp, DPT_TASK_CLASSIFY);
    dpt_dataset ds;
    load_ok(&ds, &o);
    ck_assert_ptr_null(ds.map);
    ck_assert_ptr_nonnull(ds.xbuf);
    ck_assert_uint_eq((uintptr_t)ds.x % 4, 0);
    float x[4], y[2];
    size_t all[2] = {0, 1};
    dpt_data_gather(x, y, &ds, all, 2);
    for (int j = 0; j < 4; j++)
        ck_assert_float_eq(x[j], f4[j]);
    ck_assert_float_eq(y[1], 1);
    dpt_data_free(&ds);
}
END_TEST

START_TEST(npy_errors)
{
    unsigned char buf[1024];
    float f4[4] = {1, 2, 3, 4};
    unsigned char yl[2] = {0, 1};
    const char *yp = put("ey.npy", buf,
                         npy_make(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", 0, yl, 2));
    dpt_data_opts o = opts("auto", NULL, yp, DPT_TASK_CLASSIFY);
    size_t n;

    n = npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 0, f4, sizeof f4);
    buf[1] = 'X';
    o.path = put("magic.npy", buf, n);
    expect_fail(&o, "magic.npy", "bad magic");

    o.path = put("v9.npy", buf, npy_make(buf, 9, "{}", 0, f4, 0));
    expect_fail(&o, "v9.npy", "unsupported NPY version 9.0");

    const struct {
        const char *dict, *frag;
    } bad[] = {
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (2, 2), }", "expected ':'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2 }", "expected ',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 2), }", "neither True nor False"},
        {"('descr', '<f4')", "expected '{'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), } junk", "after the closing"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1}", "unknown key 'extra'"},
        {"{'descr': '<f4', 'shape': (2, 2), }", "lacks 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2", "malformed"},
        {"{'descr': '<i2', 'fortran_order': False, 'shape': (2, 2), }", "unsupported NPY dtype '<i2'"},
        {"{'descr': 'f4', 'fortran_order': False, 'shape': (2, 2), }", "unsupported NPY dtype 'f4'"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2, 2), }", "unsupported NPY dtype '<c8'"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 2), }", "structured"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", "Fortran order"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "scalar"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 4), }", "overflow"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 4), }", "overflow"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", "promises 24 data bytes, file has 16"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", "8 bytes after"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.npy", i);
        o.path = put(name, buf, npy_make(buf, 1, bad[i].dict, 0, f4, sizeof f4));
        expect_fail(&o, name, bad[i].frag);
    }

    o.path = put("zero.npy", buf,
                 npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2), }", 0, f4, 0));
    expect_fail(&o, "zero.npy", "no samples");

    /* A header length that runs past the end of the file. */
    n = npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 0, f4, sizeof f4);
    buf[8] = 0xFF;
    buf[9] = 0x7F;
    o.path = put("hlen.npy", buf, n);
    expect_fail(&o, "hlen.npy", "truncated");
    o.path = put("tiny.npy", buf, 7);
    expect_fail(&o, "tiny.npy", "truncated NPY header");

    /* NaN or Inf features name the sample. */
    float nanf4[4] = {1, 2, INFINITY, 4};
    o.path = put("inf.npy", buf,
                 npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 0, nanf4, 16));
    expect_fail(&o, "inf.npy", "sample 1, feature 0");

    /* Targets must be 1-D or 2-D, labels integers. */
    o.path = put("okx.npy", buf,
                 npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 0, f4, 16));
    o.targets = put("t3.npy", buf,
                    npy_make(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 1), }", 0, yl, 2));
    expect_fail(&o, "t3.npy", "1-D or 2-D");
    float yfrac[2] = {0, 1.5f};
    o.targets = put("tf.npy", buf,
                    npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 0, yfrac, 8));
    expect_fail(&o, "tf.npy: sample 1", "not an integer");
    float yneg[2] = {-1, 1};
    o.targets = put("tn.npy", buf,
                    npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 0, yneg, 8));
    expect_fail(&o, "tn.npy: sample 0", "negative");
    float y2d[4] = {0, 1, 1, 0};
    o.targets = put("t2d.npy", buf,
                    npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 0, y2d, 16));
    expect_fail(&o, "one label per sample", NULL);
    /* ...while regression takes any finite targets. */
    o.targets = put("tn.npy", buf,
                    npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 0, yneg, 8));
    o.task = DPT_TASK_REGRESS;
    dpt_dataset ds;
    load_ok(&ds, &o);
    ck_assert_int_eq(ds.nclasses, 0);
    ck_assert_float_eq(ds.y[0], -1);
    dpt_data_free(&ds);
}
END_TEST

/* ---- CSV ---- */

START_TEST(csv_header_crlf_quotes)
{
    const char *p = put_str("h.csv", "\xEF\xBB\xBF"
                                     "a,\"label\", b ,c\r\n"
                                     "1.5,2,-3,1e2\r\n"
                                     " .5 ,0,\"4\",-2.5E-1\r\n"
                                     "\r\n"
                                     "7,1,+8,9.\r\n"
                                     "\r\n");
    dpt_data_opts o = opts("auto", p, NULL, DPT_TASK_CLASSIFY);
    o.label = "label";
    dpt_dataset ds;
    load_ok(&ds, &o);
    ck_assert_uint_eq(ds.n, 3);
    ck_assert_uint_eq(ds.d, 3);
    ck_assert_int_eq(ds.xtype, DPT_DT_F32);
    ck_assert_int_eq(ds.nclasses, 3);
    const float want_x[9] = {1.5f, -3, 100, 0.5f, 4, -0.25f, 7, 8, 9};
    const float want_y[3] = {2, 0, 1};
    float x[9], y[3];
    size_t all[3] = {0, 1, 2};
    dpt_data_gather(x, y, &ds, all, 3);
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(x[i], want_x[i]);
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(y[i], want_y[i]);
    dpt_data_free(&ds);

    /* The same label chosen by index, and no header: label last by default. */
    o.label = "1";
    load_ok(&ds, &o);
    ck_assert_float_eq(ds.y[2], 1);
    dpt_data_free(&ds);

    p = put_str("n.csv", "1,2,0\n3,4,1\n5,6,1");
    o = opts("csv", p, NULL, DPT_TASK_REGRESS);
    load_ok(&ds, &o);
    ck_assert_uint_eq(ds.n, 3);
    ck_assert_uint_eq(ds.d, 2);
    ck_assert_float_eq(ds.y[1], 1);
    ck_assert_float_eq(((const float *)ds.x)[5], 6);
    dpt_data_free(&ds);

    /* header = 1 forces the first line out even when it is numeric. */
    o.header = 1;
    load_ok(&ds, &o);
    ck_assert_uint_eq(ds.n, 2);
    dpt_data_free(&ds);
}
END_TEST

START_TEST(csv_numbers_match_strtof)
{
    /* The hand-written parser against the C library, value by value. */
    char *text = malloc(1 << 20);
    float *want = malloc(20000 * sizeof *want);
    size_t len = 0, k = 0;
    len += (size_t)sprintf(text + len, "f,y\n");
    static const char *fixed[] = {"0", "-0", "1e-30", "3.4028234e38", "1.17549435e-38", "5.", ".5", "+7", "1E+2",
                                  "0.000000000000000000000000123", "123456789012345678901234",
                                  "9.999999999999999999999", "1e-45", "0.1", "16777217", "2.5e-7", "-123.456e-3",
                                  "7e22", "1e23"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        len += (size_t)sprintf(text + len, "%s,0\n", fixed[i]);
        want[k++] = strtof(fixed[i], NULL);
    }
    uint64_t s = 88172645463325252ULL;
    for (int i = 0; i < 8000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double mant = (double)(s >> 11) / 9007199254740992.0;
        int ex = (int)(s % 61) - 30;
        char num[64];
        snprintf(num, sizeof num, i % 2 ? "%.9g" : "%.17g", (i % 3 ? -1 : 1) * mant * pow(10, ex));
        len += (size_t)sprintf(text + len, "%s,0\n", num);
        want[k++] = strtof(num, NULL);
    }
    const char *p = put("num.csv", text, len);
    dpt_data_opts o = opts("csv", p, NULL, DPT_TASK_REGRESS);
    dpt_dataset ds;
    load_ok(&ds, &o);
    ck_assert_uint_eq(ds.n, k);
    const float *x = ds.x;
    for (size_t i = 0; i < k; i++) {
        float a = x[i], b = want[i];
        /* Exact in all but freak double-rounding cases, which may be 1 ulp off. */
        ck_assert_msg(a == b || nextafterf(a, b) == b, "row %zu: got %.9g want %.9g", i, (double)a, (double)b);
    }
    dpt_data_free(&ds);
    free(text);
    free(want);
}
END_TEST

START_TEST(csv_errors)
{
    dpt_data_opts o = opts("auto", NULL, NULL, DPT_TASK_CLASSIFY);
    o.path = put_str("bad.csv", "a,b,c\n1,2,0\n4,abc,1\n");
    expect_fail(&o, "bad.csv:3: column 2: 'abc' is not a number", NULL);
    o.path = put_str("empty_field.csv", "1,2,0\n4,,1\n");
    expect_fail(&o, "empty_field.csv:2: column 2: '' is not a number", NULL);
    o.path = put_str("trail.csv", "1,2,0\n4,5x,1\n");
    expect_fail(&o, "trail.csv:2: column 2: '5x' is not a number", NULL);
    o.path = put_str("ragged.csv", "a,b,c\r\n1,2,0\r\n\r\n4,1\r\n");
    expect_fail(&o, "ragged.csv:4: expected 3 columns, found 2", NULL);
    o.path = put_str("ragged2.csv", "1,2,0\n4,1,1,5,6\n");
    expect_fail(&o, "ragged2.csv:2: expected 3 columns, found 5", NULL);
    o.path = put_str("nan.csv", "1,2,0\n3,4,1\nnan,4,1\n");
    expect_fail(&o, "nan.csv:3: column 1", "sample 2");
    o.path = put_str("inf.csv", "1,-inf,0\n");
    expect_fail(&o, "inf.csv:1: column 2", "infinite");
    o.path = put_str("big.csv", "1,1e39,0\n");
    expect_fail(&o, "big.csv:1: column 2", "infinite");
    o.path = put_str("neg.csv", "1,2,0\n3,4,-1\n");
    expect_fail(&o, "neg.csv:2: column 3", "negative");
    o.path = put_str("frac.csv", "1,2,0.5\n");
    expect_fail(&o, "frac.csv:1: column 3", "not an integer");
    o.path = put_str("ncls.csv", "1,2,0\n3,4,3\n");
    o.nclasses = 3;
    expect_fail(&o, "ncls.csv:2: column 3", "not below nclasses 3");
    o.nclasses = 0;
    o.path = put_str("nolabel.csv", "a,b,c\n1,2,0\n");
    o.label = "target";
    expect_fail(&o, "nolabel.csv", "label column 'target' not found");
    o.label = "7";
    expect_fail(&o, "nolabel.csv", "out of range");
    o.label = "";
    o.path = put_str("onlyhead.csv", "a,b,c\n\n");
    expect_fail(&o, "onlyhead.csv", "no samples");
    o.path = put_str("blank.csv", "\n \n");
    expect_fail(&o, "blank.csv", "no data");
    o.path = put_str("empty.csv", "");
    expect_fail(&o, "empty.csv", "empty");
    o.path = put_str("one.csv", "1\n2\n");
    expect_fail(&o, "one.csv", "one column");
    o.path = fx("nope.csv");
    expect_fail(&o, "nope.csv", "cannot open");
    o.path = g_dir; /* a directory cannot be read as data */
    o.format = DPT_FORMAT_CSV;
    expect_fail(&o, g_dir, "not a regular file");
    o.format = DPT_FORMAT_AUTO;
    o.path = put_str("t.csv", "1,0\n");
    o.targets = "labels.npy";
    expect_fail(&o, "carry their own targets", NULL);
    o.targets = NULL;
    o.path = put_str("what.dat", "1,0\n");
    expect_fail(&o, "what.dat", "cannot tell the format");
    o.format = (dpt_data_format)99;
    expect_fail(&o, "unknown data format 99", NULL);
}
END_TEST

/* ---- libsvm ---- */

START_TEST(libsvm_parse)
{
    const char *p = put_str("a.svm", "# a comment line\n"
                                     "1 1:0.5 3:-2 # trailing comment\n"
                                     "\n"
                                     "0 qid:3 2:4\r\n"
                                     "2\n"
                                     "1\t1:1e1\t4:7\n");
    dpt_data_opts o = opts("auto", p, NULL, DPT_TASK_CLASSIFY);
    dpt_dataset ds;
    load_ok(&ds, &o);
    ck_assert_uint_eq(ds.n, 4);
    ck_assert_uint_eq(ds.d, 4);
    ck_assert_int_eq(ds.nclasses, 3);
    const float want[16] = {0.5f, 0, -2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 10, 0, 0, 7};
    const float wy[4] = {1, 0, 2, 1};
    float x[16], y[4];
    size_t all[4] = {0, 1, 2, 3};
    dpt_data_gather(x, y, &ds, all, 4);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(x[i], want[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y[i], wy[i]);
    dpt_data_free(&ds);

    o.nfeatures = 6;
    load_ok(&ds, &o);
    ck_assert_uint_eq(ds.d, 6);
    ck_assert_float_eq(((const float *)ds.x)[3 * 6 + 3], 7);
    dpt_data_free(&ds);

    /* Regression targets may be any real; .txt is libsvm too. */
    p = put_str("r.txt", "-1.5 2:1\n3.25 1:2\n");
    o = opts("auto", p, NULL, DPT_TASK_REGRESS);
    load_ok(&ds, &o);
    ck_assert_int_eq(ds.nclasses, 0);
    ck_assert_float_eq(ds.y[0], -1.5f);
    dpt_data_free(&ds);
}
END_TEST

START_TEST(libsvm_errors)
{
    dpt_data_opts o = opts("libsvm", NULL, NULL, DPT_TASK_CLASSIFY);
    o.path = put_str("zero.svm", "1 1:1\n0 0:2\n");
    expect_fail(&o, "zero.svm:2:", "index 0");
    o.path = put_str("order.svm", "1 1:1\n\n0 3:2 2:1\n");
    expect_fail(&o, "order.svm:3:", "index 2 follows 3");
    o.path = put_str("dup.svm", "1 2:1 2:3\n");
    expect_fail(&o, "dup.svm:1:", "ascending");
    o.path = put_str("tok.svm", "1 1:1 foo\n");
    expect_fail(&o, "tok.svm:1: 'foo' is not index:value", NULL);
    o.path = put_str("val.svm", "1 1:x\n");
    expect_fail(&o, "val.svm:1: '1:x': value is not a number", NULL);
    o.path = put_str("lab.svm", "one 1:1\n");
    expect_fail(&o, "lab.svm:1: label 'one' is not a number", NULL);
    o.path = put_str("nan.svm", "1 1:1\n0 2:nan\n");
    expect_fail(&o, "nan.svm:2:", "sample 1");
    o.path = put_str("neg.svm", "+1 1:1\n-1 1:2\n");
    expect_fail(&o, "neg.svm:2:", "negative");
    o.path = put_str("big.svm", "1 1:1 9:2\n");
    o.nfeatures = 4;
    expect_fail(&o, "big.svm:1:", "exceeds nfeatures 4");
    o.nfeatures = 0;
    o.path = put_str("huge.svm", "1 99999999999999999999:2\n");
    expect_fail(&o, "huge.svm:1:", "too large");
    /* A 15-byte line must not make an 8 GiB matrix, nor a width past INT_MAX. */
    o.path = put_str("wide.svm", "1 2147483648:1\n");
    expect_fail(&o, "wide.svm:1:", "too large");
    o.path = put_str("wide2.svm", "1 1073741824:1\n");
    expect_fail(&o, "wide2.svm:", "dense matrix is too large for a 15-byte file");
    o.path = put_str("wide3.svm", "1 1:1\n");
    o.nfeatures = (size_t)1 << 32;
    expect_fail(&o, "wide3.svm:", "a model can take");
    o.nfeatures = 0;
    o.path = put_str("comments.svm", "# nothing\n\n");
    expect_fail(&o, "comments.svm", "no samples");
    o.path = put_str("nofeat.svm", "1\n0\n");
    expect_fail(&o, "nofeat.svm", "no feature");
    o.path = put_str("empty.svm", "");
    expect_fail(&o, "empty.svm", "empty");
}
END_TEST

/* ---- features only, for prediction ---- */

START_TEST(features_only)
{
    dpt_data_opts o = opts("auto", put_str("f.csv", "a,b,c\n1,2,3\n4,5,6\n"), NULL, DPT_TASK_CLASSIFY);
    dpt_dataset ds;
    dpt_err e;
    ck_assert_msg(dpt_data_load_features(&ds, &o, &e) == DPT_OK, "%s", e.msg);
    ck_assert_uint_eq(ds.n, 2);
    ck_assert_uint_eq(ds.d, 3); /* every column is a feature */
    ck_assert_ptr_null(ds.y);
    ck_assert_uint_eq(ds.tdim, 0);
    float x[6];
    size_t all[2] = {0, 1};
    dpt_data_gather(x, NULL, &ds, all, 2);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(x[i], (float)(i + 1));
    dpt_data_free(&ds);

    /* a single column is fine without a label; non-numbers still fail */
    o.path = put_str("f1.csv", "-1\n2\n");
    ck_assert_msg(dpt_data_load_features(&ds, &o, &e) == DPT_OK, "%s", e.msg);
    ck_assert_uint_eq(ds.d, 1);
    dpt_data_free(&ds);
    o.path = put_str("f2.csv", "1,2\n3,x\n");
    ck_assert_int_eq(dpt_data_load_features(&ds, &o, &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "f2.csv:2: column 2: 'x' is not a number"));
    ck_assert(zeroed(&ds));

    /* NPY with no targets file; libsvm labels ignored (even negative ones) */
    unsigned char buf[256];
    float f4[4] = {1, 2, 3, 4};
    o.path = put("f.npy", buf, npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 0,
                                        f4, sizeof f4));
    ck_assert_msg(dpt_data_load_features(&ds, &o, &e) == DPT_OK, "%s", e.msg);
    ck_assert_uint_eq(ds.n, 2);
    ck_assert_ptr_null(ds.y);
    dpt_data_free(&ds);
    o.path = put_str("f.svm", "-1 2:5\n");
    ck_assert_msg(dpt_data_load_features(&ds, &o, &e) == DPT_OK, "%s", e.msg);
    ck_assert_uint_eq(ds.d, 2);
    ck_assert_float_eq(((const float *)ds.x)[1], 5);
    ck_assert_ptr_null(ds.y);
    dpt_data_free(&ds);
}
END_TEST

/* ---- gather and standardization ---- */

static const char *write_f32_npy(const char *name, const float *x, size_t n, size_t d, unsigned char *buf)
{
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", n, d);
    return put(name, buf, npy_make(buf, 1, dict, 0, x, n * d * sizeof *x));
}

START_TEST(standardize_on_train_rows_only)
{
    enum { N = 40, D = 3 };
    float x[N * D], y[N];
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            x[i * D + j] = j == 2 ? 5.0f : (float)((double)(s >> 11) / 9007199254740992.0) * (j + 1) * 10 + j;
        }
        y[i] = (float)(i % 2);
    }
    x[(N - 1) * D] = 1e6f; /* an outlier outside the training rows */
    unsigned char *buf = malloc(4096);
    const char *xp = write_f32_npy("s.npy", x, N, D, buf);
    const char *yp = put("sy.npy", buf,
                         npy_make(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (40,), }", 0, y,
                                  sizeof y));
    free(buf);
    dpt_data_opts o = opts("auto", xp, yp, DPT_TASK_CLASSIFY);
    dpt_dataset ds;
    load_ok(&ds, &o);
    size_t tr[N - 10];
    for (int i = 0; i < N - 10; i++)
        tr[i] = (size_t)i;
    dpt_err e = {0};
    ck_assert_int_eq(dpt_data_fit_standardize(&ds, tr, N - 10, &e), DPT_OK);
    double mu[D] = {0}, var[D] = {0};
    for (int i = 0; i < N - 10; i++)
        for (int j = 0; j < D; j++)
            mu[j] += x[i * D + j] / (double)(N - 10);
    for (int i = 0; i < N - 10; i++)
        for (int j = 0; j < D; j++)
            var[j] += (x[i * D + j] - mu[j]) * (x[i * D + j] - mu[j]) / (double)(N - 10);
    for (int j = 0; j < 2; j++) {
        ck_assert_double_eq_tol(ds.mean[j], mu[j], 1e-5 * fabs(mu[j]) + 1e-6);
        ck_assert_double_eq_tol(ds.std[j], sqrt(var[j]), 1e-5 * sqrt(var[j]));
    }
    ck_assert_float_eq(ds.std[2], 1); /* constant feature */
    float g[(N - 10) * D];
    dpt_data_gather(g, NULL, &ds, tr, N - 10);
    for (int j = 0; j < D; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < N - 10; i++)
            m += g[i * D + j];
        m /= N - 10;
        for (int i = 0; i < N - 10; i++)
            v += (g[i * D + j] - m) * (g[i * D + j] - m);
        v /= N - 10;
        ck_assert_double_eq_tol(m, 0, 1e-5);
        ck_assert_double_eq_tol(v, (j == 2 ? 0.0 : 1.0), 1e-4);
    }
    size_t last = N - 1;
    dpt_data_gather(g, NULL, &ds, &last, 1);
    ck_assert_double_eq_tol(g[0], (1e6 - mu[0]) / sqrt(var[0]), 1e-3 * 1e6 / sqrt(var[0]));

    /* Refitting replaces the old fit; bad calls fail cleanly. */
    ck_assert_int_eq(dpt_data_fit_standardize(&ds, tr, 5, &e), DPT_OK);
    ck_assert_int_eq(dpt_data_fit_standardize(&ds, tr, 0, &e), DPT_FAIL);
    size_t beyond = N;
    ck_assert_int_eq(dpt_data_fit_standardize(&ds, &beyond, 1, &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "beyond"));
    /* No index list (data.val_fraction = 0: the trainer holds nothing out) means the first count rows. */
    ck_assert_int_eq(dpt_data_fit_standardize(&ds, NULL, 5, &e), DPT_OK);
    float m5 = ds.mean[0];
    ck_assert_int_eq(dpt_data_fit_standardize(&ds, tr, 5, &e), DPT_OK);
    size_t first5[5] = {0, 1, 2, 3, 4};
    ck_assert_int_eq(dpt_data_fit_standardize(&ds, first5, 5, &e), DPT_OK);
    ck_assert_float_eq(ds.mean[0], m5);
    ck_assert_int_eq(dpt_data_fit_standardize(&ds, NULL, N + 1, &e), DPT_FAIL);
    dpt_data_free(&ds);
}
END_TEST

START_TEST(standardize_u8_in_scaled_units)
{
    unsigned char buf[256];
    const unsigned char px[6] = {0, 10, 255, 20, 0, 30};
    uint32_t di[2] = {3, 2}, dl[1] = {3};
    put("p-idx2-ubyte", buf, idx_make(buf, 0x08, 2, di, px, 6));
    put("p-idx1-ubyte", buf, idx_make(buf, 0x08, 1, dl, lab3, 3));
    dpt_data_opts o = opts("auto", fx("p-idx2-ubyte"), fx("p-idx1-ubyte"), DPT_TASK_CLASSIFY);
    dpt_dataset ds;
    load_ok(&ds, &o);
    size_t all[3] = {0, 1, 2};
    dpt_err e;
    ck_assert_int_eq(dpt_data_fit_standardize(&ds, all, 3, &e), DPT_OK);
    double m0 = (0 + 255 + 0) / 3.0 / 255.0;
    double s0 = sqrt(((0 - m0) * (0 - m0) * 2 + (1 - m0) * (1 - m0)) / 3.0);
    ck_assert_double_eq_tol(ds.mean[0], m0, 1e-6);
    ck_assert_double_eq_tol(ds.std[0], s0, 1e-6);
    float g[6];
    dpt_data_gather(g, NULL, &ds, all, 3);
    ck_assert_double_eq_tol(g[2], (1 - m0) / s0, 1e-5);
    dpt_data_free(&ds);
}
END_TEST

/* ---- splits ---- */

static dpt_dataset labels_only(float *y, size_t n, int nclasses)
{
    dpt_dataset ds = {0};
    ds.n = n;
    ds.tdim = 1;
    ds.y = y;
    ds.nclasses = nclasses;
    return ds;
}

static void check_partition(const size_t *tr, size_t ntr, const size_t *va, size_t nva, size_t n)
{
    ck_assert_uint_eq(ntr + nva, n);
    unsigned char *seen = calloc(n, 1);
    for (size_t i = 0; i < ntr; i++) {
        ck_assert_uint_lt(tr[i], n);
        if (i)
            ck_assert_uint_gt(tr[i], tr[i - 1]);
        seen[tr[i]]++;
    }
    for (size_t i = 0; i < nva; i++) {
        ck_assert_uint_lt(va[i], n);
        if (i)
            ck_assert_uint_gt(va[i], va[i - 1]);
        seen[va[i]]++;
    }
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(seen[i], 1);
    free(seen);
}

START_TEST(split_regression)
{
    float y[101];
    dpt_dataset ds = labels_only(y, 101, 0);
    size_t *tr, *va, ntr, nva;
    dpt_err e;
    ck_assert_int_eq(dpt_data_split(&tr, &ntr, &va, &nva, &ds, 0.2, 7, &e), DPT_OK);
    ck_assert_uint_eq(nva, 20); /* round(20.2) */
    check_partition(tr, ntr, va, nva, 101);
    size_t *tr2, *va2, ntr2, nva2;
    ck_assert_int_eq(dpt_data_split(&tr2, &ntr2, &va2, &nva2, &ds, 0.2, 7, &e), DPT_OK);
    ck_assert_mem_eq(va, va2, nva * sizeof *va); /* same seed, same split */
    free(tr2);
    free(va2);
    ck_assert_int_eq(dpt_data_split(&tr2, &ntr2, &va2, &nva2, &ds, 0.2, 8, &e), DPT_OK);
    ck_assert_int_ne(memcmp(va, va2, nva * sizeof *va), 0); /* another seed, another split */
    free(tr2);
    free(va2);
    free(tr);
    free(va);

    ck_assert_int_eq(dpt_data_split(&tr, &ntr, &va, &nva, &ds, 0, 7, &e), DPT_OK);
    ck_assert_uint_eq(nva, 0);
    ck_assert_uint_eq(ntr, 101);
    free(tr);
    free(va);
    ck_assert_int_eq(dpt_data_split(&tr, &ntr, &va, &nva, &ds, 1.0, 7, &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "fraction"));
    ck_assert_int_eq(dpt_data_split(&tr, &ntr, &va, &nva, &ds, -0.1, 7, &e), DPT_FAIL);
    ck_assert_int_eq(dpt_data_split(&tr, &ntr, &va, &nva, &ds, NAN, 7, &e), DPT_FAIL);
}
END_TEST

START_TEST(split_stratified)
{
    const size_t counts[][4] = {{50, 30, 20, 0}, {7, 5, 3, 1}, {1, 1, 1, 1}, {333, 1, 0, 90}};
    const double fracs[] = {0.25, 0.3, 0.1, 0.5, 0.77};
    for (size_t t = 0; t < 4; t++) {
        size_t n = 0;
        for (int c = 0; c < 4; c++)
            n += counts[t][c];
        float *y = malloc(n * sizeof *y);
        /* interleave the classes so grouping matters */
        size_t k = 0, left[4];
        memcpy(left, counts[t], sizeof left);
        while (k < n)
            for (int c = 0; c < 4; c++)
                if (left[c]) {
                    y[k++] = (float)c;
                    left[c]--;
                }
        dpt_dataset ds = labels_only(y, n, 4);
        for (size_t f = 0; f < sizeof fracs / sizeof fracs[0]; f++) {
            size_t *tr, *va, ntr, nva;
            dpt_err e;
            ck_assert_int_eq(dpt_data_split(&tr, &ntr, &va, &nva, &ds, fracs[f], 3, &e), DPT_OK);
            check_partition(tr, ntr, va, nva, n);
            ck_assert_uint_eq(nva, (size_t)floor(n * fracs[f] + 0.5));
            size_t per[4] = {0};
            for (size_t i = 0; i < nva; i++)
                per[(int)y[va[i]]]++;
            for (int c = 0; c < 4; c++) {
                double q = counts[t][c] * fracs[f];
                ck_assert_msg(per[c] >= (size_t)floor(q) && per[c] <= (size_t)ceil(q),
                              "case %zu frac %g class %d: %zu of %zu in validation", t, fracs[f], c, per[c],
                              counts[t][c]);
            }
            free(tr);
            free(va);
        }
        free(y);
    }
    /* Labels outside the class range cannot be stratified. */
    float bad[3] = {0, 5, 1};
    dpt_dataset ds = labels_only(bad, 3, 2);
    size_t *tr, *va, ntr, nva;
    dpt_err e;
    ck_assert_int_eq(dpt_data_split(&tr, &ntr, &va, &nva, &ds, 0.3, 1, &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "sample 1"));
}
END_TEST

START_TEST(kfold_cover_and_balance)
{
    const size_t counts[3] = {23, 11, 6};
    size_t n = 40;
    float y[40];
    for (size_t i = 0, c = 0, used = 0; i < n; i++) {
        y[i] = (float)c;
        if (++used == counts[c]) {
            c++;
            used = 0;
        }
    }
    for (int strat = 0; strat < 2; strat++) {
        dpt_dataset ds = labels_only(y, n, strat ? 3 : 0);
        for (int k = 2; k <= 7; k += 5) {
            int times[40] = {0};
            size_t sizes[7] = {0}, per[7][3] = {{0}};
            for (int f = 0; f < k; f++) {
                size_t *tr, *va, ntr, nva;
                dpt_err e;
                ck_assert_int_eq(dpt_data_kfold(&tr, &ntr, &va, &nva, &ds, k, f, 11, &e), DPT_OK);
                check_partition(tr, ntr, va, nva, n);
                sizes[f] = nva;
                for (size_t i = 0; i < nva; i++) {
                    times[va[i]]++;
                    per[f][(int)y[va[i]]]++;
                }
                free(tr);
                free(va);
            }
            for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(times[i], 1);
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++) {
                    ck_assert_uint_le(sizes[a], sizes[b] + 1);
                    if (strat)
                        for (int c = 0; c < 3; c++)
                            ck_assert_uint_le(per[a][c], per[b][c] + 1);
                }
        }
    }
    dpt_dataset ds = labels_only(y, n, 3);
    size_t *tr, *va, ntr, nva;
    dpt_err e;
    ck_assert_int_eq(dpt_data_kfold(&tr, &ntr, &va, &nva, &ds, 1, 0, 1, &e), DPT_FAIL);
    ck_assert_int_eq(dpt_data_kfold(&tr, &ntr, &va, &nva, &ds, 41, 0, 1, &e), DPT_FAIL);
    ck_assert_int_eq(dpt_data_kfold(&tr, &ntr, &va, &nva, &ds, 5, 5, 1, &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "fold 5"));
    ck_assert_int_eq(dpt_data_kfold(&tr, &ntr, &va, &nva, &ds, 5, -1, 1, &e), DPT_FAIL);
}
END_TEST

/* ---- the real thing ---- */

#define FMNIST "/usr/share/datasets/fashion-mnist/"

/* The checksums the ranks compare: equal for equal contents, and a change of one value in the
 * features or the targets changes that one alone. */
START_TEST(checksum_sees_one_value)
{
    dpt_dataset a, b;
    dpt_err e;
    ck_assert_int_eq(dpt_data_linreg(&a, 100, 7, &e), DPT_OK);
    ck_assert_int_eq(dpt_data_linreg(&b, 100, 7, &e), DPT_OK);
    ck_assert_uint_eq(dpt_data_checksum(&a, 0), dpt_data_checksum(&b, 0));
    ck_assert_uint_eq(dpt_data_checksum(&a, 1), dpt_data_checksum(&b, 1));
    float keep = ((float *)b.xbuf)[99];
    ((float *)b.xbuf)[99] = keep + 1.0f;
    ck_assert_uint_ne(dpt_data_checksum(&a, 0), dpt_data_checksum(&b, 0));
    ck_assert_uint_eq(dpt_data_checksum(&a, 1), dpt_data_checksum(&b, 1));
    ((float *)b.xbuf)[99] = keep;
    b.y[0] = -b.y[0];
    ck_assert_uint_eq(dpt_data_checksum(&a, 0), dpt_data_checksum(&b, 0));
    ck_assert_uint_ne(dpt_data_checksum(&a, 1), dpt_data_checksum(&b, 1));
    b.n = 99; /* a shorter set, whatever its bytes */
    ck_assert_uint_ne(dpt_data_checksum(&a, 0), dpt_data_checksum(&b, 0));
    b.n = 100;
    dpt_data_free(&a);
    dpt_data_free(&b);
}
END_TEST

START_TEST(fashion_mnist)
{
    if (access(FMNIST "train-images-idx3-ubyte.gz", R_OK) != 0 ||
        access(FMNIST "t10k-labels-idx1-ubyte.gz", R_OK) != 0) {
        printf("test_data: skipping fashion_mnist: %s is absent\n", FMNIST);
        return;
    }
    dpt_data_opts o = opts("auto", FMNIST "train-images-idx3-ubyte.gz", FMNIST "train-labels-idx1-ubyte.gz",
                           DPT_TASK_CLASSIFY);
    dpt_dataset tr, te;
    load_ok(&tr, &o);
    o.path = FMNIST "t10k-images-idx3-ubyte.gz";
    o.targets = FMNIST "t10k-labels-idx1-ubyte.gz";
    load_ok(&te, &o);
    ck_assert_uint_eq(tr.n, 60000);
    ck_assert_uint_eq(tr.d, 784);
    ck_assert_uint_eq(te.n, 10000);
    ck_assert_uint_eq(te.d, 784);
    ck_assert_int_eq(tr.nclasses, 10);
    ck_assert_int_eq(tr.xtype, DPT_DT_U8);
    size_t count[10] = {0};
    for (size_t i = 0; i < tr.n; i++) {
        ck_assert(tr.y[i] >= 0 && tr.y[i] <= 9 && tr.y[i] == floorf(tr.y[i]));
        count[(int)tr.y[i]]++;
    }
    for (int c = 0; c < 10; c++)
        ck_assert_uint_eq(count[c], 6000);
    for (size_t i = 0; i < te.n; i++)
        ck_assert(te.y[i] >= 0 && te.y[i] <= 9);
    enum { B = 500 };
    float *x = malloc(B * 784 * sizeof *x), y[B];
    size_t idx[B];
    float lo = 1, hi = 0;
    for (size_t s = 0; s < tr.n; s += B) {
        for (size_t k = 0; k < B; k++)
            idx[k] = (s + k * 7919) % tr.n;
        dpt_data_gather(x, y, &tr, idx, B);
        for (size_t k = 0; k < (size_t)B * 784; k++) {
            lo = x[k] < lo ? x[k] : lo;
            hi = x[k] > hi ? x[k] : hi;
        }
    }
    ck_assert_float_eq(lo, 0);
    ck_assert_float_eq(hi, 1);
    free(x);
    dpt_data_free(&tr);
    dpt_data_free(&te);
}
END_TEST

int main(void)
{
    dpt_test_tmpdir(g_dir, sizeof g_dir, "dpt_test_data");
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, idx_mapped_u8);
    tcase_add_test(tc, idx_gzip);
    tcase_add_test(tc, idx_other_dtypes);
    tcase_add_test(tc, idx_errors);
    tcase_add_test(tc, npy_dtypes);
    tcase_add_test(tc, npy_big_endian);
    tcase_add_test(tc, npy_unaligned_copy);
    tcase_add_test(tc, npy_errors);
    tcase_add_test(tc, csv_header_crlf_quotes);
    tcase_add_test(tc, csv_numbers_match_strtof);
    tcase_add_test(tc, csv_errors);
    tcase_add_test(tc, libsvm_parse);
    tcase_add_test(tc, libsvm_errors);
    tcase_add_test(tc, features_only);
    tcase_add_test(tc, standardize_on_train_rows_only);
    tcase_add_test(tc, standardize_u8_in_scaled_units);
    tcase_add_test(tc, split_regression);
    tcase_add_test(tc, split_stratified);
    tcase_add_test(tc, kfold_cover_and_balance);
    tcase_add_test(tc, checksum_sees_one_value);
    tcase_add_test(tc, fashion_mnist);
    suite_add_tcase(s, tc);
    int status = dpt_test_run(s);
    dpt_test_rmdir(g_dir);
    return status;
}
