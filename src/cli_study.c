/* dptrain study: every trial of a study in one MPI job. The ranks split into groups of
 * study.ranks_per_run (a group's ranks on one node where they can); each group's leader draws
 * the next trial's number from a counter on rank 0 whenever its group is free (so a long trial
 * does not hold up the trials behind it), and the group trains it as an ordinary run in
 * RUN_DIR/STUDY/TRIAL/. The
 * leader of a group writes each trial's trial.json (its status and summary); rank 0 of the job
 * then gathers them into trials.csv, summary.json and a table per setting. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dptrain/cli.h"
#include "dptrain/comm.h"
#include "dptrain/fsio.h"
#include "dptrain/log.h"
#include "dptrain/study.h"

static const char study_help[] =
    "usage: dptrain study STUDY.ini [--set section.key=value]... [--resume auto] [--dry-run]\n"
    "Runs every trial of a study (a base experiment over a grid or zip of [sweep] values, times\n"
    "study.seeds) in this one MPI job, study.ranks_per_run ranks per trial, each group of ranks\n"
    "taking the next trial when it is done.\n"
    "  --set s.k=v     override one key of the base experiment of every trial (not a swept key,\n"
    "                  nor run.name: each trial names its own run)\n"
    "  --dry-run       build and check every trial's experiment, list the trials, train nothing\n"
    "  --resume auto   skip the trials that finished (trial.json), resume the others from their\n"
    "                  checkpoints\n"
    "Outputs go to RUN_DIR/STUDY/: one run directory per trial, trials.csv, summary.json.\n";

typedef struct {
    const char *file;
    int resume, nsets;
    const char *sets[DPT_CONFIG_SETS_MAX];
} study_args;

static int parse_args(study_args *a, int argc, char **argv, dpt_err *e)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *set = dpt_cli_option(argc, argv, &i, "--set", &missing);
        if (set && dpt_config_add_set(a->sets, &a->nsets, set, e) != DPT_OK)
            return DPT_FAIL;
        else if (set)
            continue;
        else if (missing)
            return dpt_errf(e, "study: --set needs a value (see dptrain study --help)");
        else if (strcmp(argv[i], "--dry-run") == 0)
            continue; /* main.c sends a dry run to dpt_cli_study_dry_run */
        else if (strcmp(argv[i], "--resume=auto") == 0 || (strcmp(argv[i], "--resume") == 0 && i + 1 < argc &&
                                                      strcmp(argv[i + 1], "auto") == 0 && ++i))
            a->resume = 1;
        else if (strncmp(argv[i], "--resume", 8) == 0)
            return dpt_errf(e, "study: --resume takes only auto (each trial resumes from its own checkpoints)");
        else if (argv[i][0] == '-')
            return dpt_errf(e, "study: unknown option '%s' (see dptrain study --help)", argv[i]);
        else if (a->file)
            return dpt_errf(e, "study: more than one study file ('%s', '%s')", a->file, argv[i]);
        else
            a->file = argv[i];
    }
    if (!a->file)
        return dpt_errf(e, "study: no study file (see dptrain study --help)");
    return DPT_OK;
}

/* ---- one trial ------------------------------------------------------------ */

static void trial_path(char *out, size_t n, const dpt_trial *t, const char *file)
{
    snprintf(out, n, "%s/%s/%s", t->cfg.run.dir, t->cfg.run.name, file);
}

/* A file's contents as parsed JSON, or NULL. */
static cJSON *read_json(const char *path)
{
    char *text;
    size_t len;
    dpt_err ignored;
    if (dpt_read_file(path, SIZE_MAX - 1, &text, &len, &ignored) != DPT_OK)
        return NULL;
    cJSON *o = cJSON_Parse(text);
    free(text);
    return o;
}

/* Whether the trial finished in an earlier job (its trial.json holds a status). */
static int finished(const dpt_trial *t)
{
    char path[DPT_PATH_MAX + DPT_NAME_MAX + 32];
    trial_path(path, sizeof path, t, "trial.json");
    cJSON *o = read_json(path);
    int done = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "status"));
    cJSON_Delete(o);
    return done;
}

/* trial.json: the trial's status, its error if it failed, its wall time, the group that ran it
 * (for the record: the results do not depend on it) and its summary.json. */
