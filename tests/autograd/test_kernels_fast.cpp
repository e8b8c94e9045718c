// The fast kernels of pooling, sigmoid, sums and bias-style broadcasts against the reference loops
// they replace: the same bits (sigmoid's float32 e^x: within 2 ulp), in float32 and float64, and
// the same bits for any number of threads.

#include <tapegrad/autograd/threads.hpp>
#include <tapegrad/tapegrad.hpp>
#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/kernels.hpp"
#include "autograd/kernels/pool_tiles.hpp"
#include "autograd/ops/conv_geometry.hpp"
#include "tests/autograd/check_values.hpp"
#include "tests/skip.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace tapegrad;
using testing::same_bits;

namespace {

struct PoolCase {
  std::string label;
  Shape x;
  Pool2DOptions options;
};

const std::vector<PoolCase>& pool_cases() {
  static const std::vector<PoolCase> cases{
      {"LeNet's first pooling, batch 3", {3, 28, 28, 6}, {{2, 2}, 2, Padding::valid()}},
      {"LeNet's second pooling, batch 64 (threads split the images)", {64, 10, 10, 16}, {{2, 2}, 2, Padding::valid()}},
      {"2x2 tiles, odd sizes (the last row and column in no window)", {2, 7, 9, 3}, {{2, 2}, 2, Padding::valid()}},
      {"2x2 tiles, 37 channels (more than one block of channels)", {2, 6, 5, 37}, {{2, 2}, 2, Padding::valid()}},
      {"2x2 tiles, 16 channels (the most the tiles' loops are built for)",
       {2, 10, 10, 16},
       {{2, 2}, 2, Padding::valid()}},
      {"2x2 tiles, 17 channels (the fewest counted at run time)", {1, 4, 6, 17}, {{2, 2}, 2, Padding::valid()}},
      // The AVX-512 loops hold whole windows per vector (pool_tiles.hpp): rows that end in a part-filled vector.
      {"2x2 tiles, 1 channel (16 windows a vector), odd sizes", {2, 9, 37, 1}, {{2, 2}, 2, Padding::valid()}},
      {"2x2 tiles, 5 channels (3 windows a vector)", {2, 6, 14, 5}, {{2, 2}, 2, Padding::valid()}},
      {"2x2 tiles, 8 channels (2 windows a vector)", {2, 5, 11, 8}, {{2, 2}, 2, Padding::valid()}},
      {"1x2 tiles, 3 channels", {2, 3, 10, 3}, {{1, 2}, {1, 2}, Padding::valid()}},
      {"3x3 tiles, 10 channels (30 floats of a row a vector)", {1, 7, 9, 10}, {{3, 3}, 3, Padding::valid()}},
      {"3x2 tiles, stride 3x2, odd sizes", {2, 8, 7, 5}, {{3, 2}, {3, 2}, Padding::valid()}},
      {"3x3, stride 1 (overlapping windows)", {2, 7, 6, 3}, {{3, 3}, 1, Padding::valid()}},
      {"3x2, stride 2x1, 'same'", {2, 5, 4, 2}, {{3, 2}, {2, 1}, Padding::same()}},
      {"3x3, stride 2, padding 1", {1, 5, 5, 1}, {{3, 3}, 2, Padding::uniform(1)}},
      {"3x3, stride 2, padding 1, count_include_pad", {2, 5, 6, 3}, {{3, 3}, 2, Padding::uniform(1), true}},
      {"2x2, stride 1, padding 1 top and left, count_include_pad",
       {2, 4, 5, 2},
       {2, 1, Padding::explicit_sides(1, 0, 1, 0), true}},
      {"2x2 tiles, count_include_pad (no padding: the same as without)", {2, 6, 6, 4}, {2, 2, Padding::valid(), true}},
  };
  return cases;
}

// Values with many ties (multiples of 0.5 in [-2, 2]), so that "the first maximum" matters.
Tensor tied_values(const Shape& shape, Generator& generator, DType dtype) {
  std::vector<double> values(static_cast<size_t>(shape.numel()));
  for (double& v : values) v = static_cast<double>(generator.below(9)) * 0.5 - 2.0;
  return Tensor(values, shape, dtype);
}

kernels::ConvGeometry pool_geometry(const PoolCase& c) {
  const Conv2DOptions conv{c.options.strides.value_or(c.options.pool_size), c.options.padding, 1};
  return detail::geometry(c.x, Shape{c.options.pool_size[0], c.options.pool_size[1], c.x[3], c.x[3]}, conv, "test");
}

struct PoolOutputs {
  Tensor max_y, max_dx, max_select, avg_y, avg_dx;
};

PoolOutputs run_pool(const PoolCase& c, const Tensor& x, const Tensor& dy, const Tensor& gx, bool reference) {
  const auto g = pool_geometry(c);
  const Shape y_shape = detail::output_shape(g);
  // NaN everywhere first: a kernel that leaves an element unwritten fails the comparison.
  const double nan = std::nan("");
  PoolOutputs out{full(y_shape, nan, x.dtype()), full(c.x, nan, x.dtype()), full(y_shape, nan, x.dtype()),
                  full(y_shape, nan, x.dtype()), full(c.x, nan, x.dtype())};
  if (reference) {
    kernels::max_pool_forward_reference(x, out.max_y, g);
    kernels::max_pool_backward_reference(dy, x, out.max_dx, g);
    kernels::max_pool_select_reference(gx, x, out.max_select, g);
    kernels::avg_pool_forward_reference(x, out.avg_y, g, c.options.count_include_pad);
    kernels::avg_pool_backward_reference(dy, out.avg_dx, g, c.options.count_include_pad);
  } else {
    kernels::max_pool_forward(x, out.max_y, g);
    kernels::max_pool_backward(dy, x, out.max_dx, g);
    kernels::max_pool_select(gx, x, out.max_select, g);
    kernels::avg_pool_forward(x, out.avg_y, g, c.options.count_include_pad);
    kernels::avg_pool_backward(dy, out.avg_dx, g, c.options.count_include_pad);
  }
  return out;
}

void check_same_bits(const PoolOutputs& a, const PoolOutputs& b) {
  CHECK(same_bits(a.max_y.to_vector(), b.max_y.to_vector()));
  CHECK(same_bits(a.max_dx.to_vector(), b.max_dx.to_vector()));
  CHECK(same_bits(a.max_select.to_vector(), b.max_select.to_vector()));
  CHECK(same_bits(a.avg_y.to_vector(), b.avg_y.to_vector()));
  CHECK(same_bits(a.avg_dx.to_vector(), b.avg_dx.to_vector()));
}

// `t` with every `every`-th value (from `first`) replaced by `value`.
Tensor with_every(const Tensor& t, size_t first, size_t every, double value) {
  std::vector<double> values = t.to_vector();
  for (size_t i = first; i < values.size(); i += every) values[i] = value;
  return Tensor(values, t.shape(), t.dtype());
}

// How many floats lie between a and b (0 when equal, NaN counts as equal to NaN).
int64_t ulp_distance(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : std::numeric_limits<int64_t>::max();
  const auto ordered = [](float v) {
    const auto bits = static_cast<int64_t>(std::bit_cast<int32_t>(v));
    return bits < 0 ? int64_t{std::numeric_limits<int32_t>::min()} - bits : bits;
  };
  return std::abs(ordered(a) - ordered(b));
}

}  // namespace

