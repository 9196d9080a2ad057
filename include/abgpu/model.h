/* model.h - a trained model and what is done with it: the .abm file (save/load, see
 * docs/model-format.md), scoring raw customer rows, classification metrics, gains and
 * lift, prior correction, a threshold chooser and permutation importance.
 *
 * Probabilities: the network is trained on balanced data, so its output p ("raw") says
 * how a buyer compares with a non-buyer at the training ratio rho (0.5 when balanced).
 * ab_prior_correct() maps it to the real share of buyers pi ("prior-corrected"). Rank
 * figures (ROC AUC, PR AUC, gains, lift) are the same for both; thresholds act on raw
 * probabilities unless a caller converts them. */
#ifndef ABGPU_MODEL_H
#define ABGPU_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include "abgpu/arch.h"
#include "abgpu/prep.h"
#include "abgpu/table.h"
#include "abgpu/config.h"

#define AB_MODEL_MAGIC "ABGPUMDL"         /* 8 bytes, no terminator in the file */
#define AB_MODEL_FORMAT 5                 /* bumped on any change to the layout */
#define AB_MODEL_ENC_VERSION 1            /* version of format 3's encoding section */
#define AB_MODEL_FORMAT_OLDEST 1          /* the oldest format the loader still reads */
#define AB_MODEL_HEADER 32                /* bytes before the payload */
#define AB_MODEL_MAX_BYTES (1ull << 30)   /* the loader refuses larger files */
#define AB_MODEL_MAX_NETS 64              /* members of an ensemble */
#define AB_MODEL_MAX_WIDTH 4096           /* widest layer the loader accepts */

/* What the file holds: one network, or an ensemble: several networks (their widths may
 * differ) sharing the fills, transform and scaler, whose probabilities are averaged. */
typedef enum { AB_MODEL_SINGLE = 0, AB_MODEL_ENSEMBLE = 1 } ab_model_kind;

/* Classification figures on one labelled set. Threshold figures use the probabilities
 * given to ab_metrics_compute (raw); *_corrected use them after prior correction and are
 * NaN when no prior was given. */
typedef struct ab_metrics {
  uint64_t n, npos;                 /* rows, buyers */
  uint64_t tp, fp, tn, fn;          /* confusion matrix at threshold */
  double threshold;
  double accuracy, precision, recall, f1;
  double roc_auc, pr_auc;           /* pr_auc = average precision */
  double log_loss, brier;           /* of the raw probabilities */
  double prior, log_loss_corrected, brier_corrected;
} ab_metrics;

/* Calibration (calib.c): a monotone map fitted after training on the validation split's
 * probabilities (the model's output at its training ratio, the probability predict writes
 * without --prior) against its labels, stored in the model and applied to every
 * probability the model gives (ab_model_forward, the predictor): what the rest of this
 * header calls "raw" is then the calibrated probability, and prior correction acts on
 * it. Platt: p' = sigmoid(a*logit(p) + b). Isotonic: pool-adjacent-violators, stored as n
 * breakpoints x[i] strictly ascending, y[i] not descending: each block's lowest and
 * highest probability (one point when they are equal) with the block's buy rate; p' is
 * linear between neighbouring breakpoints (constant within a block, a ramp across the
 * gap to the next) and y[0] / y[n-1] beyond the ends, so on the rows it was fitted on it
 * gives exactly the PAV solution. */
typedef enum { AB_CALIB_NONE = 0, AB_CALIB_PLATT = 1, AB_CALIB_ISOTONIC = 2 } ab_calib_kind;
#define AB_CALIB_MAX_POINTS (1u << 24)    /* isotonic breakpoints the loader accepts */
typedef struct ab_calib {
  ab_calib_kind kind;
  double a, b;                       /* platt */
  uint32_t n;                        /* isotonic: breakpoints in x, y */
  double *x, *y;
  /* on the validation split it was fitted on: [0] the model's own, [1] calibrated */
  double val_log_loss[2], val_brier[2];
} ab_calib;

/* One network: its architecture and ab_arch_nparams() floats. */
typedef struct ab_net {
  ab_arch arch;
  float *params;
} ab_net;