static void write_trial_json(const dpt_trial *t, int st, const char *err, double wall, int group)
{
    char path[DPT_PATH_MAX + DPT_NAME_MAX + 32], dir[DPT_PATH_MAX + DPT_NAME_MAX + 2];
    dpt_err e = {0};
    cJSON *o = cJSON_CreateObject(), *summary = NULL;
    cJSON_AddStringToObject(o, "trial", t->cfg.run.name);
    cJSON_AddNumberToObject(o, "setting", t->setting + 1);
    cJSON_AddNumberToObject(o, "seed", (double)t->seed);
    cJSON_AddStringToObject(o, "status", st == DPT_OK ? "done" : "failed");
    if (st != DPT_OK)
        cJSON_AddStringToObject(o, "error", err);
    cJSON_AddNumberToObject(o, "wall_s", wall);
    cJSON_AddNumberToObject(o, "group", group);
    trial_path(path, sizeof path, t, "summary.json");
    if (st == DPT_OK && (summary = read_json(path)))
        cJSON_AddItemToObject(o, "summary", summary);
    snprintf(dir, sizeof dir, "%s/%s", t->cfg.run.dir, t->cfg.run.name);
    trial_path(path, sizeof path, t, "trial.json");
    char *text = cJSON_Print(o);
    if (!text || dpt_log_mkdir_p(dir, &e) != DPT_OK || dpt_write_atomic(path, text, strlen(text), &e) != DPT_OK)
        fprintf(stderr, "dptrain: study: %s not written: %s\n", path, text ? e.msg : "out of memory");
    free(text);
    cJSON_Delete(o);
}

/* Trains trial t on group g (collective over g); a trial that fails is told and recorded, and the
 * study goes on. */
static void run_trial(const dpt_comm *g, int mine, const dpt_trial *t, const char *file, int resume)
{
    static dpt_config c; /* large */
    int skip = g->rank == 0 && resume && finished(t);
    dpt_comm_bcast(g, &skip, sizeof skip);
    if (skip) {
        if (g->rank == 0)
            printf("study: trial %s finished in an earlier job (trial.json): skipped\n", t->cfg.run.name);
        return;
    }
    char label[DPT_PATH_MAX + DPT_NAME_MAX + 16];
    snprintf(label, sizeof label, "%s, trial %s", file, t->cfg.run.name);
    c = t->cfg;
    dpt_err e = {0};
    double t0 = dpt_comm_time();
    int st = dpt_cli_train_config(g, &c, resume ? "auto" : NULL, label, &e);
    dpt_comm_unwatch();
    if (g->rank == 0) {
        if (st != DPT_OK)
            fprintf(stderr, "dptrain: study: trial %s failed (the study goes on): %s\n", t->cfg.run.name, e.msg);
        write_trial_json(t, st, e.msg, dpt_comm_time() - t0, mine);
    }
}

/* ---- the study's results (rank 0) ---------------------------------------- */

enum { NMETRICS = 5 };
static const char *const metric_names[NMETRICS] = {"train_loss", "val_loss", "val_accuracy", "test_loss",
                                                   "test_accuracy"};

typedef struct {
    int done;
    double steps, wall;
    double end[NMETRICS];   /* of the model the run ends with (best when early stopping restored it) */
    double fin[NMETRICS];   /* of the last step's model */
    double best_value, best_step;
    char best_metric[32];
    char error[512];
} trial_result;

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void read_result(const dpt_trial *t, trial_result *r)
{
    char path[DPT_PATH_MAX + DPT_NAME_MAX + 32];
    trial_path(path, sizeof path, t, "trial.json");
    cJSON *o = read_json(path);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status"),
                *err = cJSON_GetObjectItemCaseSensitive(o, "error"),
                *sum = cJSON_GetObjectItemCaseSensitive(o, "summary"),
                *fin = cJSON_GetObjectItemCaseSensitive(sum, "final"),
                *best = cJSON_GetObjectItemCaseSensitive(sum, "best"),
                *model = cJSON_GetObjectItemCaseSensitive(sum, "model");
    memset(r, 0, sizeof *r);
    r->done = cJSON_IsString(status) && strcmp(status->valuestring, "done") == 0 && fin;
    snprintf(r->error, sizeof r->error, "%s",
             !o ? "no trial.json" : cJSON_IsString(err) ? err->valuestring : r->done ? "" : "no summary");
    r->steps = number(sum, "steps");
    r->wall = number(o, "wall_s");
    int restored = cJSON_IsString(model) && strcmp(model->valuestring, "best") == 0;
    for (int m = 0; m < NMETRICS; m++) {
        r->fin[m] = number(fin, metric_names[m]);
        r->end[m] = m > 0 && restored ? number(best, metric_names[m]) : r->fin[m];
    }
    const cJSON *bm = cJSON_GetObjectItemCaseSensitive(best, "metric");
    snprintf(r->best_metric, sizeof r->best_metric, "%s", cJSON_IsString(bm) ? bm->valuestring : "");
    r->best_value = number(best, "value");
    r->best_step = number(best, "step");
    cJSON_Delete(o);
}