TEST_CASE("pooling kernels: the same bits as the reference loops") {
  for (const DType dtype : {DType::float32, DType::float64}) {
    Generator generator(31);
    for (const PoolCase& c : pool_cases()) {
      INFO(c.label, ", ", dtype_name(dtype));
      const Shape y_shape = detail::output_shape(pool_geometry(c));
      // Some NaN among the ties, and some -0 in the gradient (0 + -0 is 0).
      const Tensor x = with_every(tied_values(c.x, generator, dtype), 5, 37, std::numeric_limits<double>::quiet_NaN());
      const Tensor dy = with_every(random_normal(y_shape, generator, 0, 1, dtype), 1, 7, -0.0);
      const Tensor gx = random_normal(c.x, generator, 0, 1, dtype);
      check_same_bits(run_pool(c, x, dy, gx, false), run_pool(c, x, dy, gx, true));
    }
  }
}

TEST_CASE("pooling kernels: the same bits with 1 thread and with 2") {
  const int threads = num_threads();
  Generator generator(32);
  for (const PoolCase& c : pool_cases()) {
    INFO(c.label);
    const Shape y_shape = detail::output_shape(pool_geometry(c));
    const Tensor x = random_normal(c.x, generator);
    const Tensor dy = random_normal(y_shape, generator);
    const Tensor gx = random_normal(c.x, generator);
    set_num_threads(1);
    const PoolOutputs one = run_pool(c, x, dy, gx, false);
    set_num_threads(2);
    const PoolOutputs two = run_pool(c, x, dy, gx, false);
    check_same_bits(one, two);
  }
  set_num_threads(threads);
}