typedef struct ab_model {
  ab_model_kind kind;
  int nnets;                         /* 1 for AB_MODEL_SINGLE */
  ab_net *nets;                      /* [nnets] */
  /* what scoring a raw row needs */
  char feature_names[AB_NFEAT][64];
  float mean[AB_NFEAT], std[AB_NFEAT]; /* scaler: x' = (x - mean) / std */
  float fill[AB_NFEAT];              /* value for an empty field, before scaling */
  ab_missing missing;                /* the training run's --missing */
  ab_encoder enc;                    /* te, ple: fitted on the training split; enc.width is
                                        every network's input width */
  /* how it was made */
  ab_train_cfg cfg;                  /* cfg.arch equals nets[0].arch */
  ab_prep_opts prep;                 /* prep.transform is applied when scoring */
  int epochs_run, best_epoch;
  char version[32], device[128], data[1024];
  uint64_t data_hash;                /* ab_model_data_hash of the training table */
  uint64_t n_total, n_pos_total, n_balanced, n_train, n_val, n_test;
  double prior;                      /* buyers' share of the training file (pi) */
  double train_ratio;                /* buyers' share after balancing (rho) */
  ab_metrics val, test;              /* at threshold 0.5 on the balanced splits */
  ab_calib calib;                    /* AB_CALIB_NONE: the network's probability as it is */
} ab_model;

/* ---- the model struct (model.c) ---- */

/* Empty single-network model: this build's version, the feature names, no network. */
void ab_model_init(ab_model *m);
void ab_model_free(ab_model *m);
/* FNV-1a 64 over n, then every row's id (a plain integer as its 8-byte value, other text
 * as 0xFF, length and bytes), 10 features (float32 bits) and target (as read,
 * after missing-value filling), all little-endian. */
uint64_t ab_model_data_hash(const ab_table *t);
/* The same over n rows given apart (x raw, [n][AB_NFEAT]; y may be NULL), an empty field
 * (NaN) counted as fill[j] when fill is not NULL. */
uint64_t ab_model_rows_hash(const ab_ids *ids, const float *x, const uint8_t *y, size_t n,
                           const float *fill);
/* Records the training table: hash, --data spec, missing policy and fill values: the
 * column medians for --missing median, zero for zero, else (mean, and error where
 * nothing was filled) the column means, so a new file with an empty field can always
 * be scored. The table is as read, empty fields already filled, which leaves its mean
 * and median as they were. */
void ab_model_set_data(ab_model *m, const ab_table *t, const char *spec);
/* Records a finished training run: the network, config, scaler and class ratios. */
int ab_model_set_training(ab_model *m, const ab_train_cfg *c, const ab_prep_opts *p,
                          const ab_train_result *r, const ab_splits *s, const char *device,
                          ab_err *e);

/* Makes m an ensemble of copies of the n networks (1..AB_MODEL_MAX_NETS, inputs and
 * outputs as the model's), replacing its networks; m->cfg.arch becomes members[0]'s.
 * Everything else (fills, transform, scaler, record) stays as it was. */
int ab_model_set_ensemble(ab_model *m, const ab_net *members, int n, ab_err *e);

/* The exact bytes of the .abm file (malloc'd into *buf). */
int ab_model_encode(const ab_model *m, uint8_t **buf, size_t *n, ab_err *e);
/* Parses n bytes; name is used in messages. Every count and size is checked against n
 * before use; any problem is AB_EINPUT with a one-line message. */
int ab_model_decode(ab_model *m, const uint8_t *buf, size_t n, const char *name, ab_err *e);
/* Atomic save (temp file + rename) and load. */
int ab_model_save(const ab_model *m, const char *path, ab_err *e);
int ab_model_load(ab_model *m, const char *path, ab_err *e);

/* ---- scoring (predict.c) ---- */

/* Replaces NaN (empty fields) by the model's fills, counting them per feature into
 * nfilled (may be NULL), applies the model's log1p transform (m->prep.transform), then
 * standardises with the model's scaler. x: [n][AB_NFEAT]. */
void ab_model_prepare(const ab_model *m, float *x, size_t n, uint64_t *nfilled);
/* Something that gives raw probabilities of n prepared rows xs [n][AB_NFEAT] (the
 * model's encodings applied inside): ab_model_forward below, or a backend's predictor
 * (predictor.h: the device chosen by --device). fn NULL means ab_model_forward. */
typedef int (*ab_score_fn)(void *user, const float *xs, size_t n, float *prob, ab_err *e);
/* Optional: raw probabilities of n rows of network inputs x [n][m->enc.width], i.e.
 * rows already encoded (ab_encode_rows), with the bits fn gives for the prepared rows.
 * Importance encodes its rows once and changes only a shuffled feature's columns. */
