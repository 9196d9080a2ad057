/* abgpu devices: the backends a --device flag can name. */
#include <stdio.h>
#include <string.h>
#include "abgpu/cl.h"
#include "abgpu/cpu.h"
#include "abgpu/json.h"
#include "cli.h"

static void usage(FILE *f) {
  fprintf(f, "usage: abgpu devices [--json | --json-out F]\n\n"
             "Lists the backends --device accepts: cpu (the fast CPU path, the default), ref\n"
             "(the plain C reference), gpu (this node's GPUs, shared out by local rank) and\n"
             "every OpenCL device, numbered across all platforms; GPUs are marked [gpu K].\n"
             "$ABGPU_DEVICE sets the default.\n\n"
             "  --json            one JSON object on stdout instead of the table (\"gpu\": the\n"
             "                    GPUs' indices, in the order --device gpu shares them out)\n"
             "  --json-out F      the same object into file F\n");
}

/* The "gpu" line: which devices --device gpu shares out over the ranks of a node. */
static void print_gpu_line(const ab_cl_devices *d) {
  int n;
  ab_cl_gpu_pick(d, 0, &n, NULL);
  if (n == 0) {
    printf("gpu     the GPUs of this node: none here (no OpenCL device of type GPU)\n");
    return;
  }
  printf("gpu     the GPUs of this node, marked [gpu K]: local rank r takes [gpu r mod %d]\n", n);
}

static void print_json(FILE *f, const ab_cl_devices *d, ab_cpu_isa isa) {
  fprintf(f, "{\"cpu\": {\"isa\": ");
  ab_json_str(f, ab_cpu_isa_name(isa));
  fprintf(f, ", \"threads\": %d}, \"ref\": true, \"gpu\": [", ab_cpu_count());
  for (int i = 0, k = 0; i < d->n; i++)
    if (ab_cl_device_is_gpu(&d->dev[i])) fprintf(f, "%s%d", k++ ? ", " : "", d->dev[i].index);
  fprintf(f, "], \"opencl_platforms\": %d, \"opencl\": [", d->nplatforms);
  for (int i = 0; i < d->n; i++) {
    const ab_cl_device_info *v = &d->dev[i];
    fprintf(f, "%s{\"index\": %d, \"platform\": ", i ? ", " : "", v->index);
    ab_json_str(f, v->platform);
    fprintf(f, ", \"name\": ");
    ab_json_str(f, v->name);
    fprintf(f, ", \"type\": ");
    ab_json_str(f, v->type);
    fprintf(f, ", \"opencl_c\": ");
    ab_json_str(f, v->c_version);
    fprintf(f, ", \"compute_units\": %u, \"global_mem_bytes\": %llu, \"max_work_group\": %zu}",
            v->compute_units, (unsigned long long)v->global_mem, v->max_wg);
  }
  fprintf(f, "]}\n");
}

static void print_text(const ab_cl_devices *d, ab_cpu_isa isa) {
  printf("%s\ncpu     fast CPU path (%s, %d threads by default; --threads N)\n"
         "ref     reference (plain C, the specification every kernel is checked against)\n",
         ab_cl_devices_header(), ab_cpu_isa_name(isa), ab_cpu_count());
  print_gpu_line(d);
  for (int i = 0, k = 0; i < d->n; i++) {
    char line[512];
    ab_cl_device_line(&d->dev[i], line, sizeof line);
    if (ab_cl_device_is_gpu(&d->dev[i])) printf("%s  [gpu %d]\n", line, k++);
    else printf("%s\n", line);
  }
  if (d->nplatforms == 0) printf("no OpenCL platform found; use --device cpu\n");
  else if (d->n == 0) printf("OpenCL platforms found, but no devices; use --device cpu\n");
}

int cmd_devices(int argc, char **argv) {
  cli_json j = {0};
  for (int i = 1; i < argc; i++) {
    int m = cli_json_flag(&j, argc, argv, &i);
    if (m < 0) return cli_no_value("devices", argc, argv, i);
    if (m > 0) continue;
    if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { usage(stdout); return 0; }
    return cli_usage_error("devices", "unknown argument '%s'", argv[i]);
  }
  ab_path_use outs[2] = {{"--json", j.to_stdout ? "-" : NULL}, {"--json-out", j.path}};
  int rc = cli_check_outputs(outs, 2, NULL, 0);
  if (rc) return rc;
  ab_cl_devices d;
  ab_err e = {0};
  ab_cpu_isa isa;
  if (cli_cpu_isa(&isa, &e)) return cli_fail(&e);
  isa = ab_cpu_isa_resolve(isa);
  if (ab_cl_devices_list(&d, &e)) return cli_fail(&e);
  FILE *jf = cli_json_stream(&j);
  if (jf) print_json(jf, &d, isa);
  if (!j.to_stdout) print_text(&d, isa);
  rc = cli_commit(NULL, 0, &j, &e);
  ab_cl_devices_free(&d);
  cli_json_free(&j);
  return rc ? cli_fail(&e) : 0;
}