TEST_CASE("sigmoid kernel: float32 within 2 ulp of std::exp's, float64 the reference's bits") {
  std::vector<double> values{0.0,
                             -0.0,
                             1e-30,
                             -1e-30,
                             0.5,
                             -0.5,
                             87.0,
                             -87.0,
                             -87.5,
                             -100.0,
                             -103.9,
                             -104.0,
                             -200.0,
                             200.0,
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity()};
  for (int i = -22000; i <= 22000; ++i) values.push_back(i * 0.005 + 0.0001 * (i % 7));  // -110 .. 110
  const Shape shape{static_cast<int64_t>(values.size())};
  SUBCASE("float32") {
    const Tensor x(values, shape, DType::float32);
    Tensor fast = Tensor::empty(shape, DType::float32), reference = Tensor::empty(shape, DType::float32);
    kernels::sigmoid_forward(x, fast);
    kernels::sigmoid_forward_reference(x, reference);
    const auto f = fast.data<float>(), r = reference.data<float>();
    int64_t worst = 0;
    for (size_t i = 0; i < f.size(); ++i) worst = std::max(worst, ulp_distance(f[i], r[i]));
    CHECK(worst <= 2);
    CHECK(fast.flat(0) == 0.5);
    CHECK(fast.flat(14) == 1.0);  // +inf
    CHECK(fast.flat(15) == 0.0);  // -inf
  }
  SUBCASE("float64") {
    const Tensor x(values, shape, DType::float64);
    Tensor fast = Tensor::empty(shape, DType::float64), reference = Tensor::empty(shape, DType::float64);
    kernels::sigmoid_forward(x, fast);
    kernels::sigmoid_forward_reference(x, reference);
    CHECK(fast.to_vector() == reference.to_vector());
  }
  SUBCASE("NaN stays NaN") {
    const Tensor x({std::nan(""), 1.0}, Shape{2}, DType::float32);
    Tensor y = Tensor::empty(x.shape(), DType::float32);
    kernels::sigmoid_forward(x, y);
    CHECK(std::isnan(y.flat(0)));
  }
  SUBCASE("1 thread and 2: the same bits") {
    const int threads = num_threads();
    Generator generator(33);
    const Tensor x = random_normal({300000}, generator, 0, 5);
    Tensor one = Tensor::empty(x.shape(), x.dtype()), two = Tensor::empty(x.shape(), x.dtype());
    set_num_threads(1);
    kernels::sigmoid_forward(x, one);
    set_num_threads(2);
    kernels::sigmoid_forward(x, two);
    set_num_threads(threads);
    CHECK(one.to_vector() == two.to_vector());
  }
}

TEST_CASE("sigmoid_backward: the bits of dy * (y * (1 - y)) written with ops") {
  Generator generator(34);
  for (const DType dtype : {DType::float32, DType::float64}) {
    const Tensor y = sigmoid(random_normal({70000}, generator, 0, 3, dtype));
    const Tensor dy = random_normal(y.shape(), generator, 0, 1, dtype);
    Tensor fused = Tensor::empty(y.shape(), dtype);
    kernels::sigmoid_backward(dy, y, fused);
    CHECK(fused.to_vector() == (dy * (y * (1.0 - y))).to_vector());
  }
}

