#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

namespace tapegrad {

/// Calls `f.template operator()<N>()` with N = min(count, Max), for a count of at least 1: a
/// run-time count made a compile-time constant, so that loops over N unroll and N sums stay in
/// registers (kernels instantiate one body per N).
template <int Max, typename F>
void with_count(int64_t count, F&& f) {
  const int64_t n = std::min<int64_t>(count, Max);
  [&]<int... Ns>(std::integer_sequence<int, Ns...>) { ((n == Ns + 1 ? f.template operator()<Ns + 1>() : void()), ...); }
  (std::make_integer_sequence<int, Max>{});
}

}  // namespace tapegrad
