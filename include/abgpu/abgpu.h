/* abgpu.h - everything a program linking libabgpu may call (pkg-config abgpu, or CMake's
 * find_package(abgpu) and abgpu::abgpu). docs/library.md shows a program that loads a
 * model and scores rows.
 *
 * By layer (docs/architecture.md): errors, files and data (err.h, rng.h, fileio.h,
 * table.h, synth.h, source.h, encode.h, prep.h, npz.h, json.h); the network and its reference
 * ops (consts.h, arch.h, ref.h, ops.h); models, metrics and importance (config.h,
 * model.h); the devices (cpu.h, cl.h); backends, training, scoring, sweeps (backend.h,
 * train.h, predictor.h, sweep.h); the HTML report (report.h). */
#ifndef ABGPU_ABGPU_H
#define ABGPU_ABGPU_H

#include "abgpu/version.h"

#include "abgpu/err.h"
#include "abgpu/rng.h"
#include "abgpu/fileio.h"
#include "abgpu/json.h"
#include "abgpu/table.h"
#include "abgpu/synth.h"
#include "abgpu/source.h"
#include "abgpu/encode.h"
#include "abgpu/prep.h"
#include "abgpu/npz.h"

#include "abgpu/consts.h"
#include "abgpu/arch.h"
#include "abgpu/ref.h"
#include "abgpu/ops.h"

#include "abgpu/config.h"
#include "abgpu/model.h"

#include "abgpu/cpu.h"
#include "abgpu/cl.h"

#include "abgpu/backend.h"
#include "abgpu/train.h"
#include "abgpu/predictor.h"
#include "abgpu/sweep.h"

#include "abgpu/report.h"

#endif
