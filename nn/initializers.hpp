#pragma once

#include <tapegrad/autograd/random.hpp>
#include <tapegrad/autograd/tensor.hpp>

#include <cstdint>
#include <string>

namespace tapegrad::nn {

/// How many inputs and outputs feed one element of a weight, as Keras counts them: a kernel
/// HWIO has fan_in = H*W*I and fan_out = H*W*O; a matrix (in, out) has in and out.
struct Fans {
  int64_t in = 1;   ///< fan_in
  int64_t out = 1;  ///< fan_out
};

/// Keras's fans of a weight of `shape` (rank 0: 1, 1; rank 1: n, n; rank 2: rows, cols;
/// higher: the leading axes are the receptive field, the last two are in and out channels).
Fans compute_fans(const Shape& shape);

/// How a weight gets its first value: a small value type, made by the classes below and
/// given to a layer's options (Keras's initializers).
class Initializer {
 public:
  /// The distributions an initializer draws from.
  enum class Kind { constant, normal, uniform, truncated_normal };
  /// The kind of distribution.
  Kind kind() const { return kind_; }
  /// Its name, e.g. "RandomNormal(mean=0, stddev=0.05)".
  const std::string& name() const { return name_; }

  /// A tensor of `shape` and `dtype`, drawn from `generator`; `fans` scale the variance-scaling
  /// initializers (Glorot, He) and are ignored by the others.
  Tensor make(const Shape& shape, DType dtype, Generator& generator, Fans fans) const;
  /// As above, with the fans Keras computes from `shape`.
  Tensor make(const Shape& shape, DType dtype, Generator& generator) const {
    return make(shape, dtype, generator, compute_fans(shape));
  }

  // No public constructor: every initializer is one of the classes below, named as Keras names
  // its initializers, and its name says what it draws.
 protected:
  // Variance scaling (Glorot, He): the scale is `scale / fan` with fan = fan_in, or the mean of
  // fan_in and fan_out.
  enum class Fan { none, in, average };
  Initializer(Kind kind, std::string name, double a, double b, Fan fan = Fan::none, double scale = 1.0);

 private:
  Kind kind_;
  std::string name_;
  double a_, b_;  // constant: value; normal and truncated normal: mean, stddev; uniform: low, high
  Fan fan_;
  double scale_;
};

// The initializers, as Keras's classes: `.kernel_initializer = nn::GlorotUniform()`. Each is an
// Initializer and is copied into one.

/// Normal values; the defaults are tf.random_normal_initializer's (mean 0, stddev 0.05).
class RandomNormal : public Initializer {
 public:
  /// Normal values of `mean` and `stddev` (>= 0).
  explicit RandomNormal(double mean = 0.0, double stddev = 0.05);
};
/// Uniform values in [low, high); the defaults are Keras's RandomUniform's.
class RandomUniform : public Initializer {
 public:
  /// Uniform values in [low, high) (low <= high).
  explicit RandomUniform(double low = -0.05, double high = 0.05);
};
/// Normal values redrawn until within two standard deviations of the mean (Keras's TruncatedNormal;
/// `stddev` is that of the normal before truncation, as in Keras).
class TruncatedNormal : public Initializer {
 public:
  /// Truncated normal values of `mean` and `stddev` (>= 0) before truncation.
  explicit TruncatedNormal(double mean = 0.0, double stddev = 0.05);
};
/// Every value `value`.
class Constant : public Initializer {
 public:
  /// Every value `value`.
  explicit Constant(double value);
};
/// Every value 0.
class Zeros : public Initializer {
 public:
  /// Every value 0.
  Zeros();
};
/// Every value 1.
class Ones : public Initializer {
 public:
  /// Every value 1.
  Ones();
};
/// Glorot (Xavier) uniform: uniform in [-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
class GlorotUniform : public Initializer {
 public:
  /// Glorot uniform.
  GlorotUniform();
};
/// Glorot (Xavier) normal: normal truncated at two standard deviations, whose standard deviation
/// after truncation is sqrt(2 / (fan_in + fan_out)).
class GlorotNormal : public Initializer {
 public:
  /// Glorot normal.
  GlorotNormal();
};
/// He normal: normal truncated at two standard deviations, whose standard deviation after
/// truncation is sqrt(2 / fan_in).
class HeNormal : public Initializer {
 public:
  /// He normal.
  HeNormal();
};

/// Reseeds the process-wide default generator that layers without a seed draw from; the default
/// seed is fixed, so a program's initial weights are the same on every run.
void set_seed(uint64_t seed);
/// A seed for a new generator, drawn from the default generator (thread-safe).
uint64_t next_seed();

}  // namespace tapegrad::nn
