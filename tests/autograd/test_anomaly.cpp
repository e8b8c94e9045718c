// DetectAnomaly: the first op whose forward output is not finite, and the first backward that makes
// a NaN, throw an Error naming the op, its tape entry and its inputs; nothing is checked outside the
// scope, and a finite computation passes through it unchanged.

#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <limits>
#include <string>

using namespace tapegrad;
using doctest::Contains;

namespace {
const double kInf = std::numeric_limits<double>::infinity();
Tensor f64(std::initializer_list<double> v) { return Tensor(v, Shape{static_cast<int64_t>(v.size())}, DType::float64); }
}  // namespace

TEST_CASE("DetectAnomaly: the forward's first non-finite output") {
  const Tensor x = f64({1, 0, 4});
  SUBCASE("off by default: log(0) is -inf, silently, as NumPy") {
    GradientTape tape;
    tape.watch(x, "x");
    CHECK(log(x).flat(1) == -kInf);
    CHECK_FALSE(anomaly_detection_enabled());
  }
  SUBCASE("on: log(0) names log, its entry and its input") {
    DetectAnomaly anomaly;
    GradientTape tape;
    tape.watch(x, "x");
    const Tensor y = x * 2.0;
    CHECK_THROWS_WITH_AS(log(y),
                         "DetectAnomaly: the forward of 'log' (tape entry [1]) produced -inf at position 1 of its 3 "
                         "float64 output; its inputs: [0] 3 float64",
                         Error);
  }
  SUBCASE("a watched input is named by its label; an op no tape records is checked too") {
    DetectAnomaly anomaly;
    GradientTape tape;
    tape.watch(x, "x");
    CHECK_THROWS_WITH_AS(x / 0.0, Contains("the forward of 'div' (tape entry [0]) produced inf at position 0"), Error);
    CHECK_THROWS_WITH_AS(sqrt(f64({-1})), Contains("the forward of 'sqrt' (not recorded: no active tape watches"),
                         Error);
  }
  SUBCASE("finite work passes unchanged, softmax of large values included (its inner exp is not checked)") {
    DetectAnomaly anomaly;
    GradientTape tape;
    tape.watch(x, "x");
    const Tensor y = softmax(x * 1000.0);
    CHECK(y.flat(2) == doctest::Approx(1.0));
    const Tensor g = tape.gradient(sum(y), x);
    CHECK(g.defined());
  }
  SUBCASE("nothing inside a StopRecording is checked one op at a time") {
    DetectAnomaly anomaly;
    StopRecording pause;
    CHECK(std::isinf(log(f64({0})).flat(0)));
  }
  SUBCASE("scopes nest") {
    DetectAnomaly outer;
    { DetectAnomaly inner; }
    CHECK(anomaly_detection_enabled());
    CHECK_THROWS_AS(log(f64({0})), Error);
  }
}

TEST_CASE("DetectAnomaly: the backward sweep's first NaN") {
  const Tensor x = f64({0, 1});
  SUBCASE("sqrt at 0 times a zero gradient: 0 / 0 in sqrt's backward") {
    DetectAnomaly anomaly;
    GradientTape tape;
    tape.watch(x, "x");
    const Tensor y = sum(sqrt(x) * 0.0);
    CHECK_THROWS_WITH_AS(tape.gradient(y, x),
                         "DetectAnomaly: the backward of 'sqrt' (the gradient of tape entry [0] sqrt(x 2 float64) -> 2 "
                         "float64) produced NaN at position 0 of its 2 float64 gradient for its input 1",
                         Error);
  }
  SUBCASE("off, the same sweep returns the NaN, as TensorFlow") {
    GradientTape tape;
    tape.watch(x, "x");
    const Tensor y = sum(sqrt(x) * 0.0);
    CHECK(std::isnan(tape.gradient(y, x).flat(0)));
  }
  SUBCASE("nested tapes: the inner sweep's ops are checked as backward ops, not as forward ones") {
    DetectAnomaly anomaly;
    GradientTape outer;
    outer.watch(x, "x");
    Tensor dy;
    {
      GradientTape inner;
      inner.watch(x, "x");
      dy = inner.gradient(sum(square(x)), x);
    }
    CHECK(outer.gradient(sum(dy), x).to_vector() == std::vector<double>{2, 2});
  }
}