TEST_CASE("relu_backward: the bits of dy * greater(x, 0) written with ops, with 1 thread and with 2") {
  const int threads = num_threads();
  Generator generator(36);
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> special{0.0, -0.0, 1.0, -1.0, inf, -inf, nan, 1e-30};
  for (const DType dtype : {DType::float32, DType::float64}) {
    Tensor x = random_normal({70001}, generator, 0, 1, dtype);
    Tensor dy = random_normal(x.shape(), generator, 0, 1, dtype);
    std::vector<double> xs = x.to_vector(), dys = dy.to_vector();
    for (size_t i = 0; i < special.size(); ++i)  // every pair of special values, x's and dy's
      for (size_t j = 0; j < special.size(); ++j) {
        xs[i * special.size() + j] = special[i];
        dys[i * special.size() + j] = special[j];
      }
    x = Tensor(xs, x.shape(), dtype);
    dy = Tensor(dys, x.shape(), dtype);
    const std::vector<double> expected = (dy * greater(x, zeros_like(x))).to_vector();
    for (const int t : {1, 2}) {
      set_num_threads(t);
      Tensor fused = Tensor::empty(x.shape(), dtype);
      kernels::relu_backward(dy, x, fused);
      CHECK(same_bits(fused.to_vector(), expected));
    }
  }
  set_num_threads(threads);
}

TEST_CASE("reduce_sum: the leading- and trailing-axes loops give the reference's bits") {
  Generator generator(35);
  const Shape shape{7, 5, 3, 4};  // leading sums of 4 and 12 slots run in registers, of 60 in memory
  const std::vector<std::array<bool, Shape::kMaxRank>> masks{{true, false, false, false}, {true, true, true, false},
                                                             {false, false, false, true}, {false, true, true, true},
                                                             {true, true, true, true},    {false, false, false, false},
                                                             {true, false, true, false},  {false, true, false, true}};
  for (const DType dtype : {DType::float32, DType::float64}) {
    const Tensor x = random_normal(shape, generator, 0, 1e3, dtype);
    for (const auto& mask : masks) {
      INFO(dtype_name(dtype), " mask ", mask[0], mask[1], mask[2], mask[3]);
      const Tensor fast = kernels::reduce_sum(x, mask), reference = kernels::reduce_sum_reference(x, mask);
      CHECK(fast.shape() == reference.shape());
      CHECK(fast.to_vector() == reference.to_vector());
    }
  }
  const Tensor scalar = Tensor::scalar(2.5);
  CHECK(kernels::reduce_sum(scalar, {}).item() == 2.5);
}

TEST_CASE("zip: a bias repeated along the leading axes gives the general broadcast's bits") {
  Generator generator(36);
  const Shape big{4, 3, 5, 6};
  const auto minus = [](auto u, auto v) { return u - v; };
  for (const Shape& small : {Shape{6}, Shape{1, 6}, Shape{5, 6}, Shape{1, 3, 5, 6}, Shape{1, 1, 1, 6}}) {
    INFO("bias ", small);
    const Tensor a = random_normal(big, generator), b = random_normal(small, generator);
    const Tensor wide = broadcast_to(b, big);
    CHECK(kernels::zip(a, b, "test", minus).to_vector() == kernels::zip(a, wide, "test", minus).to_vector());
    CHECK(kernels::zip(b, a, "test", minus).to_vector() == kernels::zip(wide, a, "test", minus).to_vector());
  }
  // A bias row shorter than kernels::kRepeatedRow is repeated first: whole repeats and a tail.
  for (const Shape& small : {Shape{6}, Shape{5}, Shape{1}, Shape{70}}) {
    INFO("bias ", small, " on 37 rows");
    const Shape rows{37, small[0]};
    const Tensor a = random_normal(rows, generator), b = random_normal(small, generator);
    const Tensor wide = broadcast_to(b, rows);
    CHECK(kernels::zip(a, b, "test", minus).to_vector() == kernels::zip(a, wide, "test", minus).to_vector());
    CHECK(kernels::zip(b, a, "test", minus).to_vector() == kernels::zip(wide, a, "test", minus).to_vector());
  }
  CHECK(kernels::suffix_repeat(Shape{3, 1}, Shape{3, 4}) == 0);
  CHECK(kernels::suffix_repeat(Shape{1, 4}, Shape{3, 4}) == 4);
  CHECK(kernels::suffix_repeat(Shape{3, 4}, Shape{3, 4}) == 0);
}

