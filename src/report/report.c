/* The HTML report: one self-contained page (inline CSS and SVG; no scripts, fonts or
 * anything else from the network) and the JSON fragments that carry the same numbers.
 * Numbers shared with the JSON go through ab_json_num in both. */
#include "abgpu/report.h"
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/version.h"

/* ---- JSON ---- */

static void jnum(FILE *f, const char *key, double v, int comma) {
  char b[32];
  fprintf(f, "%s\"%s\": %s", comma ? ", " : "", key, ab_json_num(b, v));
}

void ab_json_metrics(FILE *f, const ab_metrics *m) {
  fprintf(f, "\"rows\": %llu, \"buyers\": %llu, \"tp\": %llu, \"fp\": %llu, \"tn\": %llu, "
          "\"fn\": %llu", (unsigned long long)m->n, (unsigned long long)m->npos,
          (unsigned long long)m->tp, (unsigned long long)m->fp, (unsigned long long)m->tn,
          (unsigned long long)m->fn);
  const char *k[] = {"threshold", "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc",
                     "log_loss", "brier", "prior", "log_loss_corrected", "brier_corrected"};
  double v[] = {m->threshold, m->accuracy, m->precision, m->recall, m->f1, m->roc_auc,
                m->pr_auc, m->log_loss, m->brier, m->prior, m->log_loss_corrected,
                m->brier_corrected};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) jnum(f, k[i], v[i], 1);
}

static void jstr(FILE *f, const char *key, const char *v) {
  fprintf(f, ", \"%s\": ", key);
  ab_json_str(f, v);
}

static void jint(FILE *f, const char *key, long long v) { fprintf(f, ", \"%s\": %lld", key, v); }

/* Preparation: the recipe before the network. */
static void json_prep(FILE *f, const ab_model *m) {
  const ab_prep_opts *p = &m->prep;
  jstr(f, "transform", AB_TRANSFORM_STR(p->transform));
  jstr(f, "balance", ab_balance_name(p->balance));
  fprintf(f, ", \"seed_compat\": %s, \"split\": [%d, %d, %d]", p->compat ? "true" : "false",
          p->split[0], p->split[1], p->split[2]);
  jint(f, "prep_seed", (long long)p->seed);
  jint(f, "folds", p->folds);
  jint(f, "fold", p->fold);
  jstr(f, "missing", ab_missing_name(m->missing));
}

/* The training configuration. */
static void json_cfg(FILE *f, const ab_train_cfg *c) {
  jint(f, "batch", c->batch);
  jint(f, "epochs", c->epochs);
  jint(f, "patience", c->patience);
  jnum(f, "lr", c->lr, 1);
  jnum(f, "wd", c->wd, 1);
  jnum(f, "dropout", c->dropout, 1);
  jint(f, "seed", (long long)c->seed);
  jstr(f, "batch_order", ab_order_name(c->order));
  jstr(f, "stop", ab_stop_name(c->stop));
  jstr(f, "lr_schedule", ab_sched_name(c->sched));
  jint(f, "min_epochs", c->min_epochs);
  fprintf(f, ", \"keep_last\": %s", c->keep_last ? "true" : "false");
}

void ab_json_model_config(FILE *f, const ab_model *m) {
  char arch[128];
  ab_arch_describe(&m->cfg.arch, arch, sizeof arch);
  fprintf(f, "{\"version\": ");
  ab_json_str(f, m->version);
  jstr(f, "kind", m->kind == AB_MODEL_ENSEMBLE ? "ensemble" : "single");
  jint(f, "networks", m->nnets);
  jstr(f, "arch", arch);
  jint(f, "inputs", m->nnets ? m->nets[0].arch.dims[0] : 0);
  json_prep(f, m);
  json_cfg(f, &m->cfg);
  jint(f, "epochs_run", m->epochs_run);
  jint(f, "best_epoch", m->best_epoch);
  jstr(f, "device", m->device);
  jstr(f, "data", m->data);
  fprintf(f, ", \"data_hash\": \"%016llx\"", (unsigned long long)m->data_hash);
  const char *k[] = {"rows", "buyers", "balanced_rows", "train_rows", "val_rows", "test_rows"};
  uint64_t v[] = {m->n_total, m->n_pos_total, m->n_balanced, m->n_train, m->n_val, m->n_test};
  for (int i = 0; i < 6; i++) jint(f, k[i], (long long)v[i]);
  jnum(f, "prior", m->prior, 1);
  jnum(f, "train_ratio", m->train_ratio, 1);
  fprintf(f, "}");
}

void ab_json_calibration(FILE *f, const ab_calib *c) {
  fprintf(f, "{\"method\": \"%s\"", ab_calib_name(c->kind));
  if (c->kind == AB_CALIB_PLATT) {
    jnum(f, "a", c->a, 1);
    jnum(f, "b", c->b, 1);
  } else if (c->kind == AB_CALIB_ISOTONIC) {
    jint(f, "points", c->n);
  }
  if (c->kind != AB_CALIB_NONE) {
    jnum(f, "val_log_loss_before", c->val_log_loss[0], 1);
    jnum(f, "val_log_loss_after", c->val_log_loss[1], 1);
    jnum(f, "val_brier_before", c->val_brier[0], 1);
    jnum(f, "val_brier_after", c->val_brier[1], 1);
  }
  fputc('}', f);
}

void ab_json_gains(FILE *f, const ab_gains *g) {
  fputc('[', f);
  for (int d = 0; d < 10; d++) {
    const ab_gains_row *w = &g->row[d];
    fprintf(f, "%s{\"decile\": %d, \"contacted\": %llu, \"buyers\": %llu", d ? ", " : "",
            w->decile, (unsigned long long)w->contacted, (unsigned long long)w->buyers);
    jnum(f, "contacted_share", w->contacted_share, 1);
    jnum(f, "buyers_share", w->buyers_share, 1);
    jnum(f, "lift", w->lift, 1);
    jnum(f, "band_rate", w->band_rate, 1);
    jnum(f, g->corrected ? "band_probability_corrected" : "band_probability_raw", w->band_prob, 1);
    fputc('}', f);
  }
  fputc(']', f);
}

/* ", key: [v0, v1, ...]" */
static void jarray(FILE *f, const char *key, const double *v, int n) {
  char b[32];
  fprintf(f, ", \"%s\": [", key);
  for (int k = 0; k < n; k++) fprintf(f, "%s%s", k ? ", " : "", ab_json_num(b, v[k]));
  fputc(']', f);
}

