/* Reading an experiment: INI text (a file or a string) and --set overrides, applied through the
 * key table (config_keys.c). The reader is our own, not libinih's: Debian's libinih (55) is
 * built with a 200-byte line buffer on the stack and no realloc, and cuts a longer line into
 * pieces that it then reads as further lines with wrong numbers (a 5 000-character path gave a
 * 191-character value and an error on line 3). Paths and layer lists are longer than that; and
 * the rest of what we need (a line's number and full text for messages, "double quotes",
 * refusing a continuation line, reporting an empty unknown section at its line) inih does not
 * do. The reader keeps inih's rules, so experiment files read as before (only now a line is
 * read whole, however far its '=' or its first non-blank lies):
 * - a line's leading whitespace (and a UTF-8 byte order mark on line 1) is skipped; an empty
 *   line or one starting with ';' or '#' is a comment;
 * - "[name]" starts a section; "name = value" or "name : value" is a pair, the name ending at
 *   the first '=' or ':', the value at an inline comment (';' after whitespace), both trimmed;
 * - an indented line after a pair is read as more of that pair's value, and refused. */
#include "dptrain/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_keys.h"

enum { RAW_MAX = DPT_CFG_RAW_MAX, VALUE_SHOWN = DPT_CFG_VALUE_SHOWN, MSG_MAX = 400 };

typedef struct {
    dpt_config *c;      /* a copy, committed only when the whole text is good */
    FILE *f;            /* the source: a file ... */
    const char *s;      /* ... or text (next unread character) */
    int read_errno;     /* errno of a failed read, 0 if none */
    int line;           /* number of the line in raw */
    char raw[RAW_MAX];  /* that line, without its end of line */
    char sec[128];      /* the current section, "" before the first */
    char prev[RAW_MAX]; /* the name of the last pair since that section, "" if none */
    int seen[DPT_CONFIG_KEYS_MAX]; /* line that set each key, 0 = not yet */
    int err_line;       /* the error's line, 0 = none */
    char msg[MSG_MAX];
} reader_ctx;

static int fail(reader_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the error of the current line; reading stops there. */
static int fail(reader_ctx *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof x->msg, fmt, ap);
    va_end(ap);
    x->err_line = x->line;
    return DPT_FAIL;
}

/* Reads the next line into x->raw; 0 at the end of the text or on a read error. A line too
 * long or holding a NUL byte is an error (fail) and ends the text too. */
static int read_line(reader_ctx *x)
{
    size_t len = 0;
    int got = 0, nul = 0, too_long = 0, ch;
    for (;;) {
        if (x->f) {
            ch = getc(x->f);
            if (ch == EOF) {
                if (ferror(x->f))
                    x->read_errno = errno ? errno : EIO;
                break;
            }
        } else {
            if (!*x->s)
                break;
            ch = (unsigned char)*x->s++;
        }
        got = 1;
        if (ch == '\n')
            break;
        if (ch == '\0')
            nul = 1;
        if (len < RAW_MAX - 1)
            x->raw[len++] = (char)ch;
        else
            too_long = 1;
    }
    if (!got || x->read_errno)
        return 0;
    if (len && x->raw[len - 1] == '\r')
        len--;
    x->raw[len] = '\0';
    x->line++;
    if (too_long)
        return fail(x, "line longer than %d characters", RAW_MAX - 2), 0;
    if (nul)
        return fail(x, "NUL byte in line"), 0;
    return 1;
}

/* The first of chars in s, or an inline comment (';' after whitespace), or the end. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
    int was_space = 0;
    while (*s && !(chars && strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

/* Copies [b, t) without surrounding whitespace into out[n], cut to fit. */
static void copy_trimmed(char *out, size_t n, const char *b, const char *t)
{
    while (b < t && isspace((unsigned char)*b))
        b++;
    while (t > b && isspace((unsigned char)t[-1]))
        t--;
    size_t len = (size_t)(t - b) < n - 1 ? (size_t)(t - b) : n - 1;
    memcpy(out, b, len);
    out[len] = '\0';
}

/* The value after a pair's '=' or ':': up to an inline comment and trimmed, or "double quoted"
 * to keep spaces or " ;" (the closing quote followed by nothing but whitespace or a comment). */
