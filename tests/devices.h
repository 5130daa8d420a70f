// The CUDA device the [gpu] tests run on, and the line they print when there is none. A [gpu] test runs the
// same check as its [cpu] twin on "cuda" (in float32 and in bfloat16); without a device it ends at once, passing,
// with one warning line (Catch2 v2 has no skip), and scripts/test says how many did.
#pragma once

#include <ATen/Context.h>

#define GRPO_NEED_CUDA()                                                                                     \
  do {                                                                                                       \
    if (!at::hasCUDA()) {                                                                                    \
      WARN("SKIPPED: needs a CUDA device and a CUDA LibTorch (scripts/gpu-bundle builds one; scripts/gpu-check " \
           "runs these tests on a GPU machine)");                                                            \
      return;                                                                                                \
    }                                                                                                        \
  } while (0)
