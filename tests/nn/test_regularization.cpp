// nn::Dropout: the identity in inference, inverted dropout in training (the fraction dropped, the
// scaling, the seed), its gradient, errors.

#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

using namespace tapegrad;

TEST_CASE("Dropout: the identity in inference, inverted dropout in training") {
  nn::reset_names();
  nn::Dropout drop(0.5, 42);
  CHECK(drop.name() == "dropout");
  CHECK(drop.class_name() == "Dropout");
  CHECK(drop.rate() == 0.5);
  const Tensor x = full({100, 100}, 3.0);

  SUBCASE("inference (the default outside any module, and training = false) returns x itself") {
    CHECK(drop(x).id() == x.id());
    CHECK(drop(x, false).id() == x.id());
  }
  SUBCASE("training: each element 0 or x / (1 - rate), about rate of them 0, the mean kept") {
    const std::vector<double> y = drop(x, true).to_vector();
    int64_t zeros = 0;
    for (const double v : y) {
      CHECK((v == 0 || v == 6.0));
      zeros += v == 0 ? 1 : 0;
    }
    // 10,000 draws with p = 0.5: the count's standard deviation is 50.
    CHECK(zeros > 5000 - 250);
    CHECK(zeros < 5000 + 250);
  }
  SUBCASE("the seed fixes the masks, call after call; each call draws a new one") {
    nn::Dropout same(0.5, 42);
    const Tensor first = drop(x, true), second = drop(x, true);
    CHECK(same(x, true).to_vector() == first.to_vector());
    CHECK(same(x, true).to_vector() == second.to_vector());
    CHECK(first.to_vector() != second.to_vector());
  }
  SUBCASE("rate 0 is the identity in training too") {
    nn::Dropout none(0.0);
    CHECK(none(x, true).id() == x.id());
  }
  SUBCASE("float64 inputs stay float64") { CHECK(drop(x.to(DType::float64), true).dtype() == DType::float64); }
}

TEST_CASE("Dropout: the gradient is the mask, scaled") {
  nn::Dropout drop(0.25, 7);
  const Tensor x = full({8, 16}, 1.0);
  GradientTape tape;
  tape.watch(x);
  const Tensor y = drop(x, true);
  const Tensor dx = tape.gradient(y, x);
  // y = x * mask / 0.75 with x = 1: the gradient equals y.
  CHECK(dx.to_vector() == y.to_vector());
}

TEST_CASE("dropout op: the fast kernel draws the reference's mask; rate 0.2 drops about a fifth") {
  Generator generator(5);
  const Tensor x = random_normal({1001}, generator);  // odd: the last word's high half unused
  Generator a(9), b(9);
  const Tensor y = dropout(x, 0.2, a);
  int64_t dropped = 0;
  const std::vector<double> xs = x.to_vector(), ys = y.to_vector();
  uint64_t bits = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i % 2 == 0) bits = b.next_u64();
    const uint64_t word = i % 2 == 0 ? (bits & 0xffffffffU) : (bits >> 32);
    const bool kept = static_cast<double>(word) >= std::ceil(0.2 * 4294967296.0);
    INFO("element ", i);
    CHECK(ys[i] == (kept ? static_cast<double>(static_cast<float>(xs[i]) * 1.25f) : 0.0));
    dropped += kept ? 0 : 1;
  }
  CHECK(dropped > 200 - 40);
  CHECK(dropped < 200 + 40);
  CHECK(a.next_u64() == b.next_u64());  // both drew 501 words
}

TEST_CASE("Dropout: errors name the layer and the op") {
  CHECK_THROWS_WITH_AS(nn::Dropout(1.0, std::nullopt, "drop"),
                       doctest::Contains("drop: rate is 1; expected 0 <= rate < 1"), Error);
  CHECK_THROWS_WITH_AS(nn::Dropout(-0.1), doctest::Contains("expected 0 <= rate < 1"), Error);
  CHECK_THROWS_WITH_AS(nn::Dropout(NAN), doctest::Contains("expected 0 <= rate < 1"), Error);
  Generator generator(1);
  CHECK_THROWS_WITH_AS(dropout(ones({2}), 1.5, generator),
                       doctest::Contains("dropout: rate is 1.5 for x 2; expected 0 <= rate < 1"), Error);
  CHECK_THROWS_WITH_AS(dropout(Tensor({1, 2}, {2}, DType::int64), 0.5, generator),
                       doctest::Contains("dropout: x is 2 int64; expected a float32 or float64 tensor"), Error);
  nn::Dropout drop(0.5, 1, "drop");
  CHECK_THROWS_WITH_AS(drop(Tensor({1, 2}, {2}, DType::int64), true),
                       doctest::Contains("drop: input is 2 int64, expected float32 or float64"), Error);
}
