/* abgpu devices: the backends a --device flag can name. */
#include <stdio.h>
#include <string.h>
#include "abgpu/cl.h"
#include "abgpu/cpu.h"
#include "cli.h"

static void usage(FILE *f) {
  fprintf(f, "usage: abgpu devices\n\n"
             "Lists the backends --device accepts: cpu (the fast CPU path, the default), ref\n"
             "(the plain C reference) and every OpenCL device, numbered across all platforms.\n"
             "$ABGPU_DEVICE sets the default.\n");
}

int cmd_devices(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { usage(stdout); return 0; }
    return cli_usage_error("devices", "unknown argument '%s'", argv[i]);
  }
  ab_cl_devices d;
  ab_err e;
  if (ab_cl_devices_list(&d, &e)) return cli_fail(&e);
  printf("%s\ncpu     fast CPU path (%s, %d threads by default; --threads N)\n"
         "ref     reference (plain C, the specification every kernel is checked against)\n",
         ab_cl_devices_header(), ab_cpu_isa_name(ab_cpu_isa_resolve(AB_CPU_ISA_AUTO)),
         ab_cpu_count());
  for (int i = 0; i < d.n; i++) {
    char line[512];
    ab_cl_device_line(&d.dev[i], line, sizeof line);
    printf("%s\n", line);
  }
  if (d.nplatforms == 0) printf("no OpenCL platform found; use --device cpu\n");
  else if (d.n == 0) printf("OpenCL platforms found, but no devices; use --device cpu\n");
  ab_cl_devices_free(&d);
  return 0;
}
