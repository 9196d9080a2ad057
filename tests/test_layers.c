/* The module graph (docs/architecture.md, "Layers"): every #include of every file under
 * src/ and include/abgpu/ goes to its own module or one below it; nothing in data or
 * model reaches train, cpu or cl. A header not in the table below fails the test: say
 * where it belongs. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Layers, lowest first: ref (the network, its reference ops: the specification, the op
 * table every device implements, and the reference device) sits on data; model on ref;
 * cpu and cl side by side over them, both free to call ref, never each other; then
 * train, report, cli. */
typedef enum { DATA, REF, MODEL, CPU, CL, TRAIN, REPORT, CLI, NMOD } module;
static const char *const NAMES[NMOD] = {"data", "ref", "model", "cpu", "cl", "train",
                                         "report", "cli"};
static const int RANK[NMOD] = {0, 1, 2, 3, 3, 4, 5, 6};

/* The public headers' modules. */
static const struct { const char *h; module m; } HEADERS[] = {
    {"err.h", DATA},     {"rng.h", DATA},       {"fileio.h", DATA},  {"table.h", DATA},
    {"synth.h", DATA},   {"source.h", DATA},    {"encode.h", DATA},  {"prep.h", DATA},
    {"npz.h", DATA},     {"consts.h", REF},     {"arch.h", REF},     {"config.h", MODEL},
    {"model.h", MODEL},  {"ops.h", REF},       {"ref.h", REF},      {"cpu.h", CPU},
    {"cl.h", CL},        {"backend.h", TRAIN},  {"train.h", TRAIN},  {"predictor.h", TRAIN},
    {"sweep.h", TRAIN},  {"report.h", REPORT},   {"version.h", DATA}, {"json.h", DATA},
    {"abgpu.h", CLI}};

static module of_dir(const char *dir) {
  static const char *const dirs[NMOD] = {"data", "ref", "model", "cpu", "cl", "train",
                                         "report", "cli"};
  for (int m = 0; m < NMOD; m++)
    if (strcmp(dir, dirs[m]) == 0) return (module)m;
  cr_assert_fail("src/%s: a folder the layer table does not know", dir);
  return NMOD;
}

/* The module of an included path, seen from a file of module from. */
static module of_include(const char *inc, module from, const char *file) {
  if (strncmp(inc, "abgpu/", 6) == 0) {
    for (size_t i = 0; i < sizeof HEADERS / sizeof HEADERS[0]; i++)
      if (strcmp(inc + 6, HEADERS[i].h) == 0) return HEADERS[i].m;
    cr_assert_fail("%s includes %s, which the layer table does not know: add it", file, inc);
  }
  if (strncmp(inc, "cl/", 3) == 0) return CL;
  if (strncmp(inc, "../", 3) == 0) {
    char dir[32];
    cr_assert(sscanf(inc + 3, "%31[^/]", dir) == 1, "%s: %s", file, inc);
    return of_dir(dir);
  }
  return from; /* a private header beside the file */
}

static int allowed(module from, module to) {
  if (from == to) return 1;
  if ((from == CPU && to == CL) || (from == CL && to == CPU)) return 0;
  return RANK[to] < RANK[from];
}

/* Checks every include of path (a file of module m); returns the includes seen. */
static int check_file(const char *path, module m) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "cannot open %s", path);
  char line[512], inc[256];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, " #include \"%255[^\"]\"", inc) != 1) continue;
    module to = of_include(inc, m, path);
    cr_expect(allowed(m, to), "%s (%s) includes %s (%s): a lower layer may not reach up "
              "(docs/architecture.md, Layers)", path, NAMES[m], inc, NAMES[to]);
    n++;
  }
  fclose(f);
  return n;
}

static int ends_with(const char *s, const char *t) {
  size_t a = strlen(s), b = strlen(t);
  return a >= b && strcmp(s + a - b, t) == 0;
}

/* Every .c and .h of dir; module m, or (m == NMOD) each public header's own. */
static int check_dir(const char *dir, module m) {
  DIR *d = opendir(dir);
  cr_assert(d, "cannot open %s", dir);
  struct dirent *de;
  int n = 0;
  while ((de = readdir(d))) {
    if (!ends_with(de->d_name, ".c") && !ends_with(de->d_name, ".h")) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    char inc[300];
    snprintf(inc, sizeof inc, "abgpu/%s", de->d_name);
    n += check_file(path, m == NMOD ? of_include(inc, NMOD, path) : m);
  }
  closedir(d);
  return n;
}

Test(layers, no_include_reaches_up) {
  static const char *const dirs[] = {"data", "model", "ref", "cpu", "cl", "train", "report",
                                     "cli"};
  int n = 0;
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/src/%s", ABGPU_SRC_DIR, dirs[i]);
    n += check_dir(dir, of_dir(dirs[i]));
  }
  char inc[1024];
  snprintf(inc, sizeof inc, "%s/include/abgpu", ABGPU_SRC_DIR);
  n += check_dir(inc, NMOD);
  cr_assert_gt(n, 100, "only %d includes found: the scan is broken", n);
  cr_log_info("%d includes checked", n);
}

/* The checks of issue 12, kept: no OpenCL-only door around the op table. */
Test(layers, no_side_doors_around_the_op_table) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "grep -rlE 'ab_backend_cl_set_fused|ab_cl_backend_path' "
           "%s/src %s/include", ABGPU_SRC_DIR, ABGPU_SRC_DIR);
  FILE *p = popen(cmd, "r");
  cr_assert(p);
  char buf[256];
  int found = fgets(buf, sizeof buf, p) != NULL;
  pclose(p);
  cr_assert(!found, "an OpenCL-only function outside the op table is back: %s", buf);
}
