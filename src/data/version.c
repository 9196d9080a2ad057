/* ab_version (version.h). */
#include "abgpu/version.h"

const char *ab_version(void) { return ABGPU_VERSION; }