typedef int (*ab_score_encoded_fn)(void *user, const float *x, size_t n, float *prob,
                                   ab_err *e);
typedef struct ab_scorer {
  ab_score_fn fn;
  void *user;
  ab_score_encoded_fn encoded; /* NULL: importance scores prepared rows with fn */
} ab_scorer;
/* Runs sc on n rows (ab_model_forward when sc.fn is NULL). */
int ab_scorer_run(ab_scorer sc, const ab_model *m, const float *xs, size_t n, float *prob,
                  ab_err *e);

/* Raw probability of buying for n prepared rows (the mean over the model's networks,
 * calibrated by m->calib), with the reference ops: the same bits on every machine. The model's encodings (te,
 * ple) are applied to the prepared rows first. */
int ab_model_forward(const ab_model *m, const float *xs, size_t n, float *prob, ab_err *e);

/* A whole labelled (or unlabelled) file, scored. */
typedef struct ab_scored {
  size_t n;
  ab_ids ids;                 /* [n] as in the file */
  float *x;                   /* [n][AB_NFEAT] prepared (filled and standardised) */
  uint8_t *y;                 /* [n] or NULL when the file has no target column */
  float *prob;                /* [n] raw */
  uint64_t nfilled[AB_NFEAT]; /* empty fields filled with the model's values */
  uint64_t data_hash;         /* ab_model_rows_hash of the rows as read, blanks as filled */
} ab_scored;
/* Reads path (in format fmt, NULL: detected) with the model's fills and scaler (never the
 * file's own statistics) and scores it with sc ({NULL}: the reference). need_target: a
 * file without the target column is an error. A row the network gives no finite
 * probability is an error naming its line. */
int ab_model_score_file(ab_scored *s, const ab_model *m, const char *path,
                        const ab_csv_format *fmt, int need_target, ab_scorer sc, ab_err *e);
void ab_scored_free(ab_scored *s);
/* Scores one prepared split: prob [sp->n], y [sp->n] as 0/1 bytes. */
int ab_model_score_split(float *prob, uint8_t *y, const ab_model *m, const ab_split *sp,
                         ab_err *e);

/* Streams path (format fmt, NULL: detected) in chunks of `chunk` rows, calling fn with each
 * chunk's ids (ids->n == n) and raw probabilities (scored by sc; {NULL}: the reference),
 * in file order; a row without a finite probability is an error naming its line. The
 * target column, if any, is ignored. Memory is O(chunk). nfilled (may be NULL) counts
 * filled fields per feature. A file without customer rows is an error (AB_EINPUT), as in
 * ab_model_score_file. */
typedef int (*ab_predict_fn)(void *user, const ab_ids *ids, const float *prob, size_t n,
                             ab_err *e);
int ab_predict_stream(const ab_model *m, ab_scorer sc, const char *path,
                      const ab_csv_format *fmt, size_t chunk, ab_predict_fn fn, void *user,
                      uint64_t *nfilled, ab_err *e);

/* ---- metrics (metrics.c) ---- */

/* p' = p*pi/rho / (p*pi/rho + (1-p)(1-pi)/(1-rho)); p unchanged when pi == rho. */
double ab_prior_correct(double p, double prior, double train_ratio);
/* Every figure of ab_metrics. prior <= 0: the *_corrected figures are NaN. */
int ab_metrics_compute(ab_metrics *m, const float *prob, const uint8_t *y, size_t n,
                       double threshold, double prior, double train_ratio, ab_err *e);

/* The figures a set at buyer share `prior` would give, estimated from a set at another
 * share (the balanced test split) by weighting each buyer prior*n/P and each other
 * customer (1-prior)*n/N: threshold figures on the raw probability, log loss and Brier raw
 * and prior-corrected (prior, train_ratio), PR AUC; ROC AUC is unchanged by the weights.
 * The confusion counts are the weighted ones, rounded. lift: of the top tenth of the
 * weight. Needs both classes (AB_EINPUT). */
int ab_metrics_at_prior(ab_metrics *m, double *lift, const float *prob, const uint8_t *y,
                        size_t n, double threshold, double prior, double train_ratio,
                        ab_err *e);

