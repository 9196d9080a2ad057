/* adam_step.cl - the op adam_step: the optimiser step over every parameter of every
 * model in one launch. */

/* Twin of ab_ref_adam_step. p, m, v, g [K][n]; lr, wd [K]; c1 = 1 - beta1^t and
 * c2 = 1 - beta2^t come from the host (computed as the reference does). A work-item
 * updates AB_VEC neighbouring parameters. Global (ceil(n / AB_VEC), K). */
__kernel void ab_adam_step(__global float *p, __global float *m, __global float *v,
                           __global const float *g, __global const float *lr,
                           __global const float *wd, float beta1, float beta2, float eps,
                           float c1, float c2, int K, int n) {
  int i0 = get_global_id(0) * AB_VEC, k = get_global_id(1);
  if (i0 >= n || k >= K) return;
  int ni = min(AB_VEC, n - i0);
  size_t o = (size_t)k * n + i0;
  float step = lr[k] / c1, decay = lr[k] * wd[k];
  vfloat pi = ab_vload_part(p + o, ni), mi = ab_vload_part(m + o, ni);
  vfloat vi = ab_vload_part(v + o, ni);
  ab_adam_update(&pi, &mi, &vi, ab_vload_part(g + o, ni), beta1, beta2, eps, c2, step, decay);
  ab_vstore_part(mi, m + o, ni);
  ab_vstore_part(vi, v + o, ni);
  ab_vstore_part(pi, p + o, ni);
}