/* 1 when importance's partial dependence is at the natural ratio (the model has a prior). */
static int pd_natural(const ab_model *m) { return m->prior > 0 && m->prior < 1; }


void ab_json_reliability(FILE *f, const ab_reliability *r) {
  fputc('[', f);
  for (int b = 0; b < AB_RELIABILITY_BINS; b++) {
    const ab_reliability_bin *w = &r->bin[b];
    fprintf(f, "%s{\"bin\": %d", b ? ", " : "", b + 1);
    jnum(f, "from", (double)b / AB_RELIABILITY_BINS, 1);
    jnum(f, "to", (double)(b + 1) / AB_RELIABILITY_BINS, 1);
    fprintf(f, ", \"customers\": %llu, \"buyers\": %llu", (unsigned long long)w->n,
            (unsigned long long)w->buyers);
    jnum(f, "mean_probability", w->mean_prob, 1);
    jnum(f, "buy_rate", w->rate, 1);
    fputc('}', f);
  }
  fputc(']', f);
}

void ab_json_importance(FILE *f, const ab_importance *imp, const ab_model *m) {
  fprintf(f, "{\"metric\": \"drop in ROC AUC\", \"repeats\": %d, \"seed\": %llu, \"rows\": %zu",
          imp->repeats, (unsigned long long)imp->seed, imp->rows);
  jnum(f, "base_roc_auc", imp->base_auc, 1);
  fprintf(f, ", \"features\": [");
  for (int r = 0; r < AB_NFEAT; r++) {
    int j = imp->rank[r];
    fprintf(f, "%s{\"feature\": ", r ? ", " : "");
    ab_json_str(f, m->feature_names[j]);
    jnum(f, "mean", imp->mean[j], 1);
    jnum(f, "sd", imp->sd[j], 1);
    fprintf(f, ", \"rank\": %d, \"label\": ", r + 1);
    ab_json_str(f, ab_feature_label(m->feature_names[j]));
    jarray(f, "pd_values", imp->pd_value[j], AB_PD_POINTS);
    jarray(f, "pd_probability", imp->pd_prob[j], AB_PD_POINTS);
    fputc('}', f);
  }
  fprintf(f, "], \"pd_rows\": %zu, \"pd_natural_ratio\": %s}", imp->pd_rows,
          pd_natural(m) ? "true" : "false");
}

void ab_json_choice(FILE *f, const ab_choice *c, const ab_model *m, double prior) {
  fprintf(f, "{\"mode\": \"%s\"", c->mode == AB_CHOOSE_RECALL ? "target_recall" : "budget");
  jnum(f, "target", c->target, 1);
  jnum(f, "threshold", c->threshold, 1);
  jnum(f, "threshold_corrected", ab_prior_correct(c->threshold, prior, m->train_ratio), 1);
  fprintf(f, ", \"contacted\": %llu, \"buyers_reached\": %llu", (unsigned long long)c->contacted,
          (unsigned long long)c->tp);
  jnum(f, "precision", c->precision, 1);
  jnum(f, "recall", c->recall, 1);
  fputc('}', f);
}

static double share(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : NAN; }

ab_op_point ab_op_point_of(const ab_metrics *m, const ab_choice *c) {
  ab_op_point o = {0, m->threshold, m->n, m->npos, m->tp + m->fp, m->tp, 0, 0, 0, 0, 0, 0};
  if (c) o.chosen = 1, o.threshold = c->threshold, o.contacted = c->contacted, o.tp = c->tp;
  o.fp = o.contacted - o.tp;
  o.fn = o.npos - o.tp;
  o.tn = o.n - o.npos - o.fp;
  o.contacted_share = share(o.contacted, o.n);
  o.precision = share(o.tp, o.contacted);
  o.recall = share(o.tp, o.npos);
  return o;
}

/* v with commas between thousands: 2817 -> "2,817". */
static const char *thousands(char *b, size_t len, uint64_t v) {
  char d[24];
  int n = snprintf(d, sizeof d, "%llu", (unsigned long long)v), k = 0;
  for (int i = 0; i < n && (size_t)k + 2 < len; i++) {
    if (i && (n - i) % 3 == 0) b[k++] = ',';
    b[k++] = d[i];
  }
  b[k] = 0;
  return b;
}

/* A percentage with no decimals, one below 10%. */
static int pct_digits(double v) { return v < 0.1 ? 1 : 0; }

void ab_op_sentence(char *buf, size_t len, const ab_op_point *o) {
  char c[32];
  double s = o->contacted_share, r = o->recall, p = o->precision;
  snprintf(buf, len, "Contact the top %.*f%% (%s customers) to reach %.*f%% of the buyers; "
           "precision %.*f%%.", pct_digits(s), 100 * s, thousands(c, sizeof c, o->contacted),
           pct_digits(r), 100 * r, pct_digits(p), 100 * p);
}

void ab_json_op_point(FILE *f, const ab_op_point *o) {
  char s[200];
  fprintf(f, "{\"source\": \"%s\"", o->chosen ? "choice" : "threshold");
  jnum(f, "threshold", o->threshold, 1);
  const char *k[] = {"contacted", "tp", "fp", "tn", "fn"};
  uint64_t v[] = {o->contacted, o->tp, o->fp, o->tn, o->fn};
  for (int i = 0; i < 5; i++) jint(f, k[i], (long long)v[i]);
  jnum(f, "contacted_share", o->contacted_share, 1);
  jnum(f, "precision", o->precision, 1);
  jnum(f, "recall", o->recall, 1);
  ab_op_sentence(s, sizeof s, o);
  jstr(f, "sentence", s);
  fputc('}', f);
}

/* ---- HTML helpers ---- */

static void esc(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", f);
    else if (*s == '>') fputs("&gt;", f);
    else if (*s == '&') fputs("&amp;", f);
    else if (*s == '"') fputs("&quot;", f);
    else fputc(*s, f);
  }
}

/* A figure shared with the JSON: <span data-key=K data-value=V>shown</span>. */
static void fig(FILE *f, const char *key, double v, const char *fmt, double shown) {
  char b[32];
  fprintf(f, "<span data-key=\"%s\" data-value=\"%s\">", key, ab_json_num(b, v));
  if (isfinite(shown)) fprintf(f, fmt, shown);
  else fputs("n/a", f);
  fputs("</span>", f);
}

