#pragma once

// TAPEGRAD_TARGET_PUSH("avx2,fma") ... TAPEGRAD_TARGET_POP(): every function defined between the two is
// compiled for those instruction sets whatever the build's flags, by GCC (its push_options and target
// pragmas) and by clang (which ignores GCC's target pragma: the target attribute pushed onto each
// function). Code outside keeps the build's flags, the headers included before the region in
// particular: an inline function or a template instantiated inside could be the copy the linker keeps
// for code that runs on any CPU, so a region holds code with internal linkage only, and its callers
// run it only on CPUs with those instruction sets (gemm_isa() in gemm.hpp, by CPUID).

#define TAPEGRAD_PRAGMA(...) _Pragma(#__VA_ARGS__)
#if defined(__clang__)
#define TAPEGRAD_TARGET_PUSH(isa) \
  TAPEGRAD_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define TAPEGRAD_TARGET_POP() TAPEGRAD_PRAGMA(clang attribute pop)
#else
#define TAPEGRAD_TARGET_PUSH(isa) TAPEGRAD_PRAGMA(GCC push_options) TAPEGRAD_PRAGMA(GCC target(isa))
#define TAPEGRAD_TARGET_POP() TAPEGRAD_PRAGMA(GCC pop_options)
#endif