static void csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f); /* a quote inside a quoted field is doubled */
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_number(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, ",%.9g", x);
    else
        fputc(',', f);
}

/* trials.csv: one row per trial. */
static char *trials_csv(const dpt_study *s, const dpt_trial *t, const trial_result *r, int n, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    fprintf(f, "trial,setting");
    for (int k = 0; k < s->nsweep; k++)
        fprintf(f, ",%s", s->sweep[k].key);
    fprintf(f, ",%s,status,steps,wall_s", s->seed_key);
    for (int m = 0; m < NMETRICS; m++)
        fprintf(f, ",final_%s", metric_names[m]);
    fprintf(f, ",best_metric,best_value,best_step,error\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s,%d", t[i].cfg.run.name, t[i].setting + 1);
        for (int k = 0; k < s->nsweep; k++) {
            fputc(',', f);
            csv_text(f, s->sweep[k].values[dpt_study_value(s, t[i].setting, k)]);
        }
        fprintf(f, ",%" PRIu64 ",%s", t[i].seed, r[i].done ? "done" : "failed");
        csv_number(f, r[i].steps);
        csv_number(f, r[i].wall);
        for (int m = 0; m < NMETRICS; m++)
            csv_number(f, r[i].fin[m]);
        fprintf(f, ",%s", r[i].best_metric);
        csv_number(f, r[i].best_value);
        csv_number(f, r[i].best_step);
        fputc(',', f);
        csv_text(f, r[i].error);
        fputc('\n', f);
    }
    fclose(f);
    return text;
}

/* The metric settings are ranked by: the watched one (early_stopping.metric) when the trials
 * report it, else the test accuracy, test loss or training loss, whichever they report first. */
static int ranking_metric(const dpt_trial *t, const trial_result *r, int n)
{
    static const int order[] = {-1, 4, 3, 0};
    for (int o = 0; o < 4; o++) {
        int m = order[o] >= 0 ? order[o] : t[0].cfg.early.metric == DPT_METRIC_VAL_ACCURACY ? 2 : 1;
        for (int i = 0; i < n; i++)
            if (r[i].done && isfinite(r[i].end[m]))
                return m;
    }
    return 0;
}

typedef struct {
    int setting, n, failed;
    double mean[NMETRICS], sd[NMETRICS], half[NMETRICS];
    int count[NMETRICS];
} setting_stats;

static void setting_statistics(setting_stats *ss, int setting, const dpt_trial *t, const trial_result *r, int n)
{
    double x[DPT_STUDY_SEEDS_MAX];
    memset(ss, 0, sizeof *ss);
    ss->setting = setting;
    for (int i = 0; i < n; i++)
        if (t[i].setting == setting)
            r[i].done ? ss->n++ : ss->failed++;
    for (int m = 0; m < NMETRICS; m++) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (t[i].setting == setting && r[i].done && isfinite(r[i].end[m]))
                x[k++] = r[i].end[m];
        ss->count[m] = k;
        dpt_study_stats(x, k, &ss->mean[m], &ss->sd[m], &ss->half[m]);
    }
}

static int rank_metric_g; /* for qsort */

