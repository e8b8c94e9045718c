// nn initializers: fans, the distributions and their scales, seeding, the default generator.

#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace tapegrad;

namespace {

struct Moments {
  double mean = 0, stddev = 0, max_abs = 0;
};

Moments moments_of(const Tensor& t) {
  const std::vector<double> v = t.to_vector();
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) {
    m.stddev += (x - m.mean) * (x - m.mean);
    m.max_abs = std::max(m.max_abs, std::abs(x));
  }
  m.stddev = std::sqrt(m.stddev / static_cast<double>(v.size()));
  return m;
}

}  // namespace

TEST_CASE("initializers: fans as Keras counts them") {
  const auto fans = [](const Shape& s) {
    const nn::Fans f = nn::compute_fans(s);
    return std::vector<int64_t>{f.in, f.out};
  };
  CHECK(fans({}) == std::vector<int64_t>{1, 1});
  CHECK(fans({5}) == std::vector<int64_t>{5, 5});
  CHECK(fans({3, 4}) == std::vector<int64_t>{3, 4});
  CHECK(fans({3, 5, 2, 7}) == std::vector<int64_t>{3 * 5 * 2, 3 * 5 * 7});  // HWIO
}

TEST_CASE("initializers: constants") {
  Generator g(1);
  CHECK(nn::Zeros().make({2, 3}, DType::float32, g).to_vector() == std::vector<double>(6, 0.0));
  CHECK(nn::Ones().make({4}, DType::float64, g).to_vector() == std::vector<double>(4, 1.0));
  const Tensor c = nn::Constant(2.5).make({2}, DType::float64, g);
  CHECK(c.dtype() == DType::float64);
  CHECK(c.to_vector() == std::vector<double>{2.5, 2.5});
  CHECK(nn::Constant(2.5).name() == "Constant(2.5)");
}

TEST_CASE("initializers: random_normal has tf.random_normal_initializer's defaults and draws tapegrad's numbers") {
  Generator g(3);
  const Tensor t = nn::RandomNormal().make({100, 100}, DType::float64, g);
  const Moments m = moments_of(t);
  CHECK(std::abs(m.mean) < 0.002);
  CHECK(m.stddev == doctest::Approx(0.05).epsilon(0.03));
  Generator same(3);
  CHECK(t.to_vector() == tapegrad::random_normal({100, 100}, same, 0.0, 0.05, DType::float64).to_vector());
  CHECK(nn::RandomNormal().name() == "RandomNormal(mean=0, stddev=0.05)");
  CHECK(nn::RandomNormal(2.0, 0.5).make({1}, DType::float32, g).dtype() == DType::float32);
}

TEST_CASE("initializers: random_uniform stays in its range") {
  Generator g(4);
  const Moments m = moments_of(nn::RandomUniform(-0.5, 0.25).make({5000}, DType::float64, g));
  CHECK(m.max_abs <= 0.5);
  CHECK(m.mean == doctest::Approx(-0.125).epsilon(0.1));
  CHECK_THROWS_AS(nn::RandomUniform(1, 0), Error);
}

TEST_CASE("initializers: Glorot and He scale with the fans") {
  Generator g(5);
  const Shape kernel{3, 3, 16, 32};  // fan_in 144, fan_out 288
  SUBCASE("glorot_uniform: uniform in +-sqrt(6 / (fan_in + fan_out))") {
    const double limit = std::sqrt(6.0 / (144 + 288));
    const Moments m = moments_of(nn::GlorotUniform().make(kernel, DType::float64, g));
    CHECK(m.max_abs <= limit);
    CHECK(m.max_abs > 0.99 * limit);
    CHECK(m.stddev == doctest::Approx(limit / std::sqrt(3.0)).epsilon(0.03));
  }
  SUBCASE("glorot_normal: truncated at two deviations, stddev sqrt(2 / (fan_in + fan_out))") {
    const double stddev = std::sqrt(2.0 / (144 + 288));
    const Moments m = moments_of(nn::GlorotNormal().make(kernel, DType::float64, g));
    CHECK(m.max_abs <= 2 * stddev / 0.87962566103423978);
    CHECK(m.stddev == doctest::Approx(stddev).epsilon(0.03));
  }
  SUBCASE("he_normal: truncated at two deviations, stddev sqrt(2 / fan_in)") {
    const double stddev = std::sqrt(2.0 / 144);
    const Moments m = moments_of(nn::HeNormal().make(kernel, DType::float64, g));
    CHECK(m.max_abs <= 2 * stddev / 0.87962566103423978);
    CHECK(m.stddev == doctest::Approx(stddev).epsilon(0.03));
  }
  SUBCASE("truncated_normal: within two deviations of the mean") {
    const Moments m = moments_of(nn::TruncatedNormal(1.0, 0.1).make({5000}, DType::float64, g));
    CHECK(m.mean == doctest::Approx(1.0).epsilon(0.01));
    CHECK(m.max_abs <= 1.2);
  }
  SUBCASE("explicit fans override the shape's") {
    const Moments m = moments_of(nn::GlorotUniform().make({4000}, DType::float64, g, {1, 2}));
    CHECK(m.max_abs <= std::sqrt(2.0));
    CHECK(m.max_abs > 1.3);
  }
}

TEST_CASE("initializers: a seed gives the same numbers; errors") {
  for (const nn::Initializer& init : std::initializer_list<nn::Initializer>{
           nn::RandomNormal(), nn::RandomUniform(), nn::GlorotUniform(), nn::GlorotNormal(), nn::HeNormal()}) {
    CAPTURE(init.name());
    Generator a(8), b(8);
    CHECK(init.make({3, 4}, DType::float32, a).to_vector() == init.make({3, 4}, DType::float32, b).to_vector());
    CHECK_THROWS_AS(init.make({2}, DType::int64, a), Error);
  }
  CHECK_THROWS_AS(nn::RandomNormal(0, -1), Error);
  Generator g(1);
  CHECK_THROWS_WITH_AS(nn::HeNormal().make({2}, DType::float32, g, {0, 2}), doctest::Contains("fans must be positive"),
                       Error);
}

TEST_CASE("initializers: the default generator is reseedable") {
  nn::set_seed(21);
  const uint64_t first = nn::next_seed(), second = nn::next_seed();
  CHECK(first != second);
  nn::set_seed(21);
  CHECK(nn::next_seed() == first);
  CHECK(nn::next_seed() == second);
}
