/* The evaluation pass over a whole split, in chunks of R rows read in place from the
 * uploaded split (every model reads the same rows): forward, then the evaluation reduce
 * into one accumulator chunk each, or the class-1 probabilities. The only copy of it; a
 * device may run a whole split its own way (ops.h: eval_split). */
#include "pass.h"

int ab_pass(ab_backend *be, int split, double *loss_sum, int64_t *correct, int prob,
            ab_err *e) {
  const ab_ops *o = be->ops;
  ab_models *m = &be->m;
  int L = m->a.nlayers, rc = AB_OK, slot = 0;
  size_t n = be->data.n[split];
  ab_mem *out[AB_MAX_LAYERS];
  for (int l = 0; l < L; l++) out[l] = &m->act[l + 1];
  for (size_t start = 0; start < n && !rc; start += (size_t)m->R, slot++) {
    int nr = (int)(n - start < (size_t)m->R ? n - start : (size_t)m->R);
    ab_rows rows = {&be->data.x[split], NULL, start, 0};
    rc = ab_forward_layers(o, be->dev, out, rows, &m->slot[AB_SLOT_PARAMS], &m->a, m->K, nr,
                           m->P, e);
    if (!rc && prob) rc = o->prob1(be->dev, &m->prob, start, n, &m->act[L], m->K, nr, e);
    else if (!rc)
      rc = o->eval(be->dev, &m->eloss, &m->ecount, slot, m->maxslots, &m->act[L],
                   &be->data.y[split], start, m->K, nr, m->a.dims[L], e);
  }
  if (rc || prob) return rc;
  if (n == 0) {
    for (int k = 0; k < m->K; k++) { loss_sum[k] = 0.0; correct[k] = 0; }
    return AB_OK;
  }
  return o->eval_sum(be->dev, loss_sum, correct, &m->eloss, &m->ecount, slot, m->K, e);
}
