#include <tapegrad/nn/initializers.hpp>

#include <tapegrad/autograd/error.hpp>

#include <cmath>
#include <mutex>
#include <vector>

namespace tapegrad::nn {

Fans compute_fans(const Shape& shape) {
  const auto dims = shape.dims();
  switch (dims.size()) {
    case 0: return {1, 1};
    case 1: return {dims[0], dims[0]};
    case 2: return {dims[0], dims[1]};
    default: {
      int64_t receptive_field = 1;
      for (size_t i = 0; i + 2 < dims.size(); ++i) receptive_field *= dims[i];
      return {receptive_field * dims[dims.size() - 2], receptive_field * dims[dims.size() - 1]};
    }
  }
}

Initializer::Initializer(Kind kind, std::string name, double a, double b, Fan fan, double scale)
    : kind_(kind), name_(std::move(name)), a_(a), b_(b), fan_(fan), scale_(scale) {}

namespace {

// NOTE: Keras draws Glorot normal and He normal from a normal truncated at two standard
// deviations, and divides the wanted standard deviation by 0.87962566103423978, the standard
// deviation of a unit normal so truncated, so that the values have the wanted spread. We do the
// same (rejection sampling from Generator::normal): same distribution, not Keras's numbers.
constexpr double kTruncatedStddev = 0.87962566103423978;

Tensor draw_truncated_normal(const Shape& shape, Generator& generator, double mean, double stddev, DType dtype) {
  std::vector<double> values(static_cast<size_t>(shape.numel()));
  for (double& value : values) {
    double z = generator.normal();
    while (std::abs(z) > 2.0) z = generator.normal();
    value = mean + stddev * z;
  }
  return Tensor(values, shape, dtype);
}

}  // namespace

Tensor Initializer::make(const Shape& shape, DType dtype, Generator& generator, Fans fans) const {
  if (!is_floating(dtype)) fail("initializer {}: expected float32 or float64, got {}", name_, dtype_name(dtype));
  if (fan_ == Fan::none) {
    switch (kind_) {
      case Kind::constant: return full(shape, a_, dtype);
      case Kind::normal: return tapegrad::random_normal(shape, generator, a_, b_, dtype);
      case Kind::uniform: return tapegrad::random_uniform(shape, generator, a_, b_, dtype);
      case Kind::truncated_normal: return draw_truncated_normal(shape, generator, a_, b_, dtype);
    }
  }
  // Variance scaling (Glorot, He): values of variance scale / fan.
  if (fans.in < 1 || fans.out < 1) {
    fail("initializer {}: fans must be positive, got fan_in {} and fan_out {} (shape {})", name_, fans.in, fans.out,
         shape);
  }
  const double fan = fan_ == Fan::in ? static_cast<double>(fans.in) : static_cast<double>(fans.in + fans.out) / 2.0;
  const double variance = scale_ / fan;
  if (kind_ == Kind::uniform) {
    const double limit = std::sqrt(3.0 * variance);  // a uniform in [-limit, limit) has variance limit^2 / 3
    return tapegrad::random_uniform(shape, generator, -limit, limit, dtype);
  }
  return draw_truncated_normal(shape, generator, 0.0, std::sqrt(variance) / kTruncatedStddev, dtype);
}

RandomNormal::RandomNormal(double mean, double stddev)
    : Initializer(Kind::normal, fmt::format("RandomNormal(mean={}, stddev={})", mean, stddev), mean, stddev) {
  if (!std::isfinite(mean) || !std::isfinite(stddev) || !(stddev >= 0))
    fail("RandomNormal: mean {} and stddev {}; expected finite numbers and stddev >= 0", mean, stddev);
}

RandomUniform::RandomUniform(double low, double high)
    : Initializer(Kind::uniform, fmt::format("RandomUniform(low={}, high={})", low, high), low, high) {
  if (!std::isfinite(low) || !std::isfinite(high) || !(low <= high))
    fail("RandomUniform: low {} and high {}; expected finite numbers with low <= high", low, high);
}

TruncatedNormal::TruncatedNormal(double mean, double stddev)
    : Initializer(Kind::truncated_normal, fmt::format("TruncatedNormal(mean={}, stddev={})", mean, stddev), mean,
                  stddev) {
  if (!std::isfinite(mean) || !std::isfinite(stddev) || !(stddev >= 0))
    fail("TruncatedNormal: mean {} and stddev {}; expected finite numbers and stddev >= 0", mean, stddev);
}

Constant::Constant(double value) : Initializer(Kind::constant, fmt::format("Constant({})", value), value, 0.0) {
  if (!std::isfinite(value)) fail("Constant: value {}; expected a finite number", value);
}
Zeros::Zeros() : Initializer(Kind::constant, "Zeros", 0.0, 0.0) {}
Ones::Ones() : Initializer(Kind::constant, "Ones", 1.0, 0.0) {}

GlorotUniform::GlorotUniform() : Initializer(Kind::uniform, "GlorotUniform", 0.0, 0.0, Fan::average, 1.0) {}
GlorotNormal::GlorotNormal() : Initializer(Kind::truncated_normal, "GlorotNormal", 0.0, 0.0, Fan::average, 1.0) {}
HeNormal::HeNormal() : Initializer(Kind::truncated_normal, "HeNormal", 0.0, 0.0, Fan::in, 2.0) {}

namespace {

// Any fixed value would do; it only has to be the same on every run.
constexpr uint64_t kDefaultSeed = 0;

struct DefaultGenerator {
  std::mutex mutex;
  Generator generator{kDefaultSeed};
};

DefaultGenerator& default_generator() {
  static DefaultGenerator instance;
  return instance;
}

}  // namespace

void set_seed(uint64_t seed) {
  DefaultGenerator& g = default_generator();
  const std::lock_guard lock(g.mutex);
  g.generator = Generator(seed);
}

uint64_t next_seed() {
  DefaultGenerator& g = default_generator();
  const std::lock_guard lock(g.mutex);
  return g.generator.next_u64();
}

}  // namespace tapegrad::nn