TEST_CASE("batch normalization kernels: the fast ones against the reference loops, any thread count the same bits") {
  struct Case {
    const char* label;
    Shape x;
  };
  const Case cases[] = {
      {"a Dense output, 8x5", {8, 5}},
      {"NHWC 4x7x7x3, one block of rows", {4, 7, 7, 3}},
      {"NHWC 16x14x14x16: many blocks, on both threads", {16, 14, 14, 16}},
      {"one channel, 70,000 rows", {70000, 1}},
      {"one row", {1, 6}},
      {"NHWC 3x5x5x80: whole channel groups of every instruction set and a remainder, 75 rows", {3, 5, 5, 80}},
      {"NHWC 2x16x16x64: LeNet-like, 512 rows in two blocks", {2, 16, 16, 64}},
      {"NHWC 3x5x5x20: one AVX2 or SSE group of 16 floats and a remainder", {3, 5, 5, 20}},
      {"NHWC 2x6x6x48: float32's single AVX-512 vectors, no whole group of four", {2, 6, 6, 48}},
      {"NHWC 8x24x24x6: LeNet's 6 channels read flat in chunks of 3 vectors, five blocks of whole chunks",
       {8, 24, 24, 6}},
      {"NHWC 3x5x5x12: a partial chunk (float64: an odd count of chunks)", {3, 5, 5, 12}},
      {"NHWC 5x7x7x2: chunks of one vector", {5, 7, 7, 2}},
      {"NHWC 4x9x9x24: float32 chunks of 3 vectors, float64's whole vectors", {4, 9, 9, 24}},
      {"Dense 1000x84: 84 channels, no chunks (one would be 21 vectors)", {1000, 84}},
      {"12001x6: twelve blocks on both threads, the last ending in a partial chunk", {12001, 6}},
      {"3001x24: five blocks on both threads, the last ending in a partial float32 chunk", {3001, 24}},
      {"one channel, 70,001 rows: a partial chunk of one element after 68 blocks", {70001, 1}},
  };
  for (const Case& c : cases) {
    for (const DType dtype : {DType::float32, DType::float64}) {
      INFO(c.label, ", ", dtype_name(dtype));
      Generator generator(21);
      const int64_t channels = c.x[-1];
      // A mean far from 0 next to the spread: the shifted sums keep the variance accurate.
      const Tensor x = random_normal(c.x, generator, 50.0, 2.0, dtype);
      const Tensor dy = random_normal(c.x, generator, 0.0, 1.0, dtype);
      const Tensor gamma = random_normal({channels}, generator, 1.0, 0.5, dtype);
      const Tensor beta = random_normal({channels}, generator, 0.0, 1.0, dtype);
      const kernels::BatchNormGeometry geom{x.numel() / channels, channels, 1e-3};
      const double tolerance = dtype == DType::float32 ? 2e-4 : 1e-9;
      const auto close = [&](const Tensor& fast, const Tensor& reference, const char* what) {
        const std::vector<double> a = fast.to_vector(), b = reference.to_vector();
        REQUIRE(a.size() == b.size());
        double scale = 0;
        for (const double v : b) scale = std::max(scale, std::abs(v));
        for (size_t i = 0; i < a.size(); ++i) {
          INFO(what, " element ", i);
          CHECK(std::abs(a[i] - b[i]) <= tolerance * std::max(1.0, scale));
        }
      };
      const auto empty = [&](const Shape& shape) { return Tensor::empty(shape, dtype); };

      Tensor y = empty(c.x), mean = empty({channels}), variance = empty({channels});
      Tensor y_ref = empty(c.x), mean_ref = empty({channels}), variance_ref = empty({channels});
      kernels::batch_norm_training_forward(x, gamma, beta, y, mean, variance, geom);
      kernels::batch_norm_training_forward_reference(x, gamma, beta, y_ref, mean_ref, variance_ref, geom);
      close(y, y_ref, "y");
      close(mean, mean_ref, "mean");
      close(variance, variance_ref, "variance");

      Tensor dx = empty(c.x), dgamma = empty({channels}), dbeta = empty({channels});
      Tensor dx_ref = empty(c.x), dgamma_ref = empty({channels}), dbeta_ref = empty({channels});
      kernels::batch_norm_training_backward(dy, x, gamma, mean_ref, variance_ref, dx, dgamma, dbeta, geom);
      kernels::batch_norm_training_backward_reference(dy, x, gamma, mean_ref, variance_ref, dx_ref, dgamma_ref,
                                                      dbeta_ref, geom);
      close(dx, dx_ref, "dx");
      close(dgamma, dgamma_ref, "dgamma");
      close(dbeta, dbeta_ref, "dbeta");

      Tensor inference = empty(c.x), inference_ref = empty(c.x);
      kernels::batch_norm_forward(x, mean_ref, variance_ref, gamma, beta, inference, geom);
      kernels::batch_norm_forward_reference(x, mean_ref, variance_ref, gamma, beta, inference_ref, geom);
      close(inference, inference_ref, "inference y");

      // 1 thread and 2: the same bits.
      const int before = num_threads();
      set_num_threads(1);
      Tensor y1 = empty(c.x), mean1 = empty({channels}), variance1 = empty({channels}), dx1 = empty(c.x);
      kernels::batch_norm_training_forward(x, gamma, beta, y1, mean1, variance1, geom);
      kernels::batch_norm_training_backward(dy, x, gamma, mean_ref, variance_ref, dx1, Tensor{}, Tensor{}, geom);
      set_num_threads(2);
      Tensor y2 = empty(c.x), mean2 = empty({channels}), variance2 = empty({channels}), dx2 = empty(c.x);
      kernels::batch_norm_training_forward(x, gamma, beta, y2, mean2, variance2, geom);
      kernels::batch_norm_training_backward(dy, x, gamma, mean_ref, variance_ref, dx2, Tensor{}, Tensor{}, geom);
      set_num_threads(before);
      CHECK(y1.to_vector() == y2.to_vector());
      CHECK(variance1.to_vector() == variance2.to_vector());
      CHECK(dx1.to_vector() == dx2.to_vector());
    }
  }
}