static void figu(FILE *f, const char *key, uint64_t v) {
  fprintf(f, "<span data-key=\"%s\" data-value=\"%llu\">%llu</span>", key,
          (unsigned long long)v, (unsigned long long)v);
}

static const char *const CSS =
    "*{box-sizing:border-box}"
    "body{margin:0;padding:24px 32px;background:#f5f6f8;color:#1f2933;"
    "font:14px/1.45 'DejaVu Sans','Segoe UI',Helvetica,Arial,sans-serif}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:0 0 10px}"
    ".sub{color:#52606d;margin-bottom:18px}"
    ".cards{display:grid;grid-template-columns:repeat(5,1fr);gap:12px;margin-bottom:18px}"
    ".card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 3px #0002}"
    ".card .v{font-size:24px;font-weight:bold;color:#1d4ed8}.card .l{color:#52606d;font-size:12px}"
    ".grid{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-bottom:16px}"
    ".panel{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 3px #0002}"
    ".note{color:#52606d;font-size:12px;margin-top:6px}"
    ".warn{background:#fff4e5;border:1px solid #f0a14a;padding:8px 12px;margin-bottom:14px}"
    "svg.chart{width:100%;height:auto;display:block}"
    "svg text{font-size:11px;fill:#3e4c59}svg .t{font-size:12px;fill:#1f2933}"
    ".ax{stroke:#3e4c59;stroke-width:1}.gr{stroke:#e4e7eb;stroke-width:1}"
    ".l1{fill:none;stroke:#1d4ed8;stroke-width:2.2}.l2{fill:none;stroke:#ea580c;stroke-width:2.2}"
    ".l3{fill:none;stroke:#9aa5b1;stroke-width:1.4;stroke-dasharray:5 4}"
    ".l4{fill:none;stroke:#16a34a;stroke-width:1.4;stroke-dasharray:2 3}"
    ".bar{fill:#1d4ed8}.bar.neg{fill:#ea580c}.wh{stroke:#1f2933;stroke-width:1.2}"
    "table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;text-align:right;"
    "border-bottom:1px solid #e4e7eb}th{background:#f0f2f5}td:first-child,th:first-child{text-align:left}"
    "table.cm td,table.cm th{text-align:center;padding:14px 10px;font-size:15px}"
    "table.cm td.ok{background:#dbeafe}table.cm td.bad{background:#fde8d8}"
    "table.kv td{text-align:left}"
    ".op{fill:#dc2626;stroke:#fff;stroke-width:1.5}.opl{stroke:#dc2626;stroke-width:1;"
    "stroke-dasharray:3 3}svg text.opt{fill:#b91c1c;font-weight:bold;paint-order:stroke;stroke:#fff;stroke-width:3px}"
    "p.ops{font-size:15px;font-weight:bold;color:#1f2933;margin:4px 0 10px}"
    ".pd{display:grid;grid-template-columns:repeat(5,1fr);gap:10px}";

/* ---- SVG charts ---- */

#define ML 58
#define MR 18
#define MT 14
#define MB 46

typedef struct plot {
  FILE *f;
  int w, h;
  double x0, x1, y0, y1;
  int xint; /* 1: x ticks at whole numbers (epochs) */
} plot;

static double sx(const plot *p, double x) {
  return ML + (x - p->x0) / (p->x1 - p->x0) * (p->w - ML - MR);
}
static double sy(const plot *p, double y) {
  return p->h - MB - (y - p->y0) / (p->y1 - p->y0) * (p->h - MT - MB);
}

