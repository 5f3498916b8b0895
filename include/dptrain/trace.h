/* A timeline of every rank (training.trace): spans of the steps training.trace_steps selects
 * (gathering data, forward and backward per layer, waiting for gradients, barriers, the
 * optimizer per chunk and thread, evaluation, checkpoints), kept in memory by each rank and
 * written by rank 0 as one Chrome trace (JSON; Perfetto and chrome://tracing open it), one track
 * per rank and thread, the clocks aligned at a common barrier. Off, every call costs one test. */
#ifndef DPTRAIN_TRACE_H
#define DPTRAIN_TRACE_H

#include <stdint.h>

#include "dptrain/comm.h"
#include "dptrain/error.h"

typedef struct {
    const char *name, *cat; /* static strings */
    double ts, dur;         /* microseconds since the common start */
    int64_t arg;            /* a span's number (layer, chunk, bytes), -1 = none */
    int tid;                /* 0 = the rank's main thread, k = its update thread k */
    int step;               /* the training step it belongs to */
} dpt_trace_event;

typedef struct {
    int on;                 /* the current step is recorded */
    int64_t first, last;    /* the steps recorded, 1-based, inclusive; last < first: none */
    int64_t step;           /* the step under way */
    double t0;              /* dpt_comm_time() at the common start */
    dpt_trace_event *ev;    /* [cap] */
    long n, cap, dropped;
} dpt_trace;

/* Parses steps ("A-B" or "A", 1-based) and, when path is not empty, allocates the event buffer
 * and aligns the clocks (collective: a barrier). An empty path leaves the trace off. */
int dpt_trace_init(dpt_trace *tr, const dpt_comm *comm, const char *path, const char *steps, dpt_err *e);

/* Marks the start of training step `step` (1-based): recording follows the selection. */
void dpt_trace_step(dpt_trace *tr, int64_t step);

/* Now, for a span's start (0 when not recording). */
double dpt_trace_now(const dpt_trace *tr);

/* Records the span [t0, now) of the rank's main thread when recording; arg < 0: none. */
void dpt_trace_span(dpt_trace *tr, const char *name, const char *cat, double t0, int64_t arg);

/* The same from update thread tid (any thread: slots are claimed atomically). */
void dpt_trace_span_at(dpt_trace *tr, const char *name, const char *cat, int tid, double t0, int64_t arg);

/* Gathers every rank's events on rank 0, which writes them to path as one Chrome trace
 * (collective; a no-op when the trace is off). */
int dpt_trace_write(const dpt_trace *tr, const dpt_comm *comm, const char *path, dpt_err *e);

/* Frees the buffer; accepts a zeroed trace. */
void dpt_trace_free(dpt_trace *tr);

#endif