static int extract_value(char *out, size_t n, const char *after)
{
    const char *v = after;
    while (isspace((unsigned char)*v))
        v++;
    if (*v != '"') {
        copy_trimmed(out, n, v, find_chars_or_comment(after, NULL));
        return 0;
    }
    for (const char *q = v + 1; *q; q++) {
        if (*q != '"')
            continue;
        const char *r = q + 1;
        while (isspace((unsigned char)*r))
            r++;
        if (*r == '\0' || (*r == ';' && r > q + 1)) {
            size_t len = (size_t)(q - v - 1) < n - 1 ? (size_t)(q - v - 1) : n - 1;
            memcpy(out, v + 1, len);
            out[len] = '\0';
            return 0;
        }
    }
    return -1;
}

static int on_indented(reader_ctx *x, const char *p);

/* A "[name]" line p (at its first non-blank): checked even where it is read as more of a value
 * (indented after a pair), so an unknown section, even an empty one, is told at its line. */
static int on_section(reader_ctx *x, const char *p, int indented)
{
    char name[sizeof x->sec], m[MSG_MAX];
    const char *q = find_chars_or_comment(p + 1, "]");
    if (*q != ']')
        return fail(x, "section header without a closing ']'");
    size_t len = (size_t)(q - p - 1) < sizeof name - 1 ? (size_t)(q - p - 1) : sizeof name - 1;
    memcpy(name, p + 1, len);
    name[len] = '\0';
    if (!dpt_cfgkey_is_section(name)) {
        dpt_cfgkey_unknown_section(m, sizeof m, name);
        return fail(x, "%s", m);
    }
    if (indented)
        return on_indented(x, p);
    memcpy(x->sec, name, sizeof name);
    x->prev[0] = '\0';
    return DPT_OK;
}

/* The pair name = value whose separator is at sep; sets the key. */
static int on_pair(reader_ctx *x, const char *name, const char *sep)
{
    char val[RAW_MAX], why[256], m[MSG_MAX];
    const char *sec = x->sec;
    if (!*name)
        return fail(x, "no key name before '%c'", *sep);
    if (extract_value(val, sizeof val, sep + 1))
        return fail(x, "%s.%s: value starts with '\"' but has no closing '\"'", sec, name);
    if (!*sec) {
        dpt_cfgkey_sectionless(m, sizeof m, name);
        return fail(x, "%s", m);
    }
    int i = dpt_cfgkey_find(sec, name);
    if (i < 0) {
        dpt_cfgkey_unknown_key(m, sizeof m, sec, name);
        return fail(x, "%s", m);
    }
    if (x->seen[i])
        return fail(x, "duplicate key %s.%s (first set on line %d)", sec, name, x->seen[i]);
    x->seen[i] = x->line;
    if (dpt_cfgkey_set(x->c, i, val, why, sizeof why))
        return fail(x, "%s.%s = '%.*s%s': %s", sec, name, VALUE_SHOWN, val, strlen(val) > VALUE_SHOWN ? "..." : "",
                    why);
    x->c->origin.line[i] = x->line;
    return DPT_OK;
}

/* An indented line p after pair x->prev: inih's continuation of that value, refused; only a
 * line that names the same key again reads as a pair (and so as a duplicate). */
static int on_indented(reader_ctx *x, const char *p)
{
    size_t k = strlen(x->prev);
    const char *q = p + k;
    int named = strncmp(p, x->prev, k) == 0;
    while (named && (*q == ' ' || *q == '\t'))
        q++;
    if (!named || (*q != '=' && *q != ':'))
        return fail(x, "indented line reads as more of %s%s%s; a value must fit on one line (remove the indentation)",
                    x->sec, *x->sec ? "." : "", x->prev);
    return on_pair(x, x->prev, q);
}