/* Platt scaling (calib.c): p' = sigmoid(a*logit(p) + b), logit of p clipped to
 * [1e-7, 1-1e-7]. ab_platt_fit minimises the mean log loss of p' on prob[n] against y[n]
 * by Newton's method with step halving, from a = 1, b = 0 (the identity). Fails
 * (AB_EINPUT, a = 1, b = 0 or the last iterate) with one class only, probabilities that
 * barely vary (a singular Hessian), or a fit with a <= 0 (it would reverse the ranking). */
int ab_platt_fit(double *a, double *b, const float *prob, const uint8_t *y, size_t n,
                 ab_err *e);
double ab_platt_apply(double p, double a, double b);
/* ab_platt_fit also fails when the set is separated: every buyer's probability at or
 * above every non-buyer's (or at or below): the slope a would grow without bound. */

/* Isotonic regression by pool-adjacent-violators on prob[n] sorted ascending (equal
 * probabilities pooled first; a block merges into the one before while that one's buy
 * rate is not below it), into c (kind AB_CALIB_ISOTONIC, c->x, c->y malloc'd). Its
 * squared error on the set is the least of any non-decreasing map (the identity among
 * them), so the set's Brier score never rises.
 * Fails (AB_EINPUT) with one class only, or when every block pools into one (the model
 * does not rank the set: the map would be a constant). */
int ab_iso_fit(ab_calib *c, const float *prob, const uint8_t *y, size_t n, ab_err *e);
/* c applied to one probability (NaN stays NaN); p itself for AB_CALIB_NONE. */
double ab_calib_apply(const ab_calib *c, double p);
/* The same to prob[n] in place, each result rounded to float. */
void ab_calib_apply_n(const ab_calib *c, float *prob, size_t n);
/* Fits a calibrator of kind k (NONE: c is the identity) and records the validation log
 * loss and Brier score (ab_log_loss, ab_brier) before and after. */
int ab_calib_fit(ab_calib *c, ab_calib_kind k, const float *prob, const uint8_t *y, size_t n,
                 ab_err *e);
void ab_calib_free(ab_calib *c);
/* "none", "platt", "isotonic"; parse returns -1 for another name. */
const char *ab_calib_name(ab_calib_kind k);
int ab_calib_parse(ab_calib_kind *k, const char *s);

/* A probability with its row, for ranking (highest first, ties in row order). */
typedef struct ab_scorepair {
  float p;
  uint32_t i;
} ab_scorepair;
/* Fills pairs[n] and sorts them. */
void ab_rank(ab_scorepair *pairs, const float *prob, size_t n);
/* ROC AUC with ties counted half (= Mann-Whitney U / (P*N)); NaN with one class.
 * scratch: [n] pairs. */
double ab_roc_auc(const float *prob, const uint8_t *y, size_t n, ab_scorepair *scratch);
/* Average precision: sum over distinct thresholds of (recall step) * precision. */
double ab_pr_auc_ranked(const ab_scorepair *r, const uint8_t *y, size_t n);
/* Mean of -log(q), q = the probability given to the true class, at least 1e-15; and the
 * mean squared error of p. prior > 0: of the prior-corrected probabilities. */
double ab_log_loss(const float *prob, const uint8_t *y, size_t n, double prior, double rho);
double ab_brier(const float *prob, const uint8_t *y, size_t n, double prior, double rho);

/* Points of the ROC curve at every distinct threshold, thinned to at most max points
 * (always including (0,0) and (1,1)). Returns the count; fpr/tpr: [max]. */
size_t ab_roc_curve(double *fpr, double *tpr, size_t max, const ab_scorepair *r,
                    const uint8_t *y, size_t n);

/* Cumulative gains by decile: contact the top d*n/10 customers by score. */
typedef struct ab_gains_row {
  int decile;                 /* 1..10 */
  uint64_t contacted, buyers; /* cumulative */
  double contacted_share;     /* contacted / n */
  double buyers_share;        /* buyers / all buyers */
  double lift;                /* buyers_share / contacted_share */
  double band_rate;           /* buyers' share within this decile band */
  double band_prob;           /* mean probability within the band (corrected when
                                 the gains were computed with a prior, else raw) */
} ab_gains_row;
typedef struct ab_gains {
  uint64_t n, npos;
  int corrected;              /* 1: band_prob is prior-corrected */
  ab_gains_row row[10];
} ab_gains;
int ab_gains_compute(ab_gains *g, const float *prob, const uint8_t *y, size_t n, double prior,
                     double train_ratio, ab_err *e);

