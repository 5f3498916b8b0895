/* Checkpoints as safetensors files (huggingface/safetensors format): an
 * 8-byte little-endian header length N, N bytes of UTF-8 JSON padded with
 * spaces so the data section starts 8-aligned, then the tensors' float32
 * bytes back to back in the order given. The writer adds two __metadata__
 * entries, "format" = "dptrain-1" and "checksum" = CRC32 of the data section,
 * and replaces the file atomically (temporary file, fsync, rename, fsync of
 * the directory). The reader treats the file as hostile: every length, offset
 * and shape is checked (with overflow checks) before it is used, the tensors
 * must tile the data section exactly, and the checksum must match. */
#include "dptrain/checkpoint.h"
#include "dptrain/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zlib.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "checkpoint.c writes float32 with memcpy: little-endian hosts only");
_Static_assert(sizeof(float) == 4, "float must be IEEE binary32");

/* The reference implementation's limit: a bigger header is an attack, not a model. */
#define MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Integers above 2^53 do not survive cJSON's doubles; no real file comes near. */
#define MAX_INT ((uint64_t)1 << 53)

static const char *K_CHECKSUM = "checksum", *K_FORMAT = "format", *FORMAT = "dptrain-1";

/* ---- shared helpers ---- */

static uint32_t crc_of(const unsigned char *p, uint64_t n, uint32_t crc)
{
    if (n == 0) return crc; /* zlib answers 0 for a NULL buffer, whatever crc was */
    return (uint32_t)crc32_z(crc, p, (z_size_t)n);
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF) and no NUL,
 * which would silently cut a C string short. */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c == 0) return 0;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) k = 1;
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else return 0;
        if (n - i - 1 < k) return 0;
        for (size_t j = 1; j <= k; j++) {
            unsigned d = s[i + j];
            if (j == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return 0;
        }
        i += k + 1;
    }
    return 1;
}

/* Names and keys end up in one-line error messages: no control characters. */
static int name_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
    return 1;
}

static int str_ok(const char *s) { return utf8_ok((const unsigned char *)s, strlen(s)); }

/* product(shape) * 4 into *bytes; 0 on overflow past MAX_INT. */
static int tensor_bytes(int ndim, const int64_t *shape, uint64_t *bytes)
{
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && n > MAX_INT / d) return 0;
        n *= d;
    }
    if (n > MAX_INT / 4) return 0;
    *bytes = n * 4;
    return 1;
}

/* ---- writing ---- */

static int add_int(cJSON *arr, uint64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, v);
    /* Raw keeps large integers exact; cJSON would print them via double. */
    cJSON *it = cJSON_CreateRaw(s);
    if (!it) return 0;
    if (!cJSON_AddItemToArray(arr, it)) { cJSON_Delete(it); return 0; }
    return 1;
}

static int check_inputs(const char *path, const dpt_ckpt_tensor *t, int nt,
                        const dpt_ckpt_meta *meta, int nmeta, uint64_t *nbytes, dpt_err *e)
{
    for (int i = 0; i < nt; i++) {
        const char *nm = t[i].name;
        if (!nm || !*nm || !name_ok(nm) || !str_ok(nm))
            return dpt_errf(e, "%s: tensor %d has an empty or non-UTF-8 name or one with control characters", path, i);
        if (!strcmp(nm, "__metadata__"))
            return dpt_errf(e, "%s: tensor %d may not be named '__metadata__'", path, i);
        for (int j = 0; j < i; j++)
            if (!strcmp(nm, t[j].name)) return dpt_errf(e, "%s: duplicate tensor name '%s'", path, nm);
        if (t[i].ndim < 0 || t[i].ndim > DPT_CKPT_MAX_DIMS)
            return dpt_errf(e, "%s: tensor '%s' has %d dims; 0..%d supported", path, nm, t[i].ndim, DPT_CKPT_MAX_DIMS);
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] < 0)
                return dpt_errf(e, "%s: tensor '%s' has negative dim %" PRId64, path, nm, t[i].shape[d]);
        if (!tensor_bytes(t[i].ndim, t[i].shape, &nbytes[i]))
            return dpt_errf(e, "%s: tensor '%s': shape too large", path, nm);
        if (nbytes[i] > 0 && !t[i].data)
            return dpt_errf(e, "%s: tensor '%s' has no data", path, nm);
    }
    for (int i = 0; i < nmeta; i++) {
        const char *k = meta[i].key, *v = meta[i].value;
        if (!k || !*k || !v || !name_ok(k) || !str_ok(k) || !str_ok(v))
            return dpt_errf(e, "%s: metadata entry %d: empty or non-UTF-8 key or value, or control characters in key", path, i);
        if (!strcmp(k, K_CHECKSUM) || !strcmp(k, K_FORMAT))
            return dpt_errf(e, "%s: metadata key '%s' is reserved for the writer", path, k);
        for (int j = 0; j < i; j++)
            if (!strcmp(k, meta[j].key)) return dpt_errf(e, "%s: duplicate metadata key '%s'", path, k);
    }
    return DPT_OK;
}

