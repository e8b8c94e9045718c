#pragma once

#include <tapegrad/autograd/tensor.hpp>

#include <cstdint>

namespace tapegrad {

/// A seeded random number generator (xoshiro256**, seeded through splitmix64). The same seed gives
/// the same numbers on every machine: no std:: distribution, whose output varies by library.
class Generator {
 public:
  /// A generator whose whole sequence is fixed by `seed`.
  explicit Generator(uint64_t seed);
  /// 64 random bits.
  uint64_t next_u64();
  /// Uniform in [0, 1), 53 bits.
  double uniform();
  /// Standard normal (Box-Muller).
  double normal();
  /// Uniform integer in [0, bound).
  uint64_t below(uint64_t bound);
  /// 64 random bits in each of `count` words: the numbers `count` calls of next_u64 return
  /// (`count` >= 0; `words` not null when count > 0).
  void fill(uint64_t* words, int64_t count);

 private:
  uint64_t state_[4];
};

/// Normal random numbers with `mean` and `stddev` (finite, stddev >= 0).
Tensor random_normal(const Shape& shape, Generator& generator, double mean = 0.0, double stddev = 1.0,
                     DType dtype = DType::float32);
/// Uniform random numbers in [low, high) (finite, low <= high).
Tensor random_uniform(const Shape& shape, Generator& generator, double low = 0.0, double high = 1.0,
                      DType dtype = DType::float32);

}  // namespace tapegrad
