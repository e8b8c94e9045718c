#include <tapegrad/autograd/random.hpp>

#include <tapegrad/autograd/error.hpp>

#include <cmath>
#include <numbers>

namespace tapegrad {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Generator::Generator(uint64_t seed) {
  for (uint64_t& word : state_) word = splitmix64(seed);
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

void Generator::fill(uint64_t* words, int64_t count) {
  if (count < 0) fail("Generator::fill: count is {}, expected a count >= 0", count);
  if (words == nullptr && count > 0) fail("Generator::fill: words is a null pointer for {} words", count);
  for (int64_t i = 0; i < count; ++i) words[i] = next_u64();
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  // Box-Muller with 1 - u in (0, 1], so the logarithm is finite.
  const double u = 1.0 - uniform();
  const double v = uniform();
  return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * v);
}

uint64_t Generator::below(uint64_t bound) {
  if (bound == 0) fail("Generator::below: bound must be positive");
  // Rejection removes the modulo bias.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t x = next_u64();
  while (x >= limit) x = next_u64();
  return x % bound;
}

namespace {
template <typename Draw>
Tensor random_tensor(const Shape& shape, DType dtype, const char* op, Draw draw) {
  Tensor out = Tensor::empty(shape, dtype);
  dispatch_floating(dtype, op, [&]<typename T>() {
    T* values = out.mutable_data<T>();
    for (int64_t i = 0; i < shape.numel(); ++i) values[i] = static_cast<T>(draw());
  });
  return out;
}
}  // namespace

Tensor random_normal(const Shape& shape, Generator& generator, double mean, double stddev, DType dtype) {
  if (!std::isfinite(mean) || !std::isfinite(stddev) || !(stddev >= 0))
    fail("random_normal: mean {} and stddev {}; expected finite numbers and stddev >= 0", mean, stddev);
  return random_tensor(shape, dtype, "random_normal", [&] { return mean + stddev * generator.normal(); });
}

Tensor random_uniform(const Shape& shape, Generator& generator, double low, double high, DType dtype) {
  if (!std::isfinite(low) || !std::isfinite(high) || !(low <= high))
    fail("random_uniform: low {} and high {}; expected finite numbers with low <= high", low, high);
  return random_tensor(shape, dtype, "random_uniform", [&] { return low + (high - low) * generator.uniform(); });
}

}  // namespace tapegrad