/* One line of x->raw. */
static int on_line(reader_ctx *x)
{
    const char *p = x->raw;
    if (x->line == 1 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (isspace((unsigned char)*p))
        p++;
    int indented = *x->prev && p > x->raw;
    if (*p == '\0' || *p == ';' || *p == '#')
        return DPT_OK;
    if (*p == '[')
        return on_section(x, p, indented);
    if (indented)
        return on_indented(x, p);
    const char *sep = find_chars_or_comment(p, "=:");
    if (*sep != '=' && *sep != ':')
        return fail(x, "expected [section], key = value or a comment");
    copy_trimmed(x->prev, sizeof x->prev, p, sep);
    return on_pair(x, x->prev, sep);
}

static int load(dpt_config *c, reader_ctx *x, const char *origin, dpt_err *e)
{
    dpt_config tmp = *c;
    x->c = &tmp;
    while (!x->err_line && read_line(x))
        on_line(x);
    if (x->read_errno)
        return dpt_errf(e, "%s: cannot read: %s", origin, strerror(x->read_errno));
    if (x->err_line)
        return dpt_errf(e, "%s:%d: %s", origin, x->err_line, x->msg);
    /* origin names one file: keys set by an earlier one keep only that they were set */
    for (int i = 0; i < dpt_config_nkeys() && strcmp(tmp.origin.file, origin) != 0; i++)
        if (tmp.origin.line[i] > 0 && !x->seen[i])
            tmp.origin.line[i] = DPT_FROM_EARLIER_FILE;
    snprintf(tmp.origin.file, sizeof tmp.origin.file, "%s", origin);
    *c = tmp;
    return DPT_OK;
}

/* What a path that is not a regular file is, for the refusal. */
static const char *not_regular(mode_t m)
{
    return S_ISREG(m) ? NULL : S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO"
         : S_ISCHR(m) || S_ISBLK(m) ? "a device" : "a socket";
}

int dpt_config_load_file(dpt_config *c, const char *path, dpt_err *e)
{
    /* Non-blocking: opening a FIFO for reading would wait for a writer. Then fstat before any
     * read: /dev/zero never ends, and a directory reads as an error only on some systems. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return dpt_errf(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    FILE *f = NULL;
    if (fstat(fd, &st) == 0 && not_regular(st.st_mode)) {
        close(fd);
        return dpt_errf(e, "%s: is %s, not an experiment file", path, not_regular(st.st_mode));
    }
    if (fcntl(fd, F_SETFL, 0) != 0 || !(f = fdopen(fd, "r"))) {
        int err = errno;
        close(fd);
        return dpt_errf(e, "%s: cannot open: %s", path, strerror(err));
    }
    reader_ctx x = {.f = f};
    int rc = load(c, &x, path, e);
    fclose(f);
    return rc;
}

int dpt_config_load_string(dpt_config *c, const char *text, const char *origin, dpt_err *e)
{
    reader_ctx x = {.s = text ? text : ""};
    return load(c, &x, origin ? origin : "<string>", e);
}

void dpt_config_set_name(char *out, size_t n, const char *a)
{
    if (n > 0)
        copy_trimmed(out, n, a, a + strcspn(a, "="));
}

int dpt_config_add_set(const char **sets, int *n, const char *a, dpt_err *e)
{
    if (*n >= DPT_CONFIG_SETS_MAX)
        return dpt_errf(e, "--set %.200s: more than %d --set options; put the rest in the experiment file", a,
                        DPT_CONFIG_SETS_MAX);
    sets[(*n)++] = a;
    return DPT_OK;
}

int dpt_config_set(dpt_config *c, const char *a, dpt_err *e)
{
    char name[128], sec[128], why[256], m[400];
    const char *eq = a ? strchr(a, '=') : NULL;
    if (!eq)
        return dpt_errf(e, "--set %.200s: expected section.key=value", a ? a : "(null)");

    dpt_config_set_name(name, sizeof name, a);
    const char *v = eq + 1;
    while (isspace((unsigned char)*v))
        v++;
    char val[RAW_MAX];
    size_t vl = strlen(v);
    while (vl && isspace((unsigned char)v[vl - 1]))
        vl--;
    if (vl >= sizeof val)
        vl = sizeof val - 1;
    memcpy(val, v, vl);
    val[vl] = '\0';

    char *dot = strchr(name, '.');
    if (!dot) {
        int k = dpt_cfgkey_nearest("", name);
        const char *ks, *kk;
        if (k >= 0 && dpt_config_key_info(k, &ks, &kk, NULL, NULL) == DPT_OK)
            return dpt_errf(e, "--set %.200s: expected section.key=value; did you mean %s.%s=%.100s?", a, ks, kk,
                            val);
        return dpt_errf(e, "--set %.200s: expected section.key=value", a);
    }
    memcpy(sec, name, (size_t)(dot - name));
    sec[dot - name] = '\0';
    const char *key = dot + 1;
    if (!dpt_cfgkey_is_section(sec)) {
        dpt_cfgkey_unknown_section(m, sizeof m, sec);
        return dpt_errf(e, "--set %.200s: %s", a, m);
    }
    int i = dpt_cfgkey_find(sec, key);
    if (i < 0) {
        dpt_cfgkey_unknown_key(m, sizeof m, sec, key);
        return dpt_errf(e, "--set %.200s: %s", a, m);
    }
    if (dpt_cfgkey_set(c, i, val, why, sizeof why))
        return dpt_errf(e, "--set %.200s: %s", a, why);
    c->origin.line[i] = DPT_FROM_SET;
    return DPT_OK;
}