/* Better first; settings without a value last. */
static int by_metric(const void *a, const void *b)
{
    const setting_stats *x = a, *y = b;
    double u = x->mean[rank_metric_g], v = y->mean[rank_metric_g];
    int higher = strstr(metric_names[rank_metric_g], "accuracy") != NULL;
    if (isnan(u) != isnan(v))
        return isnan(u) ? 1 : -1;
    if (u != v && !isnan(u))
        return (higher ? u > v : u < v) ? -1 : 1;
    return x->setting - y->setting;
}

static void add_stat(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *setting_json(const dpt_study *s, const setting_stats *ss, int rank)
{
    cJSON *o = cJSON_CreateObject(), *values = cJSON_CreateObject(), *metrics = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rank", rank);
    cJSON_AddNumberToObject(o, "setting", ss->setting + 1);
    for (int k = 0; k < s->nsweep; k++)
        cJSON_AddStringToObject(values, s->sweep[k].key, s->sweep[k].values[dpt_study_value(s, ss->setting, k)]);
    cJSON_AddItemToObject(o, "values", values);
    cJSON_AddNumberToObject(o, "done", ss->n);
    cJSON_AddNumberToObject(o, "failed", ss->failed);
    for (int m = 0; m < NMETRICS; m++) {
        if (!ss->count[m])
            continue;
        cJSON *one = cJSON_CreateObject();
        add_stat(one, "mean", ss->mean[m]);
        add_stat(one, "sd", ss->sd[m]);
        cJSON_AddNumberToObject(one, "n", ss->count[m]);
        add_stat(one, "ci95_low", ss->mean[m] - ss->half[m]);
        add_stat(one, "ci95_high", ss->mean[m] + ss->half[m]);
        cJSON_AddItemToObject(metrics, metric_names[m], one);
    }
    cJSON_AddItemToObject(o, "metrics", metrics);
    return o;
}

/* The table, best setting first. */
static void print_table(const dpt_study *s, const setting_stats *ss, int ns, int metric, int ntrials, int nfailed)
{
    printf("study %s: %d setting%s x %d seed%s = %d trials, %d done, %d failed\n", s->name, ns, ns == 1 ? "" : "s",
           s->nseeds, s->nseeds == 1 ? "" : "s", ntrials, ntrials - nfailed, nfailed);
    printf("%s of each trial's final model (best when early stopping restored it), best first; sd is the sample "
           "standard deviation (n-1); CI is the 95%% interval of the mean (Student's t)\n", metric_names[metric]);
    printf("%-4s %-7s", "rank", "setting");
    for (int k = 0; k < s->nsweep; k++)
        printf(" %-14s", s->sweep[k].key);
    printf(" %12s %12s %3s %27s\n", "mean", "sd", "n", "95% CI");
    for (int i = 0; i < ns; i++) {
        const setting_stats *x = &ss[i];
        printf("%-4d s%-6d", i + 1, x->setting + 1);
        for (int k = 0; k < s->nsweep; k++)
            printf(" %-14s", s->sweep[k].values[dpt_study_value(s, x->setting, k)]);
        char ci[64] = "-";
        if (isfinite(x->half[metric]))
            snprintf(ci, sizeof ci, "[%.6g, %.6g]", x->mean[metric] - x->half[metric], x->mean[metric] + x->half[metric]);
        char sd[32] = "-";
        if (isfinite(x->sd[metric]))
            snprintf(sd, sizeof sd, "%.6g", x->sd[metric]);
        printf(" %12.6g %12s %3d %27s%s\n", x->mean[metric], sd, x->count[metric], ci,
               x->failed ? " (some trials failed)" : "");
    }
}

static int write_file(const char *dir, const char *name, const char *text, size_t len, dpt_err *e)
{
    char path[DPT_PATH_MAX + DPT_NAME_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return dpt_write_atomic(path, text, len, e);
}

/* trials.csv, summary.json and the table (rank 0). */
static int report(const dpt_study *s, const dpt_trial *t, int n, dpt_err *e)
{
    int ns = dpt_study_nsettings(s), nfailed = 0, st = DPT_OK;
    trial_result *r = calloc((size_t)n, sizeof *r);
    setting_stats *ss = calloc((size_t)ns, sizeof *ss);
    if (!r || !ss) {
        free(r), free(ss);
        return dpt_errf(e, "study: out of memory for %d trials", n);
    }
    for (int i = 0; i < n; i++) {
        read_result(&t[i], &r[i]);
        nfailed += !r[i].done;
    }
    int metric = ranking_metric(t, r, n);
    for (int i = 0; i < ns; i++)
        setting_statistics(&ss[i], i, t, r, n);
    rank_metric_g = metric;
    qsort(ss, (size_t)ns, sizeof *ss, by_metric);
    size_t len = 0;
    char *csv = trials_csv(s, t, r, n, &len);
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "study", s->name);
    cJSON_AddStringToObject(o, "ranked_by", metric_names[metric]);
    cJSON_AddStringToObject(o, "sd", "sample standard deviation (n - 1)");
    cJSON_AddStringToObject(o, "ci95", "mean +- t(0.975, n - 1) * sd / sqrt(n)");
    cJSON_AddNumberToObject(o, "trials", n);
    cJSON_AddNumberToObject(o, "failed", nfailed);
    for (int i = 0; i < ns; i++)
        cJSON_AddItemToArray(arr, setting_json(s, &ss[i], i + 1));
    cJSON_AddItemToObject(o, "settings", arr);
    char *json = cJSON_Print(o);
    const char *dir = t[0].cfg.run.dir;
    if (!csv || !json)
        st = dpt_errf(e, "study: out of memory for its report");
    if (st == DPT_OK && (write_file(dir, "trials.csv", csv, len, e) != DPT_OK ||
                         write_file(dir, "summary.json", json, strlen(json), e) != DPT_OK))
        st = DPT_FAIL;
    if (st == DPT_OK) {
        print_table(s, ss, ns, metric, n, nfailed);
        printf("study directory: %s (trials.csv, summary.json)\n", dir);
    }
    free(csv), free(json), free(r), free(ss);
    cJSON_Delete(o);
    return st;
}

/* ---- the job ----------------------------------------------------------------- */

/* Rank 0 reads the study and builds its trials; every rank receives them (collective). */
static int plan(const dpt_comm *comm, dpt_study *s, const study_args *a, dpt_trial **t, int *n, int *k, dpt_err *e)
{
    const char *file = a->file;
    int st = DPT_OK, head[2] = {0, 0};
    *t = NULL;
    if (comm->rank == 0) {
        st = dpt_study_load(s, file, e);
        for (int i = 0; st == DPT_OK && i < a->nsets; i++)
            st = dpt_study_add_set(s, a->sets[i], e);
        if (st == DPT_OK && comm->size % s->ranks_per_run)
            st = dpt_errf(e, "%s:%d: study.ranks_per_run = %d does not divide the job's %d ranks", file, s->line[3],
                          s->ranks_per_run, comm->size);
        if (st == DPT_OK)
            st = dpt_study_trials(s, t, n, e);
        head[0] = *n, head[1] = s->ranks_per_run;
    }
    if (dpt_comm_agree(comm, st, e) != DPT_OK)
        return DPT_FAIL;
    dpt_comm_bcast(comm, head, sizeof head);
    *n = head[0], *k = head[1];
    if (comm->rank != 0 && !(*t = calloc((size_t)*n, sizeof **t)))
        st = dpt_errf(e, "study: out of memory for %d trials", *n);
    if (dpt_comm_agree(comm, st, e) != DPT_OK)
        return DPT_FAIL;
    dpt_comm_bcast(comm, *t, sizeof **t * (size_t)*n);
    return DPT_OK;
}

/* This rank's group and its number *mine: ranks_per_run ranks, of one node where the nodes allow
 * (collective). */
static int make_group(const dpt_comm *comm, int k, dpt_comm *group, int *mine, dpt_err *e)
{
    char host[256];
    uint64_t h = 1469598103934665603ULL, *all = malloc(sizeof(uint64_t) * (size_t)comm->size);
    int *color = malloc(sizeof(int) * (size_t)comm->size), st = DPT_OK;
    dpt_comm_hostname(host, sizeof host);
    for (const char *p = host; *p; p++) /* FNV-1a */
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    if (!all || !color)
        st = dpt_errf(e, "study: out of memory for %d ranks", comm->size);
    if (dpt_comm_agree(comm, st, e) == DPT_OK) {
        dpt_comm_allgather_u64(comm, &h, 1, all);
        st = dpt_study_colors(color, all, comm->size, k, e);
    }
    if (st == DPT_OK) {
        *mine = color[comm->rank];
        st = dpt_comm_split(comm, *mine, group, e);
    }
    free(all), free(color);
    return dpt_comm_agree(comm, st, e);
}

/* The trial this group trains next, after trial done: the number its leader draws from the
 * counter (collective over group), or without a counter the round-robin's done + groups. */
static int64_t next_trial(dpt_counter *next, const dpt_comm *group, int64_t done, int groups)
{
    if (!next)
        return done + groups;
    int64_t i = group->rank == 0 ? dpt_counter_next(next) : 0;
    dpt_comm_bcast(group, &i, sizeof i);
    return i;
}

/* --dry-run: the trials that would run, each with its swept values (rank 0). */
static void list_trials(const dpt_study *s, const dpt_trial *t, int n)
{
    printf("study %s: %d settings x %d seeds = %d trials (dry run: nothing trained)\n", s->name,
           dpt_study_nsettings(s), s->nseeds, n);
    for (int i = 0; i < n; i++) {
        printf("%s", t[i].cfg.run.name);
        for (int k = 0; k < s->nsweep; k++)
            printf("  %s=%s", s->sweep[k].key, s->sweep[k].values[dpt_study_value(s, t[i].setting, k)]);
        printf("  %s=%" PRIu64 "\n", s->seed_key, t[i].seed);
    }
}

int dpt_cli_study_dry_run(int argc, char **argv, dpt_err *e)
{
    static dpt_study s; /* large */
    study_args a;
    dpt_trial *t = NULL;
    int n = 0, st = parse_args(&a, argc, argv, e);
    if (st == DPT_OK)
        st = dpt_study_load(&s, a.file, e);
    for (int i = 0; st == DPT_OK && i < a.nsets; i++)
        st = dpt_study_add_set(&s, a.sets[i], e);
    if (st == DPT_OK && (st = dpt_study_trials(&s, &t, &n, e)) == DPT_OK)
        list_trials(&s, t, n);
    free(t);
    dpt_study_free(&s);
    return st;
}

int dpt_cli_study(const dpt_comm *comm, int argc, char **argv, dpt_err *e)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            if (comm->rank == 0)
                fputs(study_help, stdout);
            return DPT_OK;
        }
    static dpt_study s; /* large; rank 0's */
    study_args a;
    dpt_trial *t = NULL;
    dpt_comm group = {0};
    int n = 0, k = 1, mine = 0;
    if (dpt_comm_agree(comm, parse_args(&a, argc, argv, e), e) != DPT_OK ||
        plan(comm, &s, &a, &t, &n, &k, e) != DPT_OK || dpt_comm_agree(comm, dpt_comm_watchdog_start(comm, t[0].cfg.train.timeout, e), e) != DPT_OK ||
        make_group(comm, k, &group, &mine, e) != DPT_OK) {
        free(t);
        dpt_study_free(&s);
        return DPT_FAIL;
    }
    int groups = comm->size / k;
    dpt_counter *next = dpt_counter_new(comm);
    if (comm->rank == 0)
        printf("study %s: %d trials on %d group%s of %d rank%s, %s\n", s.name, n, groups, groups == 1 ? "" : "s", k,
               k == 1 ? "" : "s", next ? "each group taking the next trial when it is done"
                                       : comm->nodes > 1 ? "trial i to group i mod groups (across nodes)"
                                                         : "trial i to group i mod groups (no memory for a counter)");
    for (int64_t i = next_trial(next, &group, mine - groups, groups); i < n; i = next_trial(next, &group, i, groups))
        run_trial(&group, mine, &t[i], a.file, a.resume);
    dpt_comm_unwatch();
    dpt_counter_free(next);
    dpt_comm_free(&group);
    dpt_comm_barrier(comm);
    int st = comm->rank == 0 ? report(&s, t, n, e) : DPT_OK;
    free(t);
    dpt_study_free(&s);
    return dpt_comm_agree(comm, st, e);
}