/* 1, 2 or 5 times a power of ten, near range/5. */
static double nice_step(double range) {
  double raw = range / 5, p = pow(10, floor(log10(raw))), m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void ticks_x(const plot *p) {
  double st = nice_step(p->x1 - p->x0);
  if (p->xint && st < 1) st = 1;
  for (double v = ceil(p->x0 / st - 1e-9) * st; v <= p->x1 + 1e-9 * st; v += st) {
    double X = sx(p, v);
    fprintf(p->f, "<line class=\"gr\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>", X, MT, X, p->h - MB,
            X, p->h - MB + 16, fabs(v) < 1e-12 ? 0 : v);
  }
}

static void ticks_y(const plot *p) {
  double st = nice_step(p->y1 - p->y0);
  for (double v = ceil(p->y0 / st - 1e-9) * st; v <= p->y1 + 1e-9 * st; v += st) {
    double Y = sy(p, v);
    fprintf(p->f, "<line class=\"gr\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>", ML, Y, p->w - MR, Y,
            ML - 6, Y + 4, fabs(v) < 1e-12 ? 0 : v);
  }
}

static void plot_begin(plot *p, const char *name, const char *xlabel, const char *ylabel) {
  fprintf(p->f, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
          "role=\"img\" aria-label=\"%s\">",
          p->w, p->h, p->w, p->h, name);
  ticks_x(p);
  ticks_y(p);
  fprintf(p->f, "<line class=\"ax\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
          "<line class=\"ax\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", ML, p->h - MB,
          p->w - MR, p->h - MB, ML, MT, ML, p->h - MB);
  fprintf(p->f, "<text class=\"t\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>",
          (ML + p->w - MR) / 2, p->h - 8, xlabel);
  fprintf(p->f, "<text class=\"t\" transform=\"translate(14,%d) rotate(-90)\" "
          "text-anchor=\"middle\">%s</text>", (MT + p->h - MB) / 2, ylabel);
}

static void plot_line(const plot *p, const double *x, const double *y, size_t n, const char *cls) {
  fprintf(p->f, "<polyline class=\"%s\" points=\"", cls);
  for (size_t i = 0; i < n; i++) fprintf(p->f, "%s%.1f,%.1f", i ? " " : "", sx(p, x[i]), sy(p, y[i]));
  fputs("\"/>", p->f);
}

/* Legend entries at the top right, one per line: class and text. */
static void legend(const plot *p, const char *const *cls, const char *const *text, int n, int top) {
  for (int i = 0; i < n; i++) {
    int y = top ? MT + 14 + 18 * i : p->h - MB - 14 - 18 * (n - 1 - i), x = p->w - MR - 170;
    fprintf(p->f, "<line class=\"%s\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
            "<text x=\"%d\" y=\"%d\">%s</text>", cls[i], x, y - 4, x + 26, y - 4, x + 32, y, text[i]);
  }
}

static void unit_diagonal(const plot *p) {
  double d[2] = {0, 1};
  plot_line(p, d, d, 2, "l3");
}

/* What the operating point is, in a few words: "threshold 0.500" or "top 400 (budget)". */
static void op_name(char *b, size_t len, const ab_report *r, const ab_op_point *o) {
  const ab_choice *c = r->choice;
  if (!c) snprintf(b, len, "threshold %.3f", o->threshold);
  else if (c->mode == AB_CHOOSE_BUDGET) snprintf(b, len, "top %llu (--budget)", (unsigned long long)o->contacted);
  else snprintf(b, len, "recall %.0f%% (--target-recall)", 100 * c->target);
}

/* The operating point on a chart at (x, y): guides to the axes, a dot and its label. */
static void op_mark(const plot *p, const ab_report *r, const ab_op_point *o, double x, double y) {
  char name[80];
  op_name(name, sizeof name, r, o);
  double X = sx(p, x), Y = sy(p, y);
  fprintf(p->f, "<g data-mark=\"operating-point\"><line class=\"opl\" x1=\"%.1f\" y1=\"%.1f\" "
          "x2=\"%.1f\" y2=\"%d\"/><line class=\"opl\" x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" "
          "y2=\"%.1f\"/><circle class=\"op\" cx=\"%.1f\" cy=\"%.1f\" r=\"6\"/>", X, Y, X,
          p->h - MB, ML, Y, X, Y, X, Y);
  int left = x > 0.55;
  fprintf(p->f, "<text class=\"opt\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">"
          "operating point: %s</text></g>", X + (left ? -10 : 10), Y + (y > 0.9 ? 18 : -10),
          left ? "end" : "start", name);
}

/* ---- sections ---- */

static void header(FILE *f, const ab_report *r) {
  const ab_model *m = r->model;
  char arch[128];
  ab_arch_describe(&m->cfg.arch, arch, sizeof arch);
  fprintf(f, "<h1>abgpu &middot; ");
  esc(f, r->title);
  fprintf(f, "</h1><div class=\"sub\">Which customers will buy again: network %s, trained on ", arch);
  esc(f, m->data);
  fprintf(f, " with ");
  esc(f, m->device);
  fprintf(f, ". Figures below are measured on <b>");
  esc(f, r->scored);
  fprintf(f, "</b> (%zu customers).", r->n);
  if (r->model_path) {
    fprintf(f, " Model file: ");
    esc(f, r->model_path);
    fputc('.', f);
  }
  fprintf(f, "<br>abgpu %s", ab_version());
  if (r->when) {
    fprintf(f, ", run ");
    esc(f, r->when);
  }
  fprintf(f, "; training data hash %016llx", (unsigned long long)m->data_hash);
  if (r->has_data_hash) fprintf(f, ", evaluated data hash %016llx", (unsigned long long)r->data_hash);
  fprintf(f, ".</div>\n");
  if (r->has_data_hash && r->data_hash == m->data_hash)
    fprintf(f, "<div class=\"warn\"><b>Warning:</b> these customers are the data the model "
            "was trained on (the same hash): the figures are optimistic. Measure on customers "
            "it has not seen (abgpu split).</div>\n");
  else if (r->id_overlap_file && r->id_overlap) {
    fprintf(f, "<div class=\"warn\"><b>Warning:</b> ");
    figu(f, "train_id_overlap", r->id_overlap);
    fprintf(f, " of these %zu customers have ids in ", r->n);
    esc(f, r->id_overlap_file);
    fprintf(f, ", the model's training file: the figures are optimistic.</div>\n");
  }
}

static void card(FILE *f, const char *key, double v, const char *fmt, double shown,
                 const char *label) {
  fprintf(f, "<div class=\"card\"><div class=\"v\">");
  fig(f, key, v, fmt, shown);
  fprintf(f, "</div><div class=\"l\">%s</div></div>", label);
}

/* One row of tiles; keys start with pre ("" or "balanced."). */
static void card_row(FILE *f, const ab_metrics *m, double lift, const char *pre,
                     const char *heading) {
  char acc[96], k[11][40];
  const char *names[] = {"roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1",
                         "gains.1.lift", "log_loss", "brier", "log_loss_corrected", "rows"};
  for (int i = 0; i < 11; i++) snprintf(k[i], sizeof k[i], "%s%s", pre, names[i]);
  snprintf(acc, sizeof acc, "accuracy at threshold %.2f (raw probability)", m->threshold);
  if (heading) fprintf(f, "<div class=\"l\" style=\"margin-bottom:6px\">%s</div>", heading);
  fprintf(f, "<div class=\"cards\">");
  card(f, k[0], m->roc_auc, "%.3f", m->roc_auc, "ROC AUC (ranking; raw = corrected)");
  card(f, k[1], m->pr_auc, "%.3f", m->pr_auc, "PR AUC, average precision (ranking)");
  card(f, k[2], m->accuracy, "%.1f%%", 100 * m->accuracy, acc);
  card(f, k[3], m->precision, "%.1f%%", 100 * m->precision, "precision: contacted who buy");
  card(f, k[4], m->recall, "%.1f%%", 100 * m->recall, "recall: buyers contacted");
  card(f, k[5], m->f1, "%.3f", m->f1, "F1 at the threshold");
  card(f, k[6], lift, "%.2f&times;", lift, "lift of the top 10% by score");
  card(f, k[7], m->log_loss, "%.4f", m->log_loss, "log loss, raw probabilities");
  card(f, k[8], m->brier, "%.4f", m->brier, "Brier score, raw probabilities");
  if (isfinite(m->log_loss_corrected))
    card(f, k[9], m->log_loss_corrected, "%.4f", m->log_loss_corrected,
         "log loss, prior-corrected");
  else
    card(f, k[10], (double)m->n, "%.0f", (double)m->n, "customers scored");
  fprintf(f, "</div>\n");
}

/* The first row at the real share of buyers; after balanced training, the balanced test
 * split's own figures in a second row, labelled. */
static void cards(FILE *f, const ab_report *r) {
  if (!r->natural) {
    card_row(f, r->metrics, r->gains->row[0].lift, "", NULL);
    return;
  }
  char h[200];
  snprintf(h, sizeof h, "At the real share of buyers (%.1f%%): estimated from the balanced "
           "test split by weighting its buyers and non-buyers to that share", 100 * r->natural->prior);
  card_row(f, r->natural, r->natural_lift, "", h);
  card_row(f, r->metrics, r->gains->row[0].lift, "balanced.",
           "On the balanced test split itself (as many buyers as non-buyers; not the real mix)");
}

static void loss_chart(FILE *f, const ab_report *r, double *x, double *a, double *b) {
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < r->nhist; i++) {
    x[i] = r->hist[i].epoch;
    a[i] = r->hist[i].train_loss;
    b[i] = r->hist[i].val_loss;
    lo = fmin(lo, fmin(a[i], b[i]));
    hi = fmax(hi, fmax(a[i], b[i]));
  }
  double pad = (hi - lo) * 0.08 + 1e-6;
  plot p = {f, 540, 300, 1, r->nhist > 1 ? r->nhist : 2, fmax(0, lo - pad), hi + pad, 1};
  fprintf(f, "<div class=\"panel\"><h2>Loss per epoch</h2>");
  plot_begin(&p, "training and validation loss per epoch", "epoch", "cross-entropy loss");
  plot_line(&p, x, a, (size_t)r->nhist, "l1");
  plot_line(&p, x, b, (size_t)r->nhist, "l2");
  const char *cls[] = {"l1", "l2"}, *txt[] = {"training loss", "validation loss"};
  legend(&p, cls, txt, 2, 1);
  fprintf(f, "</svg></div>\n");
}