/* The padded header (length field + JSON + spaces) in a fresh buffer, or NULL. */
static unsigned char *build_header(const dpt_ckpt_tensor *t, int nt, const uint64_t *nbytes,
                                   const dpt_ckpt_meta *meta, int nmeta, uint32_t crc, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(root, "__metadata__");
    int ok = md != NULL;
    char hex[9];
    snprintf(hex, sizeof hex, "%08" PRIx32, crc);
    for (int i = 0; ok && i < nmeta; i++) ok = cJSON_AddStringToObject(md, meta[i].key, meta[i].value) != NULL;
    ok = ok && cJSON_AddStringToObject(md, K_FORMAT, FORMAT) && cJSON_AddStringToObject(md, K_CHECKSUM, hex);
    uint64_t off = 0;
    for (int i = 0; ok && i < nt; i++) {
        cJSON *o = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        ok = o && sh && cJSON_AddStringToObject(o, "dtype", "F32");
        for (int d = 0; ok && d < t[i].ndim; d++) ok = add_int(sh, (uint64_t)t[i].shape[d]);
        cJSON *of = ok ? cJSON_AddArrayToObject(o, "data_offsets") : NULL;
        ok = of && add_int(of, off) && add_int(of, off + nbytes[i]);
        off += nbytes[i];
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return NULL;
    size_t n = strlen(json), padded = (n + 7) & ~(size_t)7;
    unsigned char *h = malloc(8 + padded);
    if (h) {
        uint64_t le = padded;
        memcpy(h, &le, 8);
        memcpy(h + 8, json, n);
        memset(h + 8 + n, ' ', padded - n);
        *len = 8 + padded;
    }
    cJSON_free(json);
    return h;
}

/* 0 or an errno; loops over short writes so that the real error surfaces. */
int dpt_ckpt_write(const char *path, const dpt_ckpt_tensor *t, int nt,
                   const dpt_ckpt_meta *meta, int nmeta, dpt_err *e)
{
    if (!path || !*path) return dpt_errf(e, "checkpoint: empty path");
    if (nt < 0 || (nt > 0 && !t) || nmeta < 0 || (nmeta > 0 && !meta))
        return dpt_errf(e, "%s: bad tensor or metadata list (nt=%d, nmeta=%d)", path, nt, nmeta);
    uint64_t *nbytes = calloc((size_t)nt + 1, sizeof *nbytes);
    if (!nbytes) return dpt_errf(e, "%s: out of memory", path);
    if (check_inputs(path, t, nt, meta, nmeta, nbytes, e)) { free(nbytes); return DPT_FAIL; }

    uint32_t crc = (uint32_t)crc32_z(0, Z_NULL, 0);
    for (int i = 0; i < nt; i++) crc = crc_of((const unsigned char *)t[i].data, nbytes[i], crc);
    size_t hlen = 0;
    unsigned char *hdr = build_header(t, nt, nbytes, meta, nmeta, crc, &hlen);
    const void **parts = malloc(sizeof *parts * ((size_t)nt + 1));
    size_t *lens = malloc(sizeof *lens * ((size_t)nt + 1));
    int rc = DPT_FAIL;
    if (!hdr || !parts || !lens) {
        rc = dpt_errf(e, "%s: out of memory", path);
    } else {
        parts[0] = hdr;
        lens[0] = hlen;
        for (int i = 0; i < nt; i++) {
            parts[i + 1] = t[i].data;
            lens[i + 1] = (size_t)nbytes[i];
        }
        rc = dpt_write_atomic_parts(path, parts, lens, nt + 1, e);
    }
    free(parts);
    free(lens);
    free(hdr);
    free(nbytes);
    return rc;
}

/* ---- reading ---- */

typedef struct {
    const char *name;   /* points into the cJSON tree until copied */
    int order;          /* position in the header */
    int ndim;
    int64_t shape[DPT_CKPT_MAX_DIMS];
    uint64_t begin, end;
} entry;

/* A JSON number that is an exact integer in [0, 2^53]. */
static int as_u64(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= (double)MAX_INT)) return 0; /* also rejects NaN */
    uint64_t v = (uint64_t)d;
    if ((double)v != d) return 0;
    *out = v;
    return 1;
}

