/* The study file and its trials. The file is an experiment file with two more sections:
 * [study] (how to run) and [sweep] (key = v1, v2, ...). Its [study] and [sweep] lines are read
 * here; every other line stays where it is in inline_text (those lines blanked), so an inline
 * experiment's errors keep the file's line numbers when config.c reads it. */
#include "dptrain/study.h"
#include "dptrain/fsio.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { STUDY_FILE_MAX = 1 << 20, LINE_MAX_ = 4096 };

static const char *const study_keys[] = {"base", "seeds", "mode", "ranks_per_run", "name", "seed_key"};
#define NSTUDY_KEYS ((int)(sizeof study_keys / sizeof study_keys[0]))

/* ---- text ---------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Cuts an inline comment (" ;" outside double quotes), as experiment files do. */
static void cut_comment(char *s)
{
    int quoted = 0;
    for (char *p = s; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == ';' && !quoted && (p == s || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            return;
        }
    }
}

static int edit_distance(const char *a, const char *b)
{
    int n = (int)strlen(b), row[64];
    if (n > 63)
        return 99;
    for (int j = 0; j <= n; j++)
        row[j] = j;
    for (const char *p = a; *p; p++) {
        int diag = row[0];
        row[0]++;
        for (int j = 1; j <= n; j++) {
            int up = row[j], best = diag + (*p != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best, diag = up;
        }
    }
    return row[n];
}

static int study_key_index(const char *k)
{
    for (int i = 0; i < NSTUDY_KEYS; i++)
        if (strcmp(k, study_keys[i]) == 0)
            return i;
    return -1;
}

static const char *nearest_study_key(const char *k)
{
    int best = 0;
    for (int i = 1; i < NSTUDY_KEYS; i++)
        if (edit_distance(k, study_keys[i]) < edit_distance(k, study_keys[best]))
            best = i;
    return study_keys[best];
}

/* ---- values ---------------------------------------------------------------- */

static int parse_count(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!isdigit((unsigned char)v[0]) || *end || errno || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

/* Splits "a, b, "c, d"" at commas outside double quotes into at most max items (quotes removed);
 * returns the count, or -1 (with why) on an empty item, an unclosed quote or too many items. */
static int split_list(char items[][DPT_STUDY_VALUE_MAX], int max, const char *v, const char **why)
{
    int n = 0;
    const char *p = v;
    for (;;) {
        char buf[DPT_STUDY_VALUE_MAX];
        size_t len = 0;
        int quoted = 0, was_quoted = 0;
        while (isspace((unsigned char)*p)) /* the blank after the comma is not the value's */
            p++;
        while (*p && (quoted || *p != ',')) {
            if (*p == '"')
                quoted = !quoted, was_quoted = 1;
            else if (was_quoted && !quoted && isspace((unsigned char)*p))
                ; /* a blank after the closing quote */
            else if (len + 1 < sizeof buf)
                buf[len++] = *p;
            else
                return *why = "a value longer than 255 characters", -1;
            p++;
        }
        if (quoted)
            return *why = "a quote that is not closed", -1;
        buf[len] = '\0';
        char *item = was_quoted ? buf : trim(buf);
        if (!was_quoted && !*item)
            return *why = "an empty value", -1;
        if (n == max)
            return *why = "too many values", -1;
        snprintf(items[n++], DPT_STUDY_VALUE_MAX, "%s", item);
        if (!*p)
            return n;
        p++;
    }
}

/* ---- the [study] and [sweep] lines ------------------------------------------ */

static int set_study_key(dpt_study *s, int i, const char *v, const char *where, dpt_err *e)
{
    long x;
    const char *why = NULL;
    char items[DPT_STUDY_VALUES_MAX][DPT_STUDY_VALUE_MAX];
    switch (i) {
    case 0:
        if (!*v || strlen(v) >= sizeof s->base)
            return dpt_errf(e, "%s: study.base = '%s': expected the path of an experiment file", where, v);
        snprintf(s->base, sizeof s->base, "%s", v);
        return DPT_OK;
    case 1:
        if (!strchr(v, ',')) { /* one number is a count (one given seed: run.seed = S, seeds = 1) */
            if (parse_count(v, 1, DPT_STUDY_SEEDS_MAX, &x))
                return dpt_errf(e, "%s: study.seeds = '%s': expected a count in [1, %d] or a list of seeds", where, v,
                                DPT_STUDY_SEEDS_MAX);
            s->nseeds = (int)x, s->seeds_counted = 1;
            return DPT_OK;
        }
        s->seeds_counted = 0;
        s->nseeds = 0;
        int n = split_list(items, DPT_STUDY_VALUES_MAX, v, &why);
        for (int k = 0; k < n; k++) {
            char *end;
            errno = 0;
            if (!isdigit((unsigned char)items[k][0]) || (s->seeds[k] = strtoull(items[k], &end, 10), *end) || errno ||
                s->seeds[k] == DPT_SEED_AUTO)
                return dpt_errf(e, "%s: study.seeds: '%s' is not a seed (an integer in [0, %" PRIu64 "])", where,
                                items[k], DPT_SEED_AUTO - 1);
            for (int j = 0; j < k; j++)
                if (s->seeds[j] == s->seeds[k])
                    return dpt_errf(e, "%s: study.seeds: seed %s is listed twice", where, items[k]);
        }
        if (n < 0)
            return dpt_errf(e, "%s: study.seeds = '%s': %s; expected a count in [1, %d] or a list of seeds", where, v,
                            why, DPT_STUDY_SEEDS_MAX);
        s->nseeds = n;
        return DPT_OK;
    case 2:
        if (strcmp(v, "grid") && strcmp(v, "zip"))
            return dpt_errf(e, "%s: study.mode = '%s': expected grid or zip", where, v);
        s->mode = strcmp(v, "zip") == 0 ? DPT_STUDY_ZIP : DPT_STUDY_GRID;
        return DPT_OK;
    case 3:
        if (parse_count(v, 1, 1 << 20, &x))
            return dpt_errf(e, "%s: study.ranks_per_run = '%s': expected an integer >= 1", where, v);
        s->ranks_per_run = (int)x;
        return DPT_OK;
    case 4:
        if (!*v || strlen(v) >= sizeof s->name || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789._-") != strlen(v) || v[0] == '.')
            return dpt_errf(e, "%s: study.name = '%s': expected letters, digits, '.', '_' or '-' (at most %d)", where,
                            v, DPT_NAME_MAX - 1);
        snprintf(s->name, sizeof s->name, "%s", v);
        return DPT_OK;
    default:
        if (strcmp(v, "run.seed") && strcmp(v, "run.init_seed") && strcmp(v, "run.data_seed"))
            return dpt_errf(e, "%s: study.seed_key = '%s': expected run.seed, run.init_seed or run.data_seed", where,
                            v);
        snprintf(s->seed_key, sizeof s->seed_key, "%s", v);
        return DPT_OK;
    }
}

/* Whether name ("section.key") is an experiment key. */
static int is_experiment_key(const char *name)
{
    for (int i = 0; i < dpt_config_nkeys(); i++) {
        const char *sec, *key;
        dpt_config_key_info(i, &sec, &key, NULL, NULL);
        size_t n = strlen(sec);
        if (strncmp(name, sec, n) == 0 && name[n] == '.' && strcmp(name + n + 1, key) == 0)
            return 1;
    }
    return 0;
}

static int add_sweep(dpt_study *s, const char *key, const char *v, int line, const char *where, dpt_err *e)
{
    const char *why = NULL;
    if (!is_experiment_key(key)) {
        /* config.c's message names the nearest key */
        dpt_config scratch;
        char set[DPT_NAME_MAX + 8];
        dpt_config_defaults(&scratch);
        snprintf(set, sizeof set, "%s=0", key);
        if (!strchr(key, '.') || dpt_config_set(&scratch, set, e) == DPT_OK)
            return dpt_errf(e, "%s: sweep key '%s' is not an experiment key (write section.key)", where, key);
        char msg[sizeof e->msg];
        const char *why = strstr(e->msg, ": unknown"); /* after config.c's "--set KEY=0" */
        snprintf(msg, sizeof msg, "%s", why ? why + 2 : e->msg);
        return dpt_errf(e, "%s: sweep: %s", where, msg);
    }
    if (strcmp(key, "run.name") == 0 || strcmp(key, "run.dir") == 0)
        return dpt_errf(e, "%s: %s cannot be swept: each trial's run directory is RUN_DIR/STUDY/TRIAL", where, key);
    for (int i = 0; i < s->nsweep; i++)
        if (strcmp(s->sweep[i].key, key) == 0)
            return dpt_errf(e, "%s: sweep key %s is set twice (first on line %d)", where, key, s->sweep[i].line);
    if (s->nsweep == DPT_STUDY_KEYS_MAX)
        return dpt_errf(e, "%s: at most %d sweep keys", where, DPT_STUDY_KEYS_MAX);
    dpt_sweep *w = &s->sweep[s->nsweep];
    snprintf(w->key, sizeof w->key, "%s", key);
    w->line = line;
    w->n = split_list(w->values, DPT_STUDY_VALUES_MAX, v, &why);
    if (w->n < 0)
        return dpt_errf(e, "%s: sweep %s = '%s': %s (values are separated by commas; quote a value that holds one)",
                        where, key, v, why);
    s->nsweep++;
    return DPT_OK;
}

/* One line of [study] or [sweep]. */
static int study_line(dpt_study *s, int sweep, char *text, int line, dpt_err *e)
{
    char where[DPT_PATH_MAX + 16];
    snprintf(where, sizeof where, "%s:%d", s->file, line);
    cut_comment(text);
    char *eq = strchr(text, '=');
    if (!eq)
        return dpt_errf(e, "%s: expected key = value", where);
    *eq = '\0';
    char *key = trim(text), *v = trim(eq + 1);
    if (sweep)
        return add_sweep(s, key, v, line, where, e);
    int i = study_key_index(key);
    if (i < 0)
        return dpt_errf(e, "%s: unknown key study.%s; did you mean study.%s?", where, key, nearest_study_key(key));
    if (s->line[i])
        return dpt_errf(e, "%s: study.%s is set twice (first on line %d)", where, key, s->line[i]);
    s->line[i] = line;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"' && i != 1)
        v[n - 1] = '\0', v++;
    return set_study_key(s, i, v, where, e);
}

/* The default name: the file's base name without its extension. */
static void default_name(dpt_study *s, const char *origin)
{
    const char *b = strrchr(origin, '/');
    b = b ? b + 1 : origin;
    size_t n = strcspn(b, ".");
    snprintf(s->name, sizeof s->name, "%.*s", (int)(n ? n : strlen(b)), b);
    for (char *p = s->name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            *p = '_';
    if (!s->name[0])
        snprintf(s->name, sizeof s->name, "study");
}

int dpt_study_parse(dpt_study *s, const char *text, const char *origin, dpt_err *e)
{
    memset(s, 0, sizeof *s);
    snprintf(s->file, sizeof s->file, "%s", origin ? origin : "<string>");
    default_name(s, s->file);
    s->ranks_per_run = 1, s->nseeds = 1, s->seeds_counted = 1;
    snprintf(s->seed_key, sizeof s->seed_key, "run.seed");
    size_t len = strlen(text);
    if (!(s->inline_text = malloc(len + 1)))
        return dpt_errf(e, "%s: out of memory", s->file);
    char *out = s->inline_text;
    int section = 0, line = 0, other = 0, study_seen = 0; /* 0 other, 1 study, 2 sweep */
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        char buf[LINE_MAX_];
        line++;
        if (n >= sizeof buf)
            return dpt_errf(e, "%s:%d: a line longer than %d characters", s->file, line, LINE_MAX_ - 1);
        memcpy(buf, p, n);
        buf[n] = '\0';
        char *t = trim(buf);
        int mine = section > 0;
        if (t[0] == '[') {
            char *close = strchr(t, ']');
            if (close)
                *close = '\0';
            section = strcmp(t + 1, "study") == 0 ? 1 : strcmp(t + 1, "sweep") == 0 ? 2 : 0;
            mine = section > 0;
            study_seen |= section == 1;
            other |= section == 0;
        } else if (mine && t[0] && t[0] != ';' && t[0] != '#' && study_line(s, section == 2, t, line, e) != DPT_OK) {
            return DPT_FAIL;
        }
        if (!mine) {
            memcpy(out, p, n);
            out += n;
        }
        p += n;
        if (*p == '\n')
            *out++ = *p++;
    }
    *out = '\0';
    if (!study_seen)
        return dpt_errf(e, "%s: no [study] section (a study file has [study], [sweep] and an experiment)", s->file);
    if (s->base[0] && other)
        return dpt_errf(e, "%s:%d: study.base = '%s' and experiment sections in the study file: use one or the other",
                        s->file, s->line[0], s->base);
    if (s->mode == DPT_STUDY_ZIP)
        for (int k = 1; k < s->nsweep; k++)
            if (s->sweep[k].n != s->sweep[0].n)
                return dpt_errf(e, "%s:%d: study.mode = zip pairs the sweep lists, but %s has %d values and %s has %d "
                                "(line %d)", s->file, s->sweep[k].line, s->sweep[k].key, s->sweep[k].n,
                                s->sweep[0].key, s->sweep[0].n, s->sweep[0].line);
    for (int k = 0; k < s->nsweep; k++)
        if (strcmp(s->sweep[k].key, s->seed_key) == 0)
            return dpt_errf(e, "%s:%d: %s is set by study.seeds (study.seed_key); sweep another key", s->file,
                            s->sweep[k].line, s->seed_key);
    if ((long)dpt_study_nsettings(s) * s->nseeds > 100000)
        return dpt_errf(e, "%s: %d settings x %d seeds: more than 100000 trials", s->file, dpt_study_nsettings(s),
                        s->nseeds);
    return DPT_OK;
}

int dpt_study_load(dpt_study *s, const char *path, dpt_err *e)
{
    memset(s, 0, sizeof *s);
    char *text;
    size_t n;
    if (dpt_read_file(path, STUDY_FILE_MAX, &text, &n, e) != DPT_OK)
        return DPT_FAIL;
    if (strlen(text) != n) {
        free(text);
        return dpt_errf(e, "%s: holds a NUL byte; not a text file", path);
    }
    int st = dpt_study_parse(s, text, path, e);
    free(text);
    return st;
}

void dpt_study_free(dpt_study *s)
{
    free(s->inline_text);
    s->inline_text = NULL;
}

int dpt_study_nsettings(const dpt_study *s)
{
    if (s->mode == DPT_STUDY_ZIP)
        return s->nsweep ? s->sweep[0].n : 1;
    int n = 1;
    for (int k = 0; k < s->nsweep; k++)
        n *= s->sweep[k].n;
    return n;
}

int dpt_study_value(const dpt_study *s, int setting, int k)
{
    if (s->mode == DPT_STUDY_ZIP)
        return setting;
    for (int j = s->nsweep - 1; j > k; j--) /* the last key varies fastest */
        setting /= s->sweep[j].n;
    return setting % s->sweep[k].n;
}

void dpt_study_trial_name(char *out, size_t n, int setting, uint64_t seed)
{
    snprintf(out, n, "s%d-seed%" PRIu64, setting + 1, seed);
}

/* ---- trials ------------------------------------------------------------------ */

int dpt_study_add_set(dpt_study *s, const char *assignment, dpt_err *e)
{
    char key[DPT_NAME_MAX];
    dpt_config_set_name(key, sizeof key, assignment); /* as dpt_config_set will read it: " run.name =x" too */
    for (int k = 0; k < s->nsweep; k++)
        if (strcmp(s->sweep[k].key, key) == 0)
            return dpt_errf(e, "--set %s: %s is swept (%s:%d); set it in one place", assignment, s->sweep[k].key,
                            s->file, s->sweep[k].line);
    if (strcmp(key, "run.name") == 0)
        return dpt_errf(e, "--set %s: each trial names its own run (study.name names the study's folder)",
                        assignment);
    return dpt_config_add_set(s->sets, &s->nsets, assignment, e);
}

/* The base experiment: its file, or the study file's own sections; then the command line's --set. */
static int load_base(const dpt_study *s, dpt_config *c, dpt_err *e)
{
    dpt_config_defaults(c);
    int st = s->base[0] ? dpt_config_load_file(c, s->base, e) : dpt_config_load_string(c, s->inline_text, s->file, e);
    for (int i = 0; st == DPT_OK && i < s->nsets; i++)
        st = dpt_config_set(c, s->sets[i], e);
    return st;
}

/* Applies "key=value", telling a refusal as the study file's line. */
static int sweep_set(dpt_config *c, const char *key, const char *value, const char *file, int line, dpt_err *e)
{
    char a[DPT_NAME_MAX + DPT_STUDY_VALUE_MAX + 2];
    snprintf(a, sizeof a, "%s=%s", key, value);
    if (dpt_config_set(c, a, e) == DPT_OK)
        return DPT_OK;
    char msg[sizeof e->msg];
    snprintf(msg, sizeof msg, "%s", e->msg + (strncmp(e->msg, "--set ", 6) == 0 ? 6 : 0)); /* the line says where */
    return dpt_errf(e, "%s:%d: %s", file, line, msg);
}

static int build_trial(const dpt_study *s, const dpt_config *base, dpt_trial *t, dpt_err *e)
{
    dpt_config *c = &t->cfg;
    char seed[32], name[DPT_NAME_MAX], where[DPT_NAME_MAX + 8];
    *c = *base;
    for (int k = 0; k < s->nsweep; k++)
        if (sweep_set(c, s->sweep[k].key, s->sweep[k].values[dpt_study_value(s, t->setting, k)], s->file,
                      s->sweep[k].line, e) != DPT_OK)
            return DPT_FAIL;
    snprintf(seed, sizeof seed, "%" PRIu64, t->seed);
    if (sweep_set(c, s->seed_key, seed, s->file, s->line[1], e) != DPT_OK)
        return DPT_FAIL;
    dpt_study_trial_name(name, sizeof name, t->setting, t->seed);
    if (strlen(base->run.dir) + strlen(s->name) + 2 > sizeof c->run.dir) /* RUN_DIR/STUDY */
        return dpt_errf(e, "run.dir = '%s': too long for the study's folder %s", base->run.dir, s->name);
    size_t nd = strlen(base->run.dir), nn = strlen(s->name);
    memcpy(c->run.dir, base->run.dir, nd);
    c->run.dir[nd] = '/';
    memcpy(c->run.dir + nd + 1, s->name, nn + 1);
    snprintf(c->run.name, sizeof c->run.name, "%s", name);
    snprintf(where, sizeof where, "trial %s", name);
    if (dpt_config_validate(c, e) != DPT_OK)
        return dpt_err_prefix(e, where);
    dpt_config_resolve(c);
    return DPT_OK;
}

int dpt_study_trials(const dpt_study *s, dpt_trial **trials, int *n, dpt_err *e)
{
    static dpt_config base; /* large */
    *trials = NULL, *n = 0;
    if (load_base(s, &base, e) != DPT_OK)
        return DPT_FAIL;
    if (base.data.kfold > 0)
        return dpt_errf(e, "%s: data.kfold: a study's trials are single runs (k-fold already repeats the run)",
                        s->file);
    int ns = dpt_study_nsettings(s), nt = ns * s->nseeds;
    dpt_trial *t = calloc((size_t)nt, sizeof *t);
    if (!t)
        return dpt_errf(e, "%s: out of memory for %d trials", s->file, nt);
    uint64_t first = strcmp(s->seed_key, "run.seed") == 0 ? base.run.seed
                   : strcmp(s->seed_key, "run.init_seed") == 0 ? dpt_config_init_seed(&base)
                                                               : dpt_config_data_seed(&base);
    for (int i = 0; i < nt; i++) {
        t[i].setting = i / s->nseeds;
        t[i].seed = s->seeds_counted ? first + (uint64_t)(i % s->nseeds) : s->seeds[i % s->nseeds];
        if (build_trial(s, &base, &t[i], e) != DPT_OK) {
            free(t);
            return DPT_FAIL;
        }
    }
    *trials = t, *n = nt;
    return DPT_OK;
}

/* ---- ranks ------------------------------------------------------------------- */

int dpt_study_colors(int *color, const uint64_t *host, int nranks, int k, dpt_err *e)
{
    if (k < 1 || nranks % k)
        return dpt_errf(e, "study.ranks_per_run = %d: does not divide the job's %d ranks", k, nranks);
    int *first = malloc(sizeof(int) * (size_t)nranks), *count = calloc((size_t)nranks, sizeof(int)), aware = 1;
    if (!first || !count) {
        free(first), free(count);
        return dpt_errf(e, "out of memory for %d ranks", nranks);
    }
    for (int r = 0; r < nranks; r++) { /* a node is known by its first rank */
        first[r] = r;
        for (int q = 0; q < r && first[r] == r; q++)
            if (host[q] == host[r])
                first[r] = first[q];
        count[first[r]]++;
    }
    for (int r = 0; r < nranks; r++)
        aware &= count[first[r]] % k == 0;
    for (int r = 0; r < nranks; r++) {
        int before = 0, local = 0; /* groups of the nodes met earlier, then this rank's place on its node */
        for (int q = 0; q < first[r]; q++)
            before += first[q] == q ? count[q] / k : 0;
        for (int q = first[r]; q < r; q++)
            local += first[q] == first[r];
        color[r] = aware ? before + local / k : r / k;
    }
    free(first), free(count);
    return DPT_OK;
}

/* ---- statistics ---------------------------------------------------------------- */

double dpt_study_t975(int df)
{
    static const double t[30] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
                                 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                                 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
    if (df < 1)
        return NAN;
    if (df <= 30)
        return t[df - 1];
    /* Cornish-Fisher expansion about the normal quantile: within 1e-4 beyond 30 degrees */
    double z = 1.959964, z3 = z * z * z, z5 = z3 * z * z, v = df;
    return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v);
}

void dpt_study_stats(const double *x, int n, double *mean, double *sd, double *half)
{
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m = n ? m / n : NAN;
    for (int i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(ss / (n - 1)) : NAN;
    *half = n > 1 ? dpt_study_t975(n - 1) * *sd / sqrt(n) : NAN;
}