static void acc_chart(FILE *f, const ab_report *r, double *x, double *a) {
  double lo = 1, hi = 0;
  for (int i = 0; i < r->nhist; i++) {
    a[i] = r->hist[i].val_acc;
    lo = fmin(lo, a[i]);
    hi = fmax(hi, a[i]);
  }
  double pad = (hi - lo) * 0.1 + 0.01;
  plot p = {f, 540, 300, 1, r->nhist > 1 ? r->nhist : 2, fmax(0, lo - pad), fmin(1, hi + pad), 1};
  fprintf(f, "<div class=\"panel\"><h2>Validation accuracy per epoch</h2>");
  plot_begin(&p, "validation accuracy per epoch", "epoch", "accuracy (threshold 0.5)");
  plot_line(&p, x, a, (size_t)r->nhist, "l2");
  double bx[2] = {r->model->best_epoch, r->model->best_epoch}, by[2] = {p.y0, p.y1};
  plot_line(&p, bx, by, 2, "l4");
  const char *cls[] = {"l2", "l4"}, *txt[] = {"validation accuracy", "epoch kept"};
  legend(&p, cls, txt, 2, 0);
  fprintf(f, "</svg><div class=\"note\">Training accuracy is not measured per epoch (the "
             "loop reports the training loss only).</div></div>\n");
}

static int curves(FILE *f, const ab_report *r) {
  if (!r->hist || r->nhist < 1) return 0;
  double *buf = malloc((size_t)r->nhist * 3 * sizeof *buf);
  if (!buf) return -1;
  fprintf(f, "<div class=\"grid\">");
  loss_chart(f, r, buf, buf + r->nhist, buf + 2 * r->nhist);
  acc_chart(f, r, buf, buf + r->nhist);
  fprintf(f, "</div>\n");
  free(buf);
  return 0;
}

#define ROC_POINTS 400

static int roc_chart(FILE *f, const ab_report *r) {
  ab_scorepair *pairs = malloc((r->n ? r->n : 1) * sizeof *pairs);
  double *fpr = malloc(ROC_POINTS * sizeof *fpr), *tpr = malloc(ROC_POINTS * sizeof *tpr);
  int bad = !pairs || !fpr || !tpr;
  if (!bad) {
    ab_rank(pairs, r->prob, r->n);
    size_t k = ab_roc_curve(fpr, tpr, ROC_POINTS, pairs, r->y, r->n);
    plot p = {f, 540, 360, 0, 1, 0, 1, 0};
    fprintf(f, "<div class=\"panel\"><h2>ROC curve &middot; AUC %.3f</h2>", r->metrics->roc_auc);
    plot_begin(&p, "ROC curve", "false positive rate (non-buyers contacted)",
               "true positive rate (buyers reached)");
    unit_diagonal(&p);
    plot_line(&p, fpr, tpr, k, "l1");
    ab_op_point o = ab_op_point_of(r->metrics, r->choice);
    op_mark(&p, r, &o, share(o.fp, o.n - o.npos), o.recall);
    const char *cls[] = {"l1", "l3"}, *txt[] = {"model", "random order"};
    legend(&p, cls, txt, 2, 0);
    fprintf(f, "</svg></div>\n");
  }
  free(pairs); free(fpr); free(tpr);
  return bad ? -1 : 0;
}

static void gains_chart(FILE *f, const ab_report *r) {
  const ab_gains *g = r->gains;
  double x[11] = {0}, y[11] = {0}, share = g->n ? (double)g->npos / (double)g->n : 1;
  for (int d = 0; d < 10; d++) {
    x[d + 1] = g->row[d].contacted_share;
    y[d + 1] = g->row[d].buyers_share;
  }
  double px[3] = {0, share, 1}, py[3] = {0, 1, 1};
  plot p = {f, 540, 360, 0, 1, 0, 1, 0};
  fprintf(f, "<div class=\"panel\"><h2>Cumulative gains</h2>");
  plot_begin(&p, "cumulative gains chart", "share of customers contacted (highest score first)",
             "share of buyers reached");
  unit_diagonal(&p);
  plot_line(&p, px, py, 3, "l4");
  plot_line(&p, x, y, 11, "l1");
  for (int d = 1; d <= 10; d++)
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1d4ed8\"/>", sx(&p, x[d]), sy(&p, y[d]));
  ab_op_point o = ab_op_point_of(r->metrics, r->choice);
  op_mark(&p, r, &o, o.contacted_share, o.recall);
  const char *cls[] = {"l1", "l4", "l3"}, *txt[] = {"model", "perfect order", "random order"};
  legend(&p, cls, txt, 3, 0);
  fprintf(f, "</svg></div>\n");
}

/* Predicted against observed buy rate per probability bin (prior-corrected), with the
 * diagonal of a perfectly calibrated model. */
