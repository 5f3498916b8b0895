/* Datasets in memory: features kept in their stored type (uint8 images stay
 * uint8, memory-mapped when the file is uncompressed) and turned into float
 * only when a batch is gathered; targets as float. Knows nothing of ranks. */
#ifndef DPTRAIN_DATA_H
#define DPTRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/error.h"

typedef enum { DPT_DT_U8, DPT_DT_I32, DPT_DT_I64, DPT_DT_F32, DPT_DT_F64 } dpt_dtype;

typedef enum { DPT_TASK_CLASSIFY, DPT_TASK_REGRESS } dpt_task;

/* An input format; AUTO picks one by the file name. data.c's table of readers gives each its
 * name, file-name endings and whether its files carry the targets. */
typedef enum { DPT_FORMAT_AUTO, DPT_FORMAT_IDX, DPT_FORMAT_NPY, DPT_FORMAT_CSV, DPT_FORMAT_LIBSVM } dpt_data_format;

/* A generated dataset instead of files (data.synthetic). */
typedef enum { DPT_SYNTH_NONE, DPT_SYNTH_LINREG } dpt_synthetic;

typedef struct {
    size_t n;          /* samples */
    size_t d;          /* features per sample (trailing axes flattened) */
    size_t shape[3];   /* a sample's C, H, W when the file gives them (IDX, NPY with 2 or 3 trailing
                        * axes: H x W is 1 x H x W); all 0 when flat */
    dpt_dtype xtype;   /* stored type of the features */
    const void *x;     /* [n][d] of xtype, row-major; may point into map */
    float xscale;      /* gathered feature = stored value * xscale (1/255 for IDX images) */
    size_t tdim;       /* target values per sample (1 for class labels) */
    float *y;          /* [n][tdim]; for classification the class index as a float */
    int nclasses;      /* classification: labels lie in [0, nclasses); 0 for regression */
    float *mean, *std; /* [d] standardization applied by gather, or NULL */
    /* ownership, private to data.c and the format readers */
    void *map;
    size_t maplen;
    void *xbuf;
} dpt_dataset;

typedef struct {
    dpt_data_format format; /* DPT_FORMAT_AUTO: by the file name */
    const char *path;     /* features, or features and targets for csv and libsvm */
    const char *targets;  /* targets file for idx and npy */
    const char *label;    /* csv: label column, by header name or 0-based index; "" = last */
    int header;           /* csv: -1 detect, 0 none, 1 first line is a header */
    dpt_task task;
    int nclasses;         /* classification: 0 = max label + 1, else labels must be below it */
    size_t nfeatures;     /* libsvm: 0 = largest index seen */
} dpt_data_opts;

/* Loads a dataset as o describes; on failure ds is empty and e names file, line and column. */
int dpt_data_load(dpt_dataset *ds, const dpt_data_opts *o, dpt_err *e);

/* Loads features only, for prediction: a CSV has no label column (every column is a
 * feature), o->targets is not read; ds->y is NULL and ds->tdim 0. */
int dpt_data_load_features(dpt_dataset *ds, const dpt_data_opts *o, dpt_err *e);

/* The format format = auto reads path as, or DPT_FORMAT_AUTO if its name does not tell. */
dpt_data_format dpt_data_format_of(const char *path);

/* Name of format as the experiment file spells it ("auto", "idx", "npy", "csv", "libsvm"); NULL
 * outside the enum. */
const char *dpt_data_format_name(int format);

/* 1 if files of format hold the targets beside the features (csv, libsvm), so no targets file. */
int dpt_data_format_carries_targets(dpt_data_format format);

/* Name of a synthetic dataset ("none", "linreg"); NULL outside the enum. */
const char *dpt_data_synthetic_name(int synthetic);

/* Releases everything ds owns; accepts a zeroed or half-built dataset. */
void dpt_data_free(dpt_dataset *ds);

/* Assembles samples idx[0..count) as float: x [count][d] (scaled, standardized), y [count][tdim]. */
void dpt_data_gather(float *x, float *y, const dpt_dataset *ds, const size_t *idx, size_t count);

/* Fits ds->mean and ds->std over the samples idx[0..count) only (the training split; idx NULL:
 * samples 0..count, as the trainer passes when nothing is held out). */
int dpt_data_fit_standardize(dpt_dataset *ds, const size_t *idx, size_t count, dpt_err *e);

/* Splits 0..n-1 into train and validation index lists (caller frees both) by fraction,
 * seeded, stratified by class when ds is a classification set. */
int dpt_data_split(size_t **train, size_t *ntrain, size_t **val, size_t *nval,
                   const dpt_dataset *ds, double val_fraction, uint64_t seed, dpt_err *e);

/* Fold `fold` of k (seeded, stratified for classification): the fold is validation, the rest train. */
int dpt_data_kfold(size_t **train, size_t *ntrain, size_t **val, size_t *nval,
                   const dpt_dataset *ds, int k, int fold, uint64_t seed, dpt_err *e);

/* Synthetic regression y = 2x + 0.5 eps, x ~ N(0,1): the classic default experiment. */
int dpt_data_linreg(dpt_dataset *ds, size_t n, uint64_t seed, dpt_err *e);

/* A 64-bit hash of the features as stored (targets != 0: of the targets) and their shape, the
 * same on every machine that loaded the same file; cheap enough to take once per run. */
uint64_t dpt_data_checksum(const dpt_dataset *ds, int targets);

/* A sample's C, H, W for the model: spec "C,H,W" (model.input_shape) when given, whose product must
 * be ds->d, else the shape the file gave, else d x 1 x 1; errors name the key and file. */
int dpt_data_sample_shape(int shape[3], const dpt_dataset *ds, const char *spec, const char *file, dpt_err *e);

/* Size in bytes of one stored element of t. */
size_t dpt_dtype_size(dpt_dtype t);

#endif
