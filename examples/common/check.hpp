#pragma once

// How an example checks its own numbers: `check(condition, message...)` throws CheckFailed, which
// main reports on stderr before it exits with status 1, so `meson test` sees a wrong number.

#include <tapegrad/autograd/tensor.hpp>

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace examples {

/// A number the example printed is not the one it should be.
struct CheckFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Throws CheckFailed with the formatted message unless `ok`.
template <typename... T>
void check(bool ok, fmt::format_string<T...> format, T&&... values) {
  if (!ok) throw CheckFailed("check failed: " + fmt::format(format, std::forward<T>(values)...));
}

/// Throws CheckFailed unless `got` has `want`'s shape and exactly its values.
inline void check_equal(const tapegrad::Tensor& got, const tapegrad::Tensor& want, const std::string& what) {
  check(got.shape() == want.shape() && got.to_vector() == want.to_vector(), "{} is {} {}, expected {} {}", what,
        got.shape(), got, want.shape(), want);
}

}  // namespace examples
