/* report.h - the HTML report (one self-contained file: inline SVG and CSS, no scripts,
 * nothing from the network) and the JSON fragments the CLI prints.
 *
 * Every figure in the report that also appears in the JSON carries it in a
 * data-key="KEY" data-value="VALUE" attribute, formatted by the same function as the
 * JSON (ab_json_num), so a test can check that both say the same. */
#ifndef ABGPU_REPORT_H
#define ABGPU_REPORT_H
#include <stdio.h>
#include "abgpu/json.h"
#include "abgpu/model.h"

typedef struct ab_report {
  const char *title;           /* "Training report", "Evaluation report" */
  const char *scored;          /* what the figures were measured on, in words */
  const char *model_path;      /* NULL when the model was not saved */
  const ab_model *model;
  const ab_epoch_stats *hist;  /* per-epoch curves (train only; NULL for eval) */
  int nhist;
  const ab_metrics *metrics;   /* at the threshold, raw probabilities */
  const ab_gains *gains;
  const ab_importance *imp;    /* NULL: no importance section */
  const ab_choice *choice;     /* NULL: no threshold chooser section */
  const float *prob;           /* [n] raw probabilities, for the ROC curve */
  const uint8_t *y;            /* [n] */
  size_t n;
  const char *when;            /* the run's date and time (UTC), or NULL */
  int has_data_hash;           /* 1: data_hash is the evaluated file's (ab_scored) */
  uint64_t data_hash;          /* equal to the model's: a warning that the figures were
                                * measured on the training data */
  uint64_t id_overlap;         /* evaluated customers whose id is in id_overlap_file */
  const char *id_overlap_file; /* the training file (NULL: not checked); a warning when
                                * id_overlap > 0 */
  const ab_metrics *natural;   /* NULL, or the figures at the real share of buyers estimated
                                * from a balanced split (ab_metrics_at_prior): then the
                                * first row of tiles, and metrics the second, labelled */
  double natural_lift;         /* natural's top-decile lift */
} ab_report;

/* The operating point: the chooser's top customers when there is a choice, else those at or
 * above the metrics' threshold; the confusion matrix there. */
typedef struct ab_op_point {
  int chosen;                  /* 1: from the chooser (--budget, --target-recall) */
  double threshold;            /* raw probability */
  uint64_t n, npos, contacted, tp, fp, tn, fn;
  double contacted_share, precision, recall;
} ab_op_point;
ab_op_point ab_op_point_of(const ab_metrics *m, const ab_choice *c);
/* "Contact the top 20% (2,817 customers) to reach 71% of the buyers; precision 56%." */
void ab_op_sentence(char *buf, size_t len, const ab_op_point *o);

/* Writes the report atomically (temp file + rename). */
int ab_report_write(const char *path, const ab_report *r, ab_err *e);
/* Writes the report's HTML to f (the caller commits the file, e.g. with others). */
int ab_report_print(FILE *f, const ab_report *r, ab_err *e);

/* ---- JSON fragments (the caller writes the enclosing braces) ---- */

/* "rows": .., "buyers": .., "threshold": .., "accuracy": .., ... (no braces). */
void ab_json_metrics(FILE *f, const ab_metrics *m);
/* {"version": .., "arch": .., "transform": .., "lr": .., "batch": .., ...}: how the model
 * was made (preparation, training configuration, data and its hash, the splits' sizes),
 * from the model file: train --json's "config" and info --json's, the same text. */
void ab_json_model_config(FILE *f, const ab_model *m);
/* The model's calibrator: {"method": "none"}, or its method, parameters (Platt: a, b;
 * isotonic: the number of breakpoints) and validation figures before and after. */
void ab_json_calibration(FILE *f, const ab_calib *c);
/* [{"decile": 1, "contacted": .., ...}, ...] */
void ab_json_gains(FILE *f, const ab_gains *g);
/* [{"bin": 1, "from": 0, "to": 0.1, "customers": .., "buyers": .., "mean_probability": ..,
 *   "buy_rate": ..}, ...] (null for an empty bin's mean and rate) */
void ab_json_reliability(FILE *f, const ab_reliability *r);
/* {"repeats": .., "seed": .., "rows": .., "base_roc_auc": .., "features": [...]} in rank
 * order, each {"feature": NAME, "mean": .., "sd": .., "rank": ..}. */
void ab_json_importance(FILE *f, const ab_importance *imp, const ab_model *m);
/* {"mode": "target_recall"|"budget", "target": .., "threshold": .., ...}; the
 * threshold also as prior-corrected probability. */
void ab_json_choice(FILE *f, const ab_choice *c, const ab_model *m, double prior);
/* {"threshold": .., "contacted": .., "contacted_share": .., "tp": .., ..., "sentence": ..} */
void ab_json_op_point(FILE *f, const ab_op_point *o);

#endif