/* Reliability (calibration) table: customers in ten equal bins of predicted probability,
 * [0, 0.1), [0.1, 0.2), ..., [0.9, 1] (an edge within 1e-6 of a float), prior-corrected when prior > 0 (natural-ratio
 * data), each bin's mean prediction against its observed buy rate (both NaN when the bin
 * is empty). The bins' counts sum to n. */
#define AB_RELIABILITY_BINS 10
typedef struct ab_reliability_bin {
  uint64_t n, buyers;
  double mean_prob, rate;
} ab_reliability_bin;
typedef struct ab_reliability {
  int corrected;                    /* 1: binned on prior-corrected probabilities */
  ab_reliability_bin bin[AB_RELIABILITY_BINS];
} ab_reliability;
void ab_reliability_compute(ab_reliability *r, const float *prob, const uint8_t *y, size_t n,
                            double prior, double train_ratio);

/* Threshold chooser: the raw threshold that reaches a recall, or that contacts a budget
 * of the top N customers, and the precision and recall it gives on this data. */
typedef enum { AB_CHOOSE_RECALL = 0, AB_CHOOSE_BUDGET = 1 } ab_choose_mode;
typedef struct ab_choice {
  ab_choose_mode mode;
  double target;              /* the recall asked for, or N */
  double threshold;           /* contact rows with raw probability >= threshold */
  uint64_t contacted, tp;
  double precision, recall;
} ab_choice;
int ab_choose_threshold(ab_choice *c, const float *prob, const uint8_t *y, size_t n,
                        ab_choose_mode mode, double target, ab_err *e);

/* ---- permutation importance (importance.c) ---- */

#define AB_PD_POINTS 10   /* partial dependence: one point per tenth of the column */
#define AB_PD_ROWS 2000   /* rows averaged at each point (all when fewer) */

typedef struct ab_importance {
  int repeats;
  uint64_t seed;
  size_t rows;
  double base_auc;                      /* ROC AUC with no column shuffled */
  double mean[AB_NFEAT], sd[AB_NFEAT];  /* drop in ROC AUC; sd over repeats (n-1) */
  int rank[AB_NFEAT];                   /* feature indices, largest mean drop first */
  /* Partial dependence (direction of effect): feature j set to pd_value[j][k] in every
   * row (k-th point: the value at quantile (2k+1)/20 of the column, in the file's units,
   * to 6 significant digits), the mean predicted probability at the natural ratio
   * (prior-corrected; raw when the model has no prior), over at most AB_PD_ROWS rows
   * evenly spaced through the data. */
  double pd_value[AB_NFEAT][AB_PD_POINTS], pd_prob[AB_NFEAT][AB_PD_POINTS];
  size_t pd_rows;
} ab_importance;
/* How importance runs: repeats and seed of the shuffles, the scorer ({NULL}: the
 * reference), and progress (called after each feature, from the calling thread; may be
 * NULL). With nscorers > 0, scorers[0..nscorers-1] replace scorer: one thread each
 * (the caller's the first), so they must not share state; the result has the same bits
 * for any number of them. */
typedef struct ab_importance_opts {
  int repeats;
  uint64_t seed;
  ab_scorer scorer;
  void (*progress)(void *user, int done, int total, const char *feature);
  void *user;
  const ab_scorer *scorers;
  int nscorers;   /* 0 to AB_IMPORTANCE_MAX_SCORERS */
} ab_importance_opts;
#define AB_IMPORTANCE_MAX_SCORERS 256
/* Shuffles one prepared column at a time (PCG32 seeded by seed) `repeats` times and
 * measures the drop in ROC AUC. xs: [n][AB_NFEAT] prepared, not modified. The repeats
 * of a feature are scored together, only the rows whose value the shuffle changed (a row
 * with its own value back scores as before, bit for bit). */
int ab_importance_run(ab_importance *imp, const ab_model *m, const float *xs,
                      const uint8_t *y, size_t n, const ab_importance_opts *o, ab_err *e);
/* The same with the reference scorer and no progress. */
int ab_importance_compute(ab_importance *imp, const ab_model *m, const float *xs,
                          const uint8_t *y, size_t n, int repeats, uint64_t seed, ab_err *e);

#endif
