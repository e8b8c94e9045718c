// Checks shared by the autograd tests.
#pragma once

#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace tapegrad::testing {

/// A float64 vector of `values`.
inline Tensor f64(std::initializer_list<double> values) {
  return Tensor(values, Shape{static_cast<int64_t>(values.size())}, DType::float64);
}

/// Equal bit for bit: -0 differs from 0, and a NaN equals a NaN of the same bits.
inline bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<uint64_t>(a[i]) != std::bit_cast<uint64_t>(b[i])) return false;
  }
  return true;
}

/// Checks every element of `t` against `expected`: exactly when `tolerance` is 0, else within it
/// (doctest's Approx). CHECK, not REQUIRE: one bad gradient must not hide the other subcases.
inline void check_values(const Tensor& t, const std::vector<double>& expected, double tolerance) {
  CHECK_MESSAGE(t.defined(), "expected a gradient, got an undefined tensor");
  if (!t.defined()) return;
  const std::vector<double> values = t.to_vector();
  CHECK(values.size() == expected.size());
  if (values.size() != expected.size()) return;
  for (size_t i = 0; i < values.size(); ++i) {
    INFO("element ", i, " of ", to_string(t));
    if (tolerance == 0) {
      CHECK(values[i] == expected[i]);
    } else {
      CHECK(values[i] == doctest::Approx(expected[i]).epsilon(tolerance));
    }
  }
}

}  // namespace tapegrad::testing
