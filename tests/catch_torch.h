// Include this instead of <catch2/catch.hpp> in tests that use LibTorch: LibTorch pulls in glog, whose CHECK
// macros would silently replace Catch's (a failed check then aborts the whole executable).
#pragma once

#include <ATen/ATen.h>

#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#undef CHECK_NOTNULL

#include <catch2/catch.hpp>
