/* The timeline of every rank: events in a fixed buffer while training, one Chrome trace written
 * by rank 0 at the end. Nothing here allocates after dpt_trace_init or calls MPI but through comm. */
#include "dptrain/trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/fsio.h"

/* Events a rank keeps: a step of a large model on a few threads makes ~1 000 (one per chunk of
 * the update), so a handful of steps fit; more are counted and dropped, never reallocated. */
#define TRACE_CAP 65536

static int parse_steps(const char *s, int64_t *first, int64_t *last)
{
    char *end;
    errno = 0;
    long long a = strtoll(s, &end, 10), b = a;
    if (end == s || a < 1 || errno)
        return DPT_FAIL;
    if (*end == '-') {
        const char *p = end + 1;
        b = strtoll(p, &end, 10);
        if (end == p || b < a || errno)
            return DPT_FAIL;
    }
    if (*end)
        return DPT_FAIL;
    *first = a;
    *last = b;
    return DPT_OK;
}

int dpt_trace_init(dpt_trace *tr, const dpt_comm *comm, const char *path, const char *steps, dpt_err *e)
{
    memset(tr, 0, sizeof *tr);
    tr->last = -1;
    if (!path[0])
        return DPT_OK;
    if (parse_steps(steps, &tr->first, &tr->last) != DPT_OK)
        return dpt_errf(e, "training.trace_steps = '%s': expected steps A-B or A (1-based, A <= B)", steps);
    tr->ev = malloc(sizeof *tr->ev * TRACE_CAP);
    if (dpt_comm_any(comm, !tr->ev)) { /* every rank, before the collective clock alignment */
        dpt_trace_free(tr);
        return dpt_errf(e, "training.trace: out of memory for %d events", TRACE_CAP);
    }
    tr->cap = TRACE_CAP;
    tr->t0 = dpt_comm_common_start(comm);
    return DPT_OK;
}

void dpt_trace_step(dpt_trace *tr, int64_t step)
{
    tr->step = step;
    tr->on = tr->ev && step >= tr->first && step <= tr->last;
}

double dpt_trace_now(const dpt_trace *tr)
{
    return tr->on ? (dpt_comm_time() - tr->t0) * 1e6 : 0;
}

void dpt_trace_span_at(dpt_trace *tr, const char *name, const char *cat, int tid, double t0, int64_t arg)
{
    if (!tr->on)
        return;
    double now = dpt_trace_now(tr);
    long i = __atomic_fetch_add(&tr->n, 1, __ATOMIC_RELAXED);
    if (i >= tr->cap) {
        __atomic_fetch_add(&tr->dropped, 1, __ATOMIC_RELAXED);
        return;
    }
    tr->ev[i] = (dpt_trace_event){name, cat, t0, now - t0, arg, tid, (int)tr->step};
}

void dpt_trace_span(dpt_trace *tr, const char *name, const char *cat, double t0, int64_t arg)
{
    dpt_trace_span_at(tr, name, cat, 0, t0, arg);
}

/* One rank's events as JSON objects, each followed by a comma; metadata names the track. */
static char *rank_json(const dpt_trace *tr, const dpt_comm *comm, size_t *len)
{
    char host[64];
    dpt_comm_hostname(host, sizeof host);
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    int threads = 0;
    long n = tr->n < tr->cap ? tr->n : tr->cap;
    fprintf(f, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"args\":{\"name\":\"rank %d (%s)\"}},\n",
            comm->rank, comm->rank, host);
    fprintf(f, "{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":%d,\"args\":{\"sort_index\":%d}},\n",
            comm->rank, comm->rank);
    for (long i = 0; i < n; i++) {
        const dpt_trace_event *v = &tr->ev[i];
        threads = v->tid > threads ? v->tid : threads;
        fprintf(f, "{\"ph\":\"X\",\"name\":\"%s\",\"cat\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,"
                   "\"args\":{\"step\":%d",
                v->name, v->cat, comm->rank, v->tid, v->ts, v->dur, v->step);
        if (v->arg >= 0)
            fprintf(f, ",\"n\":%" PRId64, v->arg);
        fputs("}},\n", f);
    }
    for (int t = 0; t <= threads; t++)
        fprintf(f, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"%s %d\"}},\n",
                comm->rank, t, t ? "update thread" : "main", t);
    if (tr->dropped)
        fprintf(f, "{\"ph\":\"i\",\"s\":\"p\",\"name\":\"%ld events dropped (buffer full)\",\"pid\":%d,\"tid\":0,"
                   "\"ts\":0},\n", tr->dropped, comm->rank);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int dpt_trace_write(const dpt_trace *tr, const dpt_comm *comm, const char *path, dpt_err *e)
{
    if (!tr->ev)
        return DPT_OK;
    size_t len = 0, *lens;
    char *mine = rank_json(tr, comm, &len);
    char *all = dpt_comm_gather_bytes(comm, mine ? mine : "", mine ? len : 0, &lens);
    int st = DPT_OK;
    if (dpt_comm_any(comm, !mine) || (comm->rank == 0 && !all))
        st = dpt_errf(e, "training.trace: out of memory while gathering the trace");
    else if (comm->rank == 0) {
        size_t total = 0;
        for (int r = 0; r < comm->size; r++)
            total += lens[r];
        /* Every event ends in a comma, so the closing element is one that needs none. */
        static const char head[] = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
        static const char tail[] = "{\"ph\":\"M\",\"name\":\"trace_end\",\"pid\":0,\"args\":{}}]}\n";
        const void *parts[] = {head, all, tail};
        size_t plens[] = {sizeof head - 1, total, sizeof tail - 1};
        st = dpt_write_atomic_parts(path, parts, plens, 3, e);
    }
    free(all);
    free(lens);
    free(mine);
    return st;
}

void dpt_trace_free(dpt_trace *tr)
{
    free(tr->ev);
    memset(tr, 0, sizeof *tr);
}
