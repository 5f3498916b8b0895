/* Unit tests for the checkpoint module: round trips checked bit for bit and
 * against an independent parse of the raw bytes, hand-crafted bad files that
 * must each fail for the stated reason, corruption and truncation, and failed
 * writes that must leave the old file as it was. Fixtures live in one mkdtemp
 * directory under /tmp, removed at the end. */
#include "dptrain/checkpoint.h"
#include "dptrain/fsio.h"

#include "support.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zlib.h>

static char dir[64];

static void rm_tree(const char *p)
{
    struct stat st;
    if (lstat(p, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(p);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s", p, de->d_name);
            rm_tree(sub);
        }
        if (d) closedir(d);
        rmdir(p);
    } else {
        unlink(p);
    }
}

static void setup(void)
{
    strcpy(dir, "/tmp/dpt_ckpt_XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(1); }
}

static void teardown(void) { rm_tree(dir); }

static void fixture(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static void put_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static unsigned char *get_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static uint32_t crc(const void *p, size_t n) { return (uint32_t)crc32(0, p, (uInt)n); }

/* Writes le64(strlen(json)) + json + data; "@CRC@" in json becomes the data's CRC32. */
static void craft(const char *path, const char *json, const void *data, size_t dlen)
{
    char hex[9], j[4096];
    snprintf(hex, sizeof hex, "%08" PRIx32, crc(data, dlen));
    const char *at = strstr(json, "@CRC@");
    if (at) snprintf(j, sizeof j, "%.*s%s%s", (int)(at - json), json, hex, at + 5);
    else snprintf(j, sizeof j, "%s", json);
    uint64_t n = strlen(j);
    unsigned char *b = malloc(8 + n + dlen + 1);
    memcpy(b, &n, 8);
    memcpy(b + 8, j, n);
    if (dlen) memcpy(b + 8 + n, data, dlen);
    put_bytes(path, b, 8 + n + dlen);
    free(b);
}

static int is_zeroed(const dpt_ckpt *c) { return c->nt == 0 && !c->t && c->nmeta == 0 && !c->meta && !c->buf && c->len == 0; }

/* Reads path expecting failure with phrase (and the path) in the message. */
static void expect_fail(const char *path, const char *phrase)
{
    dpt_ckpt c;
    dpt_err e = {0};
    int rc = dpt_ckpt_read(&c, path, &e);
    ck_assert_msg(rc == DPT_FAIL, "%s: read succeeded, expected '%s'", path, phrase);
    ck_assert_msg(strstr(e.msg, phrase), "message '%s' lacks '%s'", e.msg, phrase);
    ck_assert_msg(strstr(e.msg, path), "message '%s' does not name the file", e.msg);
    ck_assert_msg(!strchr(e.msg, '\n'), "message spans lines: %s", e.msg);
    ck_assert(is_zeroed(&c));
    dpt_ckpt_free(&c);
}

static int tmp_files_left(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

/* Float bits that a sloppy copy would lose: -0, NaN payloads, infinities, subnormals. */
static float bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

START_TEST(round_trip)
{
    float w[12], b[3] = {bits(0x80000000u), bits(0x7fc01234u), bits(0x00000001u)};
    float s = bits(0xff800000u), t4[12];
    for (int i = 0; i < 12; i++) { w[i] = (float)i * 0.37f - 2.0f; t4[i] = 1.0f / (float)(i + 1); }
    dpt_ckpt_tensor t[5] = {
        {"layers.0.weight", 2, {3, 4}, w},
        {"layers.0.bias", 1, {3}, b},
        {"empty", 2, {3, 0}, NULL}, /* no data needed for 0 elements */
        {"scalar", 0, {0}, &s},
        {"t4", 4, {2, 1, 3, 2}, t4},
    };
    dpt_ckpt_meta m[2] = {{"step", "42"}, {"layers", "dense 3, relu"}};
    char p[256];
    fixture(p, sizeof p, "rt.safetensors");
    dpt_err e = {0};
    ck_assert_msg(dpt_ckpt_write(p, t, 5, m, 2, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(tmp_files_left(), 0);

    /* The raw bytes, checked independently of the reader. */
    size_t len;
    unsigned char *raw = get_bytes(p, &len);
    uint64_t n;
    memcpy(&n, raw, 8);
    ck_assert_uint_eq((8 + n) % 8, 0);
    size_t datalen = sizeof w + sizeof b + sizeof s + sizeof t4;
    ck_assert_uint_eq(8 + n + datalen, len);
    ck_assert_int_eq(memcmp(raw + 8 + n, w, sizeof w), 0);
    ck_assert_int_eq(memcmp(raw + 8 + n + 48, b, sizeof b), 0);
    ck_assert_int_eq(memcmp(raw + 8 + n + 60, &s, 4), 0);
    ck_assert_int_eq(memcmp(raw + 8 + n + 64, t4, sizeof t4), 0);
    cJSON *h = cJSON_ParseWithLength((const char *)raw + 8, n);
    ck_assert_ptr_nonnull(h);
    const cJSON *tw = cJSON_GetObjectItemCaseSensitive(h, "layers.0.weight");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(tw, "dtype")->valuestring, "F32");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(tw, "shape");
    ck_assert_int_eq(cJSON_GetArraySize(sh), 2);
    ck_assert_int_eq(cJSON_GetArrayItem(sh, 0)->valueint, 3);
    ck_assert_int_eq(cJSON_GetArrayItem(sh, 1)->valueint, 4);
    const cJSON *ob = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "layers.0.bias"), "data_offsets");
    ck_assert_int_eq(cJSON_GetArrayItem(ob, 0)->valueint, 48);
    ck_assert_int_eq(cJSON_GetArrayItem(ob, 1)->valueint, 60);
    const cJSON *os = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "scalar"), "shape");
    ck_assert_int_eq(cJSON_GetArraySize(os), 0);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(h, "__metadata__");
    char hex[9];
    snprintf(hex, sizeof hex, "%08" PRIx32, crc(raw + 8 + n, datalen));
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(md, "checksum")->valuestring, hex);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(md, "step")->valuestring, "42");
    cJSON_Delete(h);
    /* Whatever follows the JSON in the header is the padding: spaces only. */
    const char *end = NULL;
    cJSON *again = cJSON_ParseWithLengthOpts((const char *)raw + 8, n, &end, 0);
    ck_assert_ptr_nonnull(again);
    for (const char *q = end; q < (const char *)raw + 8 + n; q++) ck_assert_int_eq(*q, ' ');
    cJSON_Delete(again);
    free(raw);

    dpt_ckpt c;
    ck_assert_msg(dpt_ckpt_read(&c, p, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(c.nt, 5);
    ck_assert_uint_eq(c.len, len);
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(c.t[i].name, t[i].name);
        ck_assert_int_eq(c.t[i].ndim, t[i].ndim);
        size_t cnt = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            ck_assert_int_eq(c.t[i].shape[d], t[i].shape[d]);
            cnt *= (size_t)t[i].shape[d];
        }
        ck_assert_uint_eq((uintptr_t)c.t[i].data % 4, 0);
        if (cnt) ck_assert_int_eq(memcmp(c.t[i].data, t[i].data, cnt * 4), 0);
        ck_assert_ptr_eq(dpt_ckpt_find(&c, t[i].name), &c.t[i]);
    }
    ck_assert_ptr_null(dpt_ckpt_find(&c, "layers.1.weight"));
    ck_assert_int_eq(c.nmeta, 4);
    ck_assert_str_eq(dpt_ckpt_meta_get(&c, "step"), "42");
    ck_assert_str_eq(dpt_ckpt_meta_get(&c, "layers"), "dense 3, relu");
    ck_assert_str_eq(dpt_ckpt_meta_get(&c, "format"), "dptrain-1");
    ck_assert_str_eq(dpt_ckpt_meta_get(&c, "checksum"), hex);
    ck_assert_ptr_null(dpt_ckpt_meta_get(&c, "epoch"));
    dpt_ckpt_free(&c);
    ck_assert(is_zeroed(&c));
    dpt_ckpt_free(&c);
    dpt_ckpt_free(NULL);

    /* Overwriting replaces the content. */
    w[0] = 99.0f;
    ck_assert_msg(dpt_ckpt_write(p, t, 2, NULL, 0, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(dpt_ckpt_read(&c, p, &e), DPT_OK);
    ck_assert_int_eq(c.nt, 2);
    ck_assert(c.t[0].data[0] == 99.0f);
    ck_assert_int_eq(c.nmeta, 2);
    dpt_ckpt_free(&c);
}
END_TEST

START_TEST(no_tensors)
{
    char p[256];
    fixture(p, sizeof p, "none.safetensors");
    dpt_err e = {0};
    ck_assert_int_eq(dpt_ckpt_write(p, NULL, 0, NULL, 0, &e), DPT_OK);
    dpt_ckpt c;
    ck_assert_msg(dpt_ckpt_read(&c, p, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(c.nt, 0);
    ck_assert_str_eq(dpt_ckpt_meta_get(&c, "checksum"), "00000000");
    dpt_ckpt_free(&c);
}
END_TEST

/* A hand-made file, valid except for its unpadded header: the reader must
 * accept what other writers produce and still hand out aligned floats. */
START_TEST(crafted_valid_unaligned)
{
    float d[6] = {1, 2, 3, 4, 5, 6};
    char p[256];
    fixture(p, sizeof p, "ok.safetensors");
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
                       "\"__metadata__\":{\"checksum\":\"@CRC@\"}}";
    for (int extra = 0; extra < 4; extra++) {
        char j[512];
        snprintf(j, sizeof j, "%s%.*s", json, extra, "   ");
        craft(p, j, d, sizeof d);
        dpt_ckpt c;
        dpt_err e = {0};
        ck_assert_msg(dpt_ckpt_read(&c, p, &e) == DPT_OK, "%s", e.msg);
        ck_assert_int_eq(c.nt, 2);
        ck_assert_str_eq(c.t[0].name, "a");
        ck_assert_str_eq(c.t[1].name, "b");
        ck_assert_uint_eq((uintptr_t)c.t[0].data % 4, 0);
        ck_assert_uint_eq((uintptr_t)c.t[1].data % 4, 0);
        ck_assert(c.t[0].data[3] == 4.0f && c.t[1].data[0] == 5.0f && c.t[1].data[1] == 6.0f);
        /* buf keeps the file's bytes */
        ck_assert_int_eq(memcmp((const char *)c.buf + c.len - sizeof d, d, sizeof d), 0);
        dpt_ckpt_free(&c);
    }
}
END_TEST

#define M "\"__metadata__\":{\"checksum\":\"@CRC@\"}"
#define T(name, dt, shape, offs) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" offs "}"

static const struct {
    const char *json;
    size_t dlen;
    const char *phrase;
} bad[] = {
    {"{\"a\": ", 24, "not valid JSON"},
    {"{" M "," T("a", "F32", "[6]", "[0,24]") "} x", 24, "trailing bytes"},
    {"[1,2]", 24, "not a JSON object"},
    {"\"F32\"", 24, "not a JSON object"},
    {"{" M ",\"a\":5}", 24, "tensor 'a' is not an object"},
    {"{" M ",\"a\":{\"shape\":[6],\"data_offsets\":[0,24]}}", 24, "tensor 'a' has no 'dtype'"},
    {"{" M ",\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,24]}}", 24, "tensor 'a' has no 'shape'"},
    {"{" M ",\"a\":{\"dtype\":\"F32\",\"shape\":[6]}}", 24, "tensor 'a' has no 'data_offsets'"},
    {"{" M "," T("a", "F16", "[12]", "[0,24]") "}", 24, "unknown dtype 'F16' for tensor 'a'"},
    {"{" M "," T("a", "F64", "[3]", "[0,24]") "}", 24, "only F32 is supported"},
    {"{" M ",\"a\":{\"dtype\":32,\"shape\":[6],\"data_offsets\":[0,24]}}", 24, "'dtype' of tensor 'a' is not a string"},
    {"{" M "," T("a", "F32", "6", "[0,24]") "}", 24, "'shape' of tensor 'a' is not an array"},
    {"{" M "," T("a", "F32", "[-6]", "[0,24]") "}", 24, "shape[0] is not a non-negative integer"},
    {"{" M "," T("a", "F32", "[2,1.5]", "[0,24]") "}", 24, "shape[1] is not a non-negative integer"},
    {"{" M "," T("a", "F32", "[\"6\"]", "[0,24]") "}", 24, "shape[0] is not a non-negative integer"},
    {"{" M "," T("a", "F32", "[1e400]", "[0,24]") "}", 24, "shape[0] is not a non-negative integer"},
    {"{" M "," T("a", "F32", "[1,1,1,1,6]", "[0,24]") "}", 24, "more than the 4 supported"},
    {"{" M "," T("a", "F32", "[6]", "[0,\"24\"]") "}", 24, "'data_offsets' must be [begin, end]"},
    {"{" M "," T("a", "F32", "[6]", "[0,24,24]") "}", 24, "'data_offsets' must be [begin, end]"},
    {"{" M "," T("a", "F32", "[6]", "[0]") "}", 24, "'data_offsets' must be [begin, end]"},
    {"{" M "," T("a", "F32", "[6]", "{}") "}", 24, "'data_offsets' must be [begin, end]"},
    {"{" M "," T("a", "F32", "[6]", "[-4,20]") "}", 24, "'data_offsets' must be [begin, end]"},
    {"{" M "," T("a", "F32", "[6]", "[24,0]") "}", 24, "end 0 < begin 24"},
    {"{" M "," T("a", "F32", "[8]", "[0,32]") "}", 24, "end 32 is beyond the data section (24 bytes)"},
    {"{" M "," T("a", "F32", "[6]", "[0,1e300]") "}", 24, "'data_offsets' must be [begin, end]"},
    {"{" M "," T("a", "F32", "[5]", "[0,24]") "}", 24, "span 24 bytes but its F32 shape needs 20"},
    {"{" M "," T("a", "F32", "[4294967296,4294967296,4294967296]", "[0,24]") "}", 24, "shape overflows"},
    {"{" M "," T("a", "F32", "[9007199254740992]", "[0,24]") "}", 24, "shape overflows"},
    {"{" M "," T("a", "F32", "[1]", "[2,6]") "," T("b", "F32", "[4]", "[8,24]") "}", 24, "begin 2 is not a multiple of 4"},
    {"{" M "," T("a", "F32", "[4]", "[0,16]") "," T("b", "F32", "[4]", "[8,24]") "}", 24, "tensors 'a' and 'b' overlap"},
    {"{" M "," T("b", "F32", "[4]", "[8,24]") "," T("a", "F32", "[4]", "[0,16]") "}", 24, "tensors 'a' and 'b' overlap"},
    {"{" M "," T("a", "F32", "[6]", "[0,24]") "," T("b", "F32", "[6]", "[0,24]") "}", 24, "overlap"},
    {"{" M "," T("a", "F32", "[4]", "[0,16]") "," T("z", "F32", "[0]", "[8,8]") "," T("b", "F32", "[2]", "[16,24]") "}", 24, "overlap"},
    {"{" M "," T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[16,24]") "}", 24, "hole in the data section: bytes 8..16"},
    {"{" M "," T("a", "F32", "[2]", "[8,16]") "," T("b", "F32", "[2]", "[16,24]") "}", 24, "hole in the data section: bytes 0..8"},
    {"{" M "," T("a", "F32", "[4]", "[0,16]") "}", 24, "hole in the data section: bytes 16..24"},
    {"{" M "}", 24, "hole in the data section: bytes 0..24"},
    {"{" M "," T("a", "F32", "[6]", "[0,24]") "," T("a", "F32", "[0]", "[24,24]") "}", 24, "duplicate tensor name 'a'"},
    {"{" M "," M "," T("a", "F32", "[6]", "[0,24]") "}", 24, "duplicate __metadata__"},
    {"{\"__metadata__\":\"x\"," T("a", "F32", "[6]", "[0,24]") "}", 24, "__metadata__ is not an object"},
    {"{\"__metadata__\":[\"@CRC@\"]," T("a", "F32", "[6]", "[0,24]") "}", 24, "__metadata__ is not an object"},
    {"{\"__metadata__\":{\"checksum\":\"@CRC@\",\"step\":3}," T("a", "F32", "[6]", "[0,24]") "}", 24,
     "__metadata__ value for key 'step' is not a string"},
    {"{\"__metadata__\":{\"checksum\":\"@CRC@\",\"k\":\"1\",\"k\":\"2\"}," T("a", "F32", "[6]", "[0,24]") "}", 24,
     "duplicate __metadata__ key 'k'"},
    {"{" T("a", "F32", "[6]", "[0,24]") "}", 24, "missing 'checksum'"},
    {"{\"__metadata__\":{\"format\":\"dptrain-1\"}," T("a", "F32", "[6]", "[0,24]") "}", 24, "missing 'checksum'"},
    {"{\"__metadata__\":{\"checksum\":\"00000000\"}," T("a", "F32", "[6]", "[0,24]") "}", 24,
     "file is corrupted: checksum mismatch"},
    {"{\"__metadata__\":{\"checksum\":\"xyz\"}," T("a", "F32", "[6]", "[0,24]") "}", 24, "malformed checksum"},
    {"{\"__metadata__\":{\"checksum\":\"@CRC@ \"}," T("a", "F32", "[6]", "[0,24]") "}", 24, "malformed checksum"},
    {"{" M "," T("a\\n", "F32", "[6]", "[0,24]") "}", 24, "control character"},
    {"{" M "," T("\xff", "F32", "[6]", "[0,24]") "}", 24, "not valid UTF-8"},
    {"{" M "," T("\xc0\xa0", "F32", "[6]", "[0,24]") "}", 24, "not valid UTF-8"},
};

START_TEST(bad_header)
{
    float d[6] = {1, 2, 3, 4, 5, 6};
    char p[256];
    snprintf(p, sizeof p, "%s/bad%d.safetensors", dir, _i);
    craft(p, bad[_i].json, d, bad[_i].dlen);
    expect_fail(p, bad[_i].phrase);
}
END_TEST

/* Guards the table above: its JSON with the defect repaired reads fine, so a
 * failure there is the defect's doing, not the crafting's. */
START_TEST(crafted_baseline)
{
    float d[6] = {1, 2, 3, 4, 5, 6};
    char p[256];
    fixture(p, sizeof p, "base.safetensors");
    craft(p, "{" M "," T("a", "F32", "[4]", "[0,16]") "," T("z", "F32", "[0]", "[16,16]") ","
              T("b", "F32", "[2]", "[16,24]") "}", d, sizeof d);
    dpt_ckpt c;
    dpt_err e = {0};
    ck_assert_msg(dpt_ckpt_read(&c, p, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(c.nt, 3);
    ck_assert_str_eq(c.t[1].name, "z");
    ck_assert(c.t[2].data[1] == 6.0f);
    dpt_ckpt_free(&c);
}
END_TEST

START_TEST(bad_length_field)
{
    char p[256];
    fixture(p, sizeof p, "len.safetensors");
    unsigned char b[64] = {0};
    put_bytes(p, b, 0);
    expect_fail(p, "shorter than the 8-byte header length");
    put_bytes(p, b, 5);
    expect_fail(p, "shorter than the 8-byte header length");
    put_bytes(p, b, 40);
    expect_fail(p, "header length 0");
    uint64_t n = 1000;
    memcpy(b, &n, 8);
    put_bytes(p, b, 50);
    expect_fail(p, "larger than the file");
    n = 43; /* one past the end */
    memcpy(b, &n, 8);
    put_bytes(p, b, 50);
    expect_fail(p, "larger than the file");
    n = 200u * 1000 * 1000;
    memcpy(b, &n, 8);
    put_bytes(p, b, 50);
    expect_fail(p, "100 MB");
    n = UINT64_MAX;
    memcpy(b, &n, 8);
    put_bytes(p, b, 50);
    expect_fail(p, "100 MB");
    n = 4; /* "{}\0\0": a NUL inside the header */
    memcpy(b, &n, 8);
    memcpy(b + 8, "{}\0\0", 4);
    put_bytes(p, b, 12);
    expect_fail(p, "not valid UTF-8");

    char q[256];
    fixture(q, sizeof q, "missing.safetensors");
    expect_fail(q, "cannot open");
    expect_fail(dir, "not a regular file");
}
END_TEST

static void write_sample(const char *p, float first, int n)
{
    float *w = malloc((size_t)n * sizeof *w);
    for (int i = 0; i < n; i++) w[i] = first + (float)i;
    dpt_ckpt_tensor t[2] = {{"w", 2, {n / 2, 2}, w}, {"b", 1, {2}, w}};
    dpt_ckpt_meta m = {"step", "7"};
    dpt_err e = {0};
    ck_assert_msg(dpt_ckpt_write(p, t, 2, &m, 1, &e) == DPT_OK, "%s", e.msg);
    free(w);
}

static void expect_sample(const char *p, float first, int n)
{
    dpt_ckpt c;
    dpt_err e = {0};
    ck_assert_msg(dpt_ckpt_read(&c, p, &e) == DPT_OK, "%s", e.msg);
    const dpt_ckpt_tensor *w = dpt_ckpt_find(&c, "w");
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(w->shape[0] * w->shape[1], n);
    for (int i = 0; i < n; i++) ck_assert(w->data[i] == first + (float)i);
    dpt_ckpt_free(&c);
}

START_TEST(corruption_and_truncation)
{
    char p[256], q[256];
    fixture(p, sizeof p, "good.safetensors");
    fixture(q, sizeof q, "mangled.safetensors");
    write_sample(p, 1.0f, 8);
    size_t len;
    unsigned char *raw = get_bytes(p, &len);
    uint64_t n;
    memcpy(&n, raw, 8);

    /* One flipped bit anywhere in the data section is caught. */
    for (size_t i = 8 + n; i < len; i++) {
        raw[i] ^= 0x10;
        put_bytes(q, raw, len);
        expect_fail(q, "checksum mismatch");
        raw[i] ^= 0x10;
    }
    /* Every truncation fails. */
    for (size_t l = 0; l < len; l++) {
        put_bytes(q, raw, l);
        dpt_ckpt c;
        dpt_err e = {0};
        ck_assert_msg(dpt_ckpt_read(&c, q, &e) == DPT_FAIL, "truncated to %zu bytes but read", l);
        ck_assert(strstr(e.msg, q));
        ck_assert(is_zeroed(&c));
    }
    put_bytes(q, raw, 8 + n + 4);
    expect_fail(q, "beyond the data section");
    put_bytes(q, raw, 8 + n - 1);
    expect_fail(q, "larger than the file");
    /* Every byte of the header changed: never a crash or a leak (ASan), and a
     * success only with the tensors intact. */
    for (size_t i = 0; i < 8 + n; i++) {
        for (int v = 0; v < 3; v++) {
            unsigned char old = raw[i];
            raw[i] = (unsigned char[]){'0', '}', 0xff}[v];
            put_bytes(q, raw, len);
            dpt_ckpt c;
            dpt_err e = {0};
            if (dpt_ckpt_read(&c, q, &e) == DPT_OK) {
                /* only a name or metadata can have changed */
                ck_assert_int_eq(c.nt, 2);
                ck_assert(c.t[0].ndim == 2 && c.t[0].shape[0] == 4 && c.t[0].data[7] == 8.0f);
            } else {
                ck_assert(strstr(e.msg, q));
            }
            dpt_ckpt_free(&c);
            raw[i] = old;
        }
    }
    free(raw);
}
END_TEST

START_TEST(write_rejects_bad_input)
{
    float w[4] = {0};
    char p[256];
    fixture(p, sizeof p, "rej.safetensors");
    dpt_err e = {0};
    dpt_ckpt_tensor ok = {"w", 1, {4}, w};
    dpt_ckpt_meta cs = {"checksum", "12345678"};
    ck_assert_int_eq(dpt_ckpt_write(p, &ok, 1, &cs, 1, &e), DPT_FAIL);
    ck_assert(strstr(e.msg, "checksum") && strstr(e.msg, p));
    dpt_ckpt_meta dup[2] = {{"k", "1"}, {"k", "2"}};
    ck_assert_int_eq(dpt_ckpt_write(p, &ok, 1, dup, 2, &e), DPT_FAIL);
    ck_assert(strstr(e.msg, "duplicate metadata key 'k'"));
    dpt_ckpt_tensor two[2] = {ok, ok};
    ck_assert_int_eq(dpt_ckpt_write(p, two, 2, NULL, 0, &e), DPT_FAIL);
    ck_assert(strstr(e.msg, "duplicate tensor name 'w'"));
    dpt_ckpt_tensor neg = {"w", 1, {-1}, w}, deep = {"w", 5, {1}, w}, nodata = {"w", 1, {4}, NULL};
    dpt_ckpt_tensor meta_name = {"__metadata__", 1, {4}, w}, nl = {"a\nb", 1, {4}, w};
    ck_assert_int_eq(dpt_ckpt_write(p, &neg, 1, NULL, 0, &e), DPT_FAIL);
    ck_assert(strstr(e.msg, "negative"));
    ck_assert_int_eq(dpt_ckpt_write(p, &deep, 1, NULL, 0, &e), DPT_FAIL);
    ck_assert_int_eq(dpt_ckpt_write(p, &nodata, 1, NULL, 0, &e), DPT_FAIL);
    ck_assert(strstr(e.msg, "no data"));
    ck_assert_int_eq(dpt_ckpt_write(p, &meta_name, 1, NULL, 0, &e), DPT_FAIL);
    ck_assert_int_eq(dpt_ckpt_write(p, &nl, 1, NULL, 0, &e), DPT_FAIL);
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(tmp_files_left(), 0);
}
END_TEST

START_TEST(write_fails_cleanly)
{
    float w[2] = {1, 2};
    dpt_ckpt_tensor t = {"w", 1, {2}, w};
    dpt_err e = {0};
    char p[256];

    fixture(p, sizeof p, "no/such/dir/x.safetensors");
    ck_assert_int_eq(dpt_ckpt_write(p, &t, 1, NULL, 0, &e), DPT_FAIL);
    ck_assert(strstr(e.msg, p) && strstr(e.msg, strerror(ENOENT)));

    /* /proc takes no new files, even from root. */
    const char *ro = "/proc/dptrain_ckpt_test.safetensors";
    ck_assert_int_eq(dpt_ckpt_write(ro, &t, 1, NULL, 0, &e), DPT_FAIL);
    ck_assert(strstr(e.msg, ro));
    ck_assert_int_eq(access(ro, F_OK), -1);

    /* A directory at the target: the rename fails and the temp file goes. */
    fixture(p, sizeof p, "adir");
    ck_assert_int_eq(mkdir(p, 0755), 0);
    ck_assert_int_eq(dpt_ckpt_write(p, &t, 1, NULL, 0, &e), DPT_FAIL);
    ck_assert(strstr(e.msg, p) && strstr(e.msg, "rename"));
    ck_assert_int_eq(tmp_files_left(), 0);
}
END_TEST

START_TEST(failed_write_keeps_old_file)
{
    char p[256], tmp[300];
    fixture(p, sizeof p, "keep.safetensors");
    write_sample(p, 1.0f, 8);

    /* A directory where the temporary file must go. */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    ck_assert_int_eq(mkdir(tmp, 0755), 0);
    float w[4] = {5, 6, 7, 8};
    dpt_ckpt_tensor t = {"w", 2, {2, 2}, w};
    dpt_err e = {0};
    ck_assert_int_eq(dpt_ckpt_write(p, &t, 1, NULL, 0, &e), DPT_FAIL);
    ck_assert(strstr(e.msg, p) && strstr(e.msg, "temporary"));
    expect_sample(p, 1.0f, 8);
    struct stat st;
    ck_assert_int_eq(stat(tmp, &st), 0); /* someone else's directory is not ours to remove */
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(rmdir(tmp), 0);

    /* A full disk, simulated with a file size limit: the write comes up short,
     * then fails with EFBIG. Done in a child so the limit does not leak. */
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit rl = {4096, 4096};
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
        int n = 1 << 16;
        float *big = calloc((size_t)n, sizeof *big);
        dpt_ckpt_tensor bt = {"w", 2, {n / 2, 2}, big};
        dpt_err ce = {0};
        int rc = dpt_ckpt_write(p, &bt, 1, NULL, 0, &ce);
        free(big);
        _exit(rc == DPT_FAIL && strstr(ce.msg, p) && strstr(ce.msg, strerror(EFBIG)) ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    expect_sample(p, 1.0f, 8);
    ck_assert_int_eq(tmp_files_left(), 0);

    /* And a successful write does replace it. */
    write_sample(p, 10.0f, 6);
    expect_sample(p, 10.0f, 6);
}
END_TEST

/* dpt_read_file, which checkpoints and study files are read through: whole contents, a NUL after
 * them, the size cap, and errors naming the path. */
START_TEST(read_file)
{
    char p[256];
    fixture(p, sizeof p, "whole.bin");
    put_bytes(p, "ab\0cd", 5);
    char *buf;
    size_t len;
    dpt_err e = {0};
    ck_assert_int_eq(dpt_read_file(p, 5, &buf, &len, &e), DPT_OK);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(buf, "ab\0cd", 6) == 0); /* and the NUL appended */
    free(buf);
    ck_assert_int_eq(dpt_read_file(p, 4, &buf, &len, &e), DPT_FAIL);
    ck_assert_ptr_null(buf);
    char want[512];
    snprintf(want, sizeof want, "%s: cannot read: larger than 4 bytes", p);
    ck_assert_str_eq(e.msg, want);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, no_tensors);
    tcase_add_test(tc, crafted_valid_unaligned);
    tcase_add_test(tc, crafted_baseline);
    tcase_add_loop_test(tc, bad_header, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, bad_length_field);
    tcase_add_test(tc, corruption_and_truncation);
    tcase_add_test(tc, write_rejects_bad_input);
    tcase_add_test(tc, write_fails_cleanly);
    tcase_add_test(tc, failed_write_keeps_old_file);
    tcase_add_test(tc, read_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return dpt_test_run(suite());
}