static void reliability_chart(FILE *f, const ab_report *r, double prior) {
  ab_reliability rel;
  ab_reliability_compute(&rel, r->prob, r->y, r->n, prior, r->model->train_ratio);
  double x[AB_RELIABILITY_BINS], y[AB_RELIABILITY_BINS];
  size_t k = 0;
  for (int b = 0; b < AB_RELIABILITY_BINS; b++)
    if (rel.bin[b].n) { x[k] = rel.bin[b].mean_prob; y[k++] = rel.bin[b].rate; }
  plot p = {f, 540, 360, 0, 1, 0, 1, 0};
  fprintf(f, "<div class=\"panel\"><h2>Calibration &middot; Brier %.4f</h2>",
          rel.corrected ? r->metrics->brier_corrected : r->metrics->brier);
  plot_begin(&p, "reliability chart", rel.corrected ? "predicted buy rate (prior-corrected)"
             : "predicted buy rate", "observed buy rate");
  unit_diagonal(&p);
  plot_line(&p, x, y, k, "l1");
  for (size_t i = 0; i < k; i++)
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1d4ed8\"/>", sx(&p, x[i]),
            sy(&p, y[i]));
  const char *cls[] = {"l1", "l3"}, *txt[] = {"model (bins of 0.1)", "perfectly calibrated"};
  legend(&p, cls, txt, 2, 1);
  fprintf(f, "</svg><div class=\"note\">Customers grouped by predicted probability in bins of "
          "0.1; each point is a bin's mean prediction and its observed share of buyers. "
          "Points below the diagonal: the model promises more buyers than come.</div></div>\n");
}

static void confusion(FILE *f, const ab_report *r) {
  const ab_metrics *m = r->metrics;
  ab_op_point o = ab_op_point_of(m, r->choice);
  char name[80], sent[200];
  op_name(name, sizeof name, r, &o);
  ab_op_sentence(sent, sizeof sent, &o);
  fprintf(f, "<div class=\"panel\"><h2>Confusion matrix at the operating point: %s</h2><p class=\"ops\" "
             "data-key=\"operating_point.sentence\">%s</p><table class=\"cm\"><tr><th></th>"
             "<th>predicted: buys again</th><th>predicted: does not</th></tr><tr>"
             "<th>actual: buys again</th><td class=\"ok\">", name, sent);
  figu(f, "operating_point.tp", o.tp);
  fprintf(f, "<br><small>reached</small></td><td class=\"bad\">");
  figu(f, "operating_point.fn", o.fn);
  fprintf(f, "<br><small>missed</small></td></tr><tr><th>actual: does not</th><td class=\"bad\">");
  figu(f, "operating_point.fp", o.fp);
  fprintf(f, "<br><small>contacted in vain</small></td><td class=\"ok\">");
  figu(f, "operating_point.tn", o.tn);
  fprintf(f, "<br><small>left alone</small></td></tr></table><div class=\"note\">Contacted: "
             "customers with raw probability (the network's output, trained on balanced data) "
             "&ge; ");
  fig(f, "operating_point.threshold", o.threshold, "%.4f", o.threshold);
  if (o.chosen)
    fprintf(f, ", the top %llu by score", (unsigned long long)o.contacted);
  fprintf(f, "; marked on the ROC and gains charts. At threshold ");
  fig(f, "threshold", m->threshold, "%.2f", m->threshold);
  fprintf(f, ": ");
  figu(f, "tp", m->tp);
  fprintf(f, " reached, ");
  figu(f, "fn", m->fn);
  fprintf(f, " missed, ");
  figu(f, "fp", m->fp);
  fprintf(f, " contacted in vain, ");
  figu(f, "tn", m->tn);
  fprintf(f, " left alone. Customers: ");
  figu(f, "rows", m->n);
  fprintf(f, ", buyers: ");
  figu(f, "buyers", m->npos);
  fprintf(f, ".</div></div>\n");
}

#define IMP_L 196 /* x of the zero-based bar area in the importance chart */
#define IMP_W 220

static void imp_bar(FILE *f, const ab_report *r, int rank, double lo, double hi) {
  const ab_importance *imp = r->imp;
  const char *name = r->model->feature_names[imp->rank[rank]];
  int j = imp->rank[rank], y = 8 + 30 * rank;
  double mu = imp->mean[j], sd = imp->sd[j], k = IMP_W / (hi - lo);
  double x0 = IMP_L + (0 - lo) * k, x1 = IMP_L + (mu - lo) * k;
  fprintf(f, "<text class=\"t\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", IMP_L - 8, y + 15);
  esc(f, ab_feature_label(name));
  fputs("</text>", f);
  fprintf(f, "<rect class=\"bar%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\"/>",
          mu < 0 ? " neg" : "", fmin(x0, x1), y + 2, fabs(x1 - x0));
  fprintf(f, "<line class=\"wh\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>",
          IMP_L + (mu - sd - lo) * k, y + 12, IMP_L + (mu + sd - lo) * k, y + 12);
  char key[128], b[32];
  fprintf(f, "<text class=\"t\" x=\"%d\" y=\"%d\">", IMP_L + IMP_W + 12, y + 16);
  snprintf(key, sizeof key, "importance.%s.mean", name);
  fprintf(f, "<tspan data-key=\"%s\" data-value=\"%s\">%+.4f</tspan> &#177; ", key,
          ab_json_num(b, mu), mu);
  snprintf(key, sizeof key, "importance.%s.sd", name);
  fprintf(f, "<tspan data-key=\"%s\" data-value=\"%s\">%.4f</tspan></text>", key,
          ab_json_num(b, sd), sd);
}

static void importance(FILE *f, const ab_report *r) {
  const ab_importance *imp = r->imp;
  double lo = 0, hi = 1e-6;
  for (int j = 0; j < AB_NFEAT; j++) {
    lo = fmin(lo, imp->mean[j] - imp->sd[j]);
    hi = fmax(hi, imp->mean[j] + imp->sd[j]);
  }
  fprintf(f, "<div class=\"panel\"><h2>What brings customers back: permutation importance</h2>"
             "<svg class=\"chart\" viewBox=\"0 0 560 310\" width=\"560\" height=\"310\" "
             "role=\"img\" aria-label=\"feature importance\">");
  double zx = IMP_L + (0 - lo) / (hi - lo) * IMP_W;
  fprintf(f, "<line class=\"ax\" x1=\"%.1f\" y1=\"4\" x2=\"%.1f\" y2=\"306\"/>", zx, zx);
  for (int k = 0; k < AB_NFEAT; k++) imp_bar(f, r, k, lo, hi);
  fprintf(f, "</svg><div class=\"note\">Drop in ROC AUC when the feature's column is shuffled "
             "across customers: mean &#177; sd over %d repeats (seed %llu, %zu customers). "
             "ROC AUC with nothing shuffled: ", imp->repeats, (unsigned long long)imp->seed,
          imp->rows);
  fig(f, "importance.base_roc_auc", imp->base_auc, "%.4f", imp->base_auc);
  fprintf(f, ". A long bar: the model leans on that feature to tell buyers apart.</div></div>\n");
}

