/* predictor.h - scoring a saved model on a backend: the forward slot behind eval,
 * predict and importance (--device, --threads). The networks go to the device once;
 * rows go in chunks. Results agree with the reference (ab_model_forward) within the
 * bounds of the backend's ops (tests/tolerance.h); on `ref` they are its bits. */
#ifndef ABGPU_PREDICTOR_H
#define ABGPU_PREDICTOR_H
#include "abgpu/backend.h"
#include "abgpu/model.h"

typedef struct ab_predictor ab_predictor;

/* Uploads m's networks to be (which keeps its training models, if any). m must outlive
 * the predictor. */
int ab_predictor_open(ab_predictor **p, ab_backend *be, const ab_model *m, ab_err *e);
/* Raw probabilities of n prepared rows xs [n][AB_NFEAT] (ab_model_prepare): the model's
 * encodings, then every network, averaged and calibrated (m->calib), as ab_model_forward
 * computes them. */
int ab_predictor_run(ab_predictor *p, const float *xs, size_t n, float *prob, ab_err *e);
void ab_predictor_free(ab_predictor *p);
/* Raw probabilities of n rows of network inputs x [n][width] (rows ab_encode_rows has
 * encoded with the model's encoder; the prepared rows themselves when it has none): the
 * bits ab_predictor_run gives for the rows they encode. */
int ab_predictor_run_encoded(ab_predictor *p, const float *x, size_t n, float *prob,
                             ab_err *e);
/* A scorer (model.h) that runs the predictor; the second also scores encoded rows
 * (importance encodes its rows once). */
ab_scorer ab_predictor_scorer(ab_predictor *p);
ab_scorer ab_predictor_scorer_encoded(ab_predictor *p);

#endif