TEST_CASE("dropout kernel: the reference's mask and output bits") {
  for (const DType dtype : {DType::float32, DType::float64}) {
    for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{1024}, int64_t{5001}}) {
      for (const double rate : {0.1, 0.5, 0.75}) {
        INFO(dtype_name(dtype), ", ", n, " elements, rate ", rate);
        Generator values(4);
        const Tensor x = random_normal({n}, values, 0.0, 1.0, dtype);
        Generator a(17), b(17);
        Tensor y = Tensor::empty({n}, dtype), mask = Tensor::empty({n}, dtype);
        Tensor y_ref = Tensor::empty({n}, dtype), mask_ref = Tensor::empty({n}, dtype);
        kernels::dropout_forward(x, rate, a, y, mask);
        kernels::dropout_forward_reference(x, rate, b, y_ref, mask_ref);
        CHECK(y.to_vector() == y_ref.to_vector());
        CHECK(mask.to_vector() == mask_ref.to_vector());
        CHECK(a.next_u64() == b.next_u64());  // the same number of words drawn
      }
    }
  }
}

TEST_CASE("pooling kernels: the AVX-512 average writes its row and nothing past it" * doctest::skip()) {
  if (!kernels::gemm_isa_supported(kernels::GemmIsa::avx512)) {
    testing::skip("this CPU has no AVX-512 (avx512f and avx512vl)");
    return;
  }
  constexpr float kUntouched = 7.0f;
  for (const int64_t channels : {1, 3, 5, 6, 8, 16}) {
    for (int64_t out_width = 1; out_width <= 20; ++out_width) {
      INFO(channels, " channels, ", out_width, " windows");
      const int64_t row = out_width * channels;
      // 2x2 windows: rows of 1, 2, 3, ... (pixel p's channel ch is p + ch), so that each window's mean differs.
      std::vector<float> in(static_cast<size_t>(2 * 2 * row + 32), 0.0f);
      for (int64_t p = 0; p < 2 * out_width; ++p)
        for (int64_t ch = 0; ch < channels; ++ch) {
          in[static_cast<size_t>(p * channels + ch)] = static_cast<float>(p + ch);
          in[static_cast<size_t>(2 * row + p * channels + ch)] = static_cast<float>(3 * (p + ch));
        }
      std::vector<float> out(static_cast<size_t>(row + 32), kUntouched);
      kernels::pool_tiles::average_row(in.data(), 2 * row, 2, 2, channels, out_width, out.data());
      for (int64_t ow = 0; ow < out_width; ++ow)
        for (int64_t ch = 0; ch < channels; ++ch) {
          // (a + (a + 1) + 3a + 3(a + 1)) / 4 = 2a + 1, with a = 2 ow + ch
          CHECK(out[static_cast<size_t>(ow * channels + ch)] == static_cast<float>(4 * ow + 2 * ch + 1));
        }
      for (size_t i = static_cast<size_t>(row); i < out.size(); ++i) CHECK(out[i] == kUntouched);
    }
  }
}