/* One small chart: feature j's partial dependence over its ten points, y from 0 to top. */
static void pd_chart(FILE *f, const ab_report *r, int j, double top) {
  const ab_importance *imp = r->imp;
  const char *name = r->model->feature_names[j];
  double x[AB_PD_POINTS], y[AB_PD_POINTS];
  for (int k = 0; k < AB_PD_POINTS; k++) { x[k] = k + 1; y[k] = 100 * imp->pd_prob[j][k]; }
  plot p = {f, 260, 180, 1, AB_PD_POINTS, 0, top, 1};
  fprintf(f, "<div><div class=\"t\"><b>");
  esc(f, ab_feature_label(name));
  fprintf(f, "</b></div>");
  plot_begin(&p, "partial dependence", "tenth of its values", "buy %");
  plot_line(&p, x, y, AB_PD_POINTS, "l1");
  fprintf(f, "</svg><div class=\"note\">");
  char key[128];
  snprintf(key, sizeof key, "importance.%s.pd_probability.0", name);
  fig(f, key, imp->pd_prob[j][0], "%.1f%%", 100 * imp->pd_prob[j][0]);
  fprintf(f, " at %.4g to ", imp->pd_value[j][0]);
  snprintf(key, sizeof key, "importance.%s.pd_probability.%d", name, AB_PD_POINTS - 1);
  fig(f, key, imp->pd_prob[j][AB_PD_POINTS - 1], "%.1f%%", 100 * imp->pd_prob[j][AB_PD_POINTS - 1]);
  fprintf(f, " at %.4g</div></div>", imp->pd_value[j][AB_PD_POINTS - 1]);
}

/* Direction of effect: one partial-dependence chart per feature, on one scale, by rank. */
static void direction(FILE *f, const ab_report *r) {
  const ab_importance *imp = r->imp;
  double hi = 0;
  for (int j = 0; j < AB_NFEAT; j++)
    for (int k = 0; k < AB_PD_POINTS; k++) hi = fmax(hi, 100 * imp->pd_prob[j][k]);
  hi = hi > 0 ? hi * 1.1 : 1;
  fprintf(f, "<div class=\"panel\" style=\"margin-bottom:16px\"><h2>Direction of effect: partial "
             "dependence</h2><div class=\"pd\">");
  for (int k = 0; k < AB_NFEAT; k++) pd_chart(f, r, imp->rank[k], hi);
  fprintf(f, "</div><div class=\"note\">Mean predicted probability of buying%s with the "
             "feature set to the middle of each tenth of its values (1: its lowest tenth) in "
             "every customer (%zu, the others' values as they are). A rising line: more of it, "
             "more likely to buy.</div></div>\n",
          pd_natural(r->model) ? " (at the real buyer share)" : "", imp->pd_rows);
}

static void gains_row(FILE *f, const ab_gains_row *w, int corrected) {
  char key[64];
  fprintf(f, "<tr><td>top %d0%%</td><td>%llu</td><td>", w->decile, (unsigned long long)w->contacted);
  snprintf(key, sizeof key, "gains.%d.buyers", w->decile);
  figu(f, key, w->buyers);
  fprintf(f, "</td><td>");
  snprintf(key, sizeof key, "gains.%d.buyers_share", w->decile);
  fig(f, key, w->buyers_share, "%.1f%%", 100 * w->buyers_share);
  fprintf(f, "</td><td>");
  snprintf(key, sizeof key, "gains.%d.lift", w->decile);
  fig(f, key, w->lift, "%.2f", w->lift);
  fprintf(f, "</td><td>");
  snprintf(key, sizeof key, "gains.%d.band_rate", w->decile);
  fig(f, key, w->band_rate, "%.1f%%", 100 * w->band_rate);
  fprintf(f, "</td><td>");
  snprintf(key, sizeof key, "gains.%d.band_probability_%s", w->decile, corrected ? "corrected" : "raw");
  fig(f, key, w->band_prob, "%.1f%%", 100 * w->band_prob);
  fprintf(f, "</td></tr>");
}

static void gains_table(FILE *f, const ab_report *r, double prior) {
  int corr = r->gains->corrected;
  fprintf(f, "<div class=\"panel\"><h2>Gains and lift by decile</h2><table><tr><th>contact</th>"
             "<th>customers</th><th>buyers reached</th><th>share of all buyers</th><th>lift</th>"
             "<th>buy rate in decile</th><th>mean %s probability in decile</th></tr>",
          corr ? "prior-corrected" : "raw");
  for (int d = 0; d < 10; d++) gains_row(f, &r->gains->row[d], corr);
  fprintf(f, "</table><div class=\"note\">Customers ranked by score, highest first (ranking is "
             "the same for raw and prior-corrected probabilities). ");
  if (corr) fprintf(f, "The last column maps the raw probability to a buyer share of %.1f%%.", 100 * prior);
  else fprintf(f, "The last column is the raw probability: these customers are balanced, as in training.");
  fprintf(f, "</div></div>\n");
}

static void choice(FILE *f, const ab_report *r, double prior) {
  const ab_choice *c = r->choice;
  fprintf(f, "<div class=\"panel\" style=\"margin-bottom:16px\"><h2>Threshold for %s</h2>",
          c->mode == AB_CHOOSE_RECALL ? "a target recall" : "a contact budget");
  fprintf(f, "<p>Contact customers with raw probability &ge; ");
  fig(f, "choice.threshold", c->threshold, "%.4f", c->threshold);
  double tc = ab_prior_correct(c->threshold, prior, r->model->train_ratio);
  fprintf(f, " (prior-corrected ");
  fig(f, "choice.threshold_corrected", tc, "%.4f", tc);
  fprintf(f, "): ");
  figu(f, "choice.contacted", c->contacted);
  fprintf(f, " customers, precision ");
  fig(f, "choice.precision", c->precision, "%.1f%%", 100 * c->precision);
  fprintf(f, ", recall ");
  fig(f, "choice.recall", c->recall, "%.1f%%", 100 * c->recall);
  fprintf(f, ".</p></div>\n");
}