static int cmp_offsets(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int cmp_order(const void *a, const void *b)
{
    return ((const entry *)a)->order - ((const entry *)b)->order;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int parse_tensor(const char *path, const cJSON *j, uint64_t datalen, entry *en, dpt_err *e)
{
    const char *nm = j->string;
    en->name = nm;
    if (!name_ok(nm)) return dpt_errf(e, "%s: a tensor name contains a control character", path);
    if (!cJSON_IsObject(j)) return dpt_errf(e, "%s: tensor '%s' is not an object", path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!dt) return dpt_errf(e, "%s: tensor '%s' has no 'dtype'", path, nm);
    if (!sh) return dpt_errf(e, "%s: tensor '%s' has no 'shape'", path, nm);
    if (!of) return dpt_errf(e, "%s: tensor '%s' has no 'data_offsets'", path, nm);
    if (!cJSON_IsString(dt)) return dpt_errf(e, "%s: 'dtype' of tensor '%s' is not a string", path, nm);
    if (strcmp(dt->valuestring, "F32") != 0)
        return dpt_errf(e, "%s: unknown dtype '%.16s' for tensor '%s' (only F32 is supported)",
                        path, name_ok(dt->valuestring) ? dt->valuestring : "?", nm);
    if (!cJSON_IsArray(sh)) return dpt_errf(e, "%s: 'shape' of tensor '%s' is not an array", path, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > DPT_CKPT_MAX_DIMS)
        return dpt_errf(e, "%s: tensor '%s' has %d dims, more than the %d supported", path, nm, nd, DPT_CKPT_MAX_DIMS);
    en->ndim = nd;
    int d = 0;
    for (const cJSON *x = sh->child; x; x = x->next, d++) {
        uint64_t v;
        if (!as_u64(x, &v))
            return dpt_errf(e, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, nm, d);
        en->shape[d] = (int64_t)v;
    }
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || !as_u64(of->child, &en->begin) ||
        !as_u64(of->child->next, &en->end))
        return dpt_errf(e, "%s: tensor '%s': 'data_offsets' must be [begin, end] with non-negative integers", path, nm);
    if (en->end < en->begin)
        return dpt_errf(e, "%s: tensor '%s': data_offsets end %" PRIu64 " < begin %" PRIu64, path, nm, en->end, en->begin);
    if (en->end > datalen)
        return dpt_errf(e, "%s: tensor '%s': data_offsets end %" PRIu64 " is beyond the data section (%" PRIu64 " bytes)",
                        path, nm, en->end, datalen);
    uint64_t need;
    if (!tensor_bytes(en->ndim, en->shape, &need))
        return dpt_errf(e, "%s: tensor '%s': shape overflows", path, nm);
    if (en->end - en->begin != need)
        return dpt_errf(e, "%s: tensor '%s': data_offsets span %" PRIu64 " bytes but its F32 shape needs %" PRIu64,
                        path, nm, en->end - en->begin, need);
    if (en->begin % 4)
        return dpt_errf(e, "%s: tensor '%s': data_offsets begin %" PRIu64 " is not a multiple of 4", path, nm, en->begin);
    return DPT_OK;
}

/* Safetensors forbids overlaps and holes: sorted by offset, each tensor starts where the last ended. */
static int check_tiling(const char *path, entry *s, int nt, uint64_t datalen, dpt_err *e)
{
    qsort(s, (size_t)nt, sizeof *s, cmp_offsets);
    uint64_t pos = 0;
    const char *last = NULL;
    for (int i = 0; i < nt; i++) {
        if (s[i].begin > pos)
            return dpt_errf(e, "%s: hole in the data section: bytes %" PRIu64 "..%" PRIu64 " belong to no tensor",
                            path, pos, s[i].begin);
        if (s[i].begin < pos)
            return dpt_errf(e, "%s: tensors '%s' and '%s' overlap", path, last ? last : "?", s[i].name);
        pos = s[i].end;
        if (s[i].end > s[i].begin) last = s[i].name;
    }
    if (pos != datalen)
        return dpt_errf(e, "%s: hole in the data section: bytes %" PRIu64 "..%" PRIu64 " at its end belong to no tensor",
                        path, pos, datalen);
    return DPT_OK;
}

static int parse_meta(const char *path, const cJSON *md, dpt_err *e)
{
    if (!md) return dpt_errf(e, "%s: missing 'checksum' in __metadata__ (no __metadata__ at all)", path);
    if (!cJSON_IsObject(md)) return dpt_errf(e, "%s: __metadata__ is not an object", path);
    for (const cJSON *x = md->child; x; x = x->next) {
        if (!name_ok(x->string)) return dpt_errf(e, "%s: a __metadata__ key contains a control character", path);
        if (!cJSON_IsString(x))
            return dpt_errf(e, "%s: __metadata__ value for key '%s' is not a string", path, x->string);
        for (const cJSON *y = md->child; y != x; y = y->next)
            if (!strcmp(x->string, y->string)) return dpt_errf(e, "%s: duplicate __metadata__ key '%s'", path, x->string);
    }
    return DPT_OK;
}

static int check_sum(const char *path, const cJSON *md, const unsigned char *data, uint64_t datalen, dpt_err *e)
{
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(md, K_CHECKSUM);
    if (!cs) return dpt_errf(e, "%s: missing 'checksum' in __metadata__", path);
    const char *s = cs->valuestring;
    int ok = strlen(s) == 8;
    for (int i = 0; ok && i < 8; i++) ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (!ok) return dpt_errf(e, "%s: malformed checksum '%.16s' in __metadata__ (want 8 lowercase hex digits)",
                             path, name_ok(s) ? s : "?");
    uint32_t want = (uint32_t)strtoul(s, NULL, 16);
    uint32_t got = crc_of(data, datalen, (uint32_t)crc32_z(0, Z_NULL, 0));
    if (want != got)
        return dpt_errf(e, "%s: file is corrupted: checksum mismatch (header says %s, data gives %08" PRIx32 ")",
                        path, s, got);
    return DPT_OK;
}

/* Copies names, metadata and (when misaligned) the data into memory c owns. */
static int assemble(dpt_ckpt *c, const char *path, unsigned char *buf, size_t len, size_t data_at,
                    const entry *en, int nt, const cJSON *md, dpt_err *e)
{
    size_t names = 0, at = len, mbytes = 0;
    uint64_t datalen = len - data_at;
    for (int i = 0; i < nt; i++) names += strlen(en[i].name) + 1;
    int moved = data_at % 4 != 0;
    if (moved) at = ((len + 3) & ~(size_t)3) + datalen; /* floats need a 4-aligned start */
    unsigned char *b = realloc(buf, at + names + 1);
    if (!b) { free(buf); return dpt_errf(e, "%s: out of memory", path); }
    c->buf = b;
    c->len = len;
    unsigned char *data = b + data_at;
    if (moved) data = memcpy(b + ((len + 3) & ~(size_t)3), b + data_at, datalen);

    int nmeta = cJSON_GetArraySize(md);
    for (const cJSON *x = md->child; x; x = x->next) mbytes += strlen(x->string) + strlen(x->valuestring) + 2;
    c->t = calloc((size_t)nt + 1, sizeof *c->t);
    c->meta = malloc((size_t)nmeta * sizeof *c->meta + mbytes + 1);
    if (!c->t || !c->meta) return dpt_errf(e, "%s: out of memory", path);

    char *p = (char *)b + at;
    for (int i = 0; i < nt; i++) {
        dpt_ckpt_tensor *t = &c->t[i];
        size_t n = strlen(en[i].name) + 1;
        t->name = memcpy(p, en[i].name, n);
        p += n;
        t->ndim = en[i].ndim;
        memcpy(t->shape, en[i].shape, sizeof t->shape);
        t->data = (const float *)(const void *)(data + en[i].begin);
    }
    c->nt = nt;
    char *q = (char *)(c->meta + nmeta);
    int k = 0;
    for (const cJSON *x = md->child; x; x = x->next, k++) {
        size_t a = strlen(x->string) + 1, v = strlen(x->valuestring) + 1;
        c->meta[k].key = memcpy(q, x->string, a);
        c->meta[k].value = memcpy(q + a, x->valuestring, v);
        q += a + v;
    }
    c->nmeta = nmeta;
    return DPT_OK;
}

static int parse(dpt_ckpt *c, const char *path, unsigned char *buf, size_t len, dpt_err *e)
{
    if (len < 8) {
        free(buf);
        return dpt_errf(e, "%s: file is %zu bytes, shorter than the 8-byte header length", path, len);
    }
    uint64_t n;
    memcpy(&n, buf, 8);
    int rc = DPT_FAIL;
    char *hdr = NULL;
    cJSON *root = NULL;
    entry *en = NULL;
    if (n == 0) { dpt_errf(e, "%s: header length 0: the file has no JSON header", path); goto fail; }
    if (n > MAX_HEADER) {
        dpt_errf(e, "%s: header length %" PRIu64 " is absurd (over the 100 MB limit)", path, n);
        goto fail;
    }
    if (n > len - 8) {
        dpt_errf(e, "%s: header length %" PRIu64 " is larger than the file (%zu bytes after the length): truncated?",
                 path, n, len - 8);
        goto fail;
    }
    if (!utf8_ok(buf + 8, n)) { dpt_errf(e, "%s: header is not valid UTF-8 (or holds a NUL byte)", path); goto fail; }
    /* A NUL-terminated copy: cJSON then cannot wander into the data section. */
    if (!(hdr = malloc(n + 1))) { dpt_errf(e, "%s: out of memory", path); goto fail; }
    memcpy(hdr, buf + 8, n);
    hdr[n] = 0;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(hdr, n, &end, 0);
    if (!root) {
        dpt_errf(e, "%s: header is not valid JSON (error near header byte %td)", path, end ? end - hdr : (ptrdiff_t)-1);
        goto fail;
    }
    for (const char *p = end; p < hdr + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            dpt_errf(e, "%s: header is not valid JSON: trailing bytes after it at header byte %td", path, p - hdr);
            goto fail;
        }
    if (!cJSON_IsObject(root)) { dpt_errf(e, "%s: header is not a JSON object", path); goto fail; }

    size_t data_at = 8 + (size_t)n;
    uint64_t datalen = len - data_at;
    const cJSON *md = NULL;
    int nt = 0;
    for (const cJSON *x = root->child; x; x = x->next) {
        if (strcmp(x->string, "__metadata__") != 0) { nt++; continue; }
        if (md) { dpt_errf(e, "%s: duplicate __metadata__ key in header", path); goto fail; }
        md = x;
    }
    if (!(en = calloc((size_t)nt + 1, sizeof *en))) { dpt_errf(e, "%s: out of memory", path); goto fail; }
    int i = 0;
    for (const cJSON *x = root->child; x; x = x->next) {
        if (x == md) continue;
        en[i].order = i;
        if (parse_tensor(path, x, datalen, &en[i++], e)) goto fail;
    }
    qsort(en, (size_t)nt, sizeof *en, cmp_names);
    for (i = 1; i < nt; i++)
        if (!strcmp(en[i - 1].name, en[i].name)) { dpt_errf(e, "%s: duplicate tensor name '%s'", path, en[i].name); goto fail; }
    if (check_tiling(path, en, nt, datalen, e) || parse_meta(path, md, e) ||
        check_sum(path, md, buf + data_at, datalen, e))
        goto fail;
    /* Back to header order, which is the order the writer was given. */
    qsort(en, (size_t)nt, sizeof *en, cmp_order);
    rc = assemble(c, path, buf, len, data_at, en, nt, md, e);
    buf = NULL; /* assemble owns it now */
    if (rc) dpt_ckpt_free(c);
fail:
    free(buf);
    free(en);
    free(hdr);
    cJSON_Delete(root);
    return rc;
}

int dpt_ckpt_read(dpt_ckpt *c, const char *path, dpt_err *e)
{
    if (!c) return dpt_errf(e, "%s: no checkpoint to read into", path ? path : "checkpoint");
    memset(c, 0, sizeof *c);
    if (!path) return dpt_errf(e, "checkpoint: no path");
    char *buf = NULL;
    size_t len = 0;
    if (dpt_read_file(path, SIZE_MAX - 1, &buf, &len, e)) return DPT_FAIL;
    return parse(c, path, (unsigned char *)buf, len, e);
}

void dpt_ckpt_free(dpt_ckpt *c)
{
    if (!c) return;
    free(c->t);
    free(c->meta);
    free(c->buf);
    memset(c, 0, sizeof *c);
}

const dpt_ckpt_tensor *dpt_ckpt_find(const dpt_ckpt *c, const char *name)
{
    if (!c || !name) return NULL;
    for (int i = 0; i < c->nt; i++)
        if (!strcmp(c->t[i].name, name)) return &c->t[i];
    return NULL;
}

const char *dpt_ckpt_meta_get(const dpt_ckpt *c, const char *key)
{
    if (!c || !key) return NULL;
    for (int i = 0; i < c->nmeta; i++)
        if (!strcmp(c->meta[i].key, key)) return c->meta[i].value;
    return NULL;
}