static void kv(FILE *f, const char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void kv(FILE *f, const char *k, const char *fmt, ...) {
  char v[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v, sizeof v, fmt, ap);
  va_end(ap);
  fprintf(f, "<tr><td>%s</td><td>", k);
  esc(f, v);
  fprintf(f, "</td></tr>");
}

/* An ensemble's members, one row each; the rows after them describe its first member. */
static void members(FILE *f, const ab_model *m) {
  kv(f, "model", "ensemble of %d networks, their probabilities averaged; the rows below "
     "describe the first one's training", m->nnets);
  for (int i = 0; i < m->nnets; i++) {
    char arch[128], k[32];
    ab_arch_describe(&m->nets[i].arch, arch, sizeof arch);
    snprintf(k, sizeof k, "member %d", i + 1);
    kv(f, k, "%s (%zu parameters)", arch, ab_arch_nparams(&m->nets[i].arch));
  }
}

/* --calibrate: every probability in the report is the calibrated one. */
static void calib_row(FILE *f, const ab_calib *c) {
  if (c->kind == AB_CALIB_NONE) {
    kv(f, "calibration", "none: the network's probabilities");
    return;
  }
  char what[96];
  if (c->kind == AB_CALIB_PLATT) snprintf(what, sizeof what, "Platt, a %.4f, b %.4f", c->a, c->b);
  else snprintf(what, sizeof what, "isotonic, %u breakpoints", c->n);
  kv(f, "calibration", "%s, fitted on the validation split (log loss %.4f to %.4f, Brier %.4f "
     "to %.4f there); every probability here is calibrated", what, c->val_log_loss[0],
     c->val_log_loss[1], c->val_brier[0], c->val_brier[1]);
}

static void config_table(FILE *f, const ab_model *m) {
  char arch[128];
  ab_arch_describe(&m->cfg.arch, arch, sizeof arch);
  const ab_train_cfg *c = &m->cfg;
  fprintf(f, "<div class=\"panel\"><h2>Run configuration</h2><table class=\"kv\">");
  if (m->kind == AB_MODEL_ENSEMBLE) members(f, m);
  kv(f, "network", "%s (%zu parameters)", arch, ab_arch_nparams(&c->arch));
  kv(f, "optimiser", "Adam, learning rate %g, weight decay %g, batch %d", c->lr, c->wd, c->batch);
  kv(f, "dropout", "%g on the hidden layers' outputs in training", (double)c->dropout);
  kv(f, "epochs", "%d run of at most %d, patience %d; weights kept from epoch %d", m->epochs_run,
     c->epochs, c->patience, m->best_epoch);
  kv(f, "seed", "%llu", (unsigned long long)c->seed);
  kv(f, "preparation", "balance %s, split %d/%d/%d, %s", ab_balance_name(m->prep.balance),
     m->prep.split[0], m->prep.split[1], m->prep.split[2],
     m->prep.compat ? "the notebook's recipe (--seed-compat)" : "scaler fitted on the training split");
  kv(f, "input transform", "%s", AB_TRANSFORM_STR(m->prep.transform));
  kv(f, "empty fields", "--missing %s", ab_missing_name(m->missing));
  calib_row(f, &m->calib);
  kv(f, "device", "%s", m->device);
  kv(f, "abgpu", "%s (model format %d)", m->version, AB_MODEL_FORMAT);
  fprintf(f, "</table></div>\n");
}

static void data_table(FILE *f, const ab_model *m) {
  fprintf(f, "<div class=\"panel\"><h2>Training data</h2><table class=\"kv\">");
  kv(f, "data", "%s", m->data);
  kv(f, "data hash (FNV-1a 64)", "%016llx", (unsigned long long)m->data_hash);
  kv(f, "customers", "%llu, of whom %llu bought again (%.1f%%, the prior)",
     (unsigned long long)m->n_total, (unsigned long long)m->n_pos_total, 100 * m->prior);
  kv(f, "after balancing", "%llu customers, %.1f%% buyers", (unsigned long long)m->n_balanced,
     100 * m->train_ratio);
  kv(f, "splits", "train %llu, validation %llu, test %llu", (unsigned long long)m->n_train,
     (unsigned long long)m->n_val, (unsigned long long)m->n_test);
  fprintf(f, "</table><table style=\"margin-top:10px\"><tr><th>feature</th><th>mean</th>"
             "<th>std</th><th>fill</th></tr>");
  for (int j = 0; j < AB_NFEAT; j++)
    fprintf(f, "<tr><td>%s</td><td>%.4g</td><td>%.4g</td><td>%.4g</td></tr>",
            ab_feature_label(m->feature_names[j]), m->mean[j], m->std[j], m->fill[j]);
  fprintf(f, "</table></div>\n");
}

static int body(FILE *f, const ab_report *r) {
  double prior = isfinite(r->metrics->prior) ? r->metrics->prior : r->model->prior;
  header(f, r);
  cards(f, r);
  if (curves(f, r)) return -1;
  fprintf(f, "<div class=\"grid\">");
  if (roc_chart(f, r)) return -1;
  gains_chart(f, r);
  reliability_chart(f, r, prior);
  confusion(f, r);
  if (r->imp) importance(f, r);
  fprintf(f, "</div>\n");
  if (r->imp) direction(f, r);
  if (r->choice) choice(f, r, prior);
  gains_table(f, r, prior);
  fprintf(f, "<div class=\"grid\" style=\"margin-top:16px\">");
  config_table(f, r->model);
  data_table(f, r->model);
  fprintf(f, "</div>\n");
  return 0;
}

int ab_report_print(FILE *f, const ab_report *r, ab_err *e) {
  fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>abgpu ");
  esc(f, r->title);
  fprintf(f, "</title><style>%s</style></head><body>\n", CSS);
  if (body(f, r)) return ab_err_set(e, AB_ENOMEM, "out of memory writing the report");
  fprintf(f, "<div class=\"note\">abgpu %s. Raw probability: the network's output, trained on "
             "balanced data. Prior-corrected: mapped to the real share of buyers. Ranking "
             "figures (ROC, PR AUC, gains, lift) are the same for both.</div>\n</body></html>\n",
          r->model->version);
  return AB_OK;
}

int ab_report_write(const char *path, const ab_report *r, ab_err *e) {
  ab_outfile o;
  int rc = ab_outfile_open(&o, path, e);
  if (rc) return rc;
  if ((rc = ab_report_print(o.f, r, e))) {
    ab_outfile_abort(&o);
    return rc;
  }
  return ab_outfile_commit(&o, e);
}
