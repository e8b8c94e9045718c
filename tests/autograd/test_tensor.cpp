// Tensor, Shape, the caching allocator and the seeded random numbers.

#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

using namespace tapegrad;

namespace {

double mean_of(const std::vector<double>& values) {
  double total = 0.0;
  for (double v : values) total += v;
  return total / static_cast<double>(values.size());
}

double stddev_of(const std::vector<double>& values) {
  const double m = mean_of(values);
  double total = 0.0;
  for (double v : values) total += (v - m) * (v - m);
  return std::sqrt(total / static_cast<double>(values.size()));
}

}  // namespace

TEST_CASE("Tensor: creation") {
  SUBCASE("from values and a shape, row-major") {
    const Tensor t({1, 2, 3, 4, 5, 6}, {2, 3});
    CHECK(t.defined());
    CHECK(t.shape() == Shape{2, 3});
    CHECK(t.rank() == 2);
    CHECK(t.numel() == 6);
    CHECK(t.dtype() == DType::float32);
    CHECK(t.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
    CHECK(t.at({0, 2}) == 3);
    CHECK(t.at({1, 0}) == 4);
  }
  SUBCASE("from a span of values, in each dtype") {
    const std::vector<double> values{0.1, -2.5, 7};
    const Tensor f32(values, Shape{3});
    const Tensor f64(values, Shape{3}, DType::float64);
    const Tensor i64({4, -5, 6}, {3}, DType::int64);
    CHECK(f32.flat(0) == static_cast<double>(0.1f));
    CHECK(f64.flat(0) == 0.1);  // float64 keeps every bit
    CHECK(f64.dtype() == DType::float64);
    CHECK(i64.dtype() == DType::int64);
    CHECK(i64.to_vector() == std::vector<double>{4, -5, 6});
    CHECK(f32.data<float>().size() == 3);
    CHECK(f64.data<double>()[1] == -2.5);
    CHECK(i64.data<int64_t>()[1] == -5);
  }
  SUBCASE("zeros, ones, full and the _like forms") {
    const Tensor z = zeros({2, 3});
    const Tensor o = ones({4}, DType::float64);
    const Tensor f = full({2, 2}, 7.5);
    CHECK(z.shape() == Shape{2, 3});
    CHECK(z.to_vector() == std::vector<double>(6, 0.0));
    CHECK(o.dtype() == DType::float64);
    CHECK(o.to_vector() == std::vector<double>(4, 1.0));
    CHECK(f.to_vector() == std::vector<double>(4, 7.5));
    const Tensor zl = zeros_like(o);
    const Tensor ol = ones_like(z);
    CHECK(zl.shape() == Shape{4});
    CHECK(zl.dtype() == DType::float64);
    CHECK(zl.to_vector() == std::vector<double>(4, 0.0));
    CHECK(ol.shape() == Shape{2, 3});
    CHECK(ol.to_vector() == std::vector<double>(6, 1.0));
  }
  SUBCASE("arange") {
    CHECK(arange(5).to_vector() == std::vector<double>{0, 1, 2, 3, 4});
    CHECK(arange(5).shape() == Shape{5});
    CHECK(arange(1, 10).to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(arange(1, 2, 0.25).to_vector() == std::vector<double>{1, 1.25, 1.5, 1.75});
    CHECK(arange(5, 0, -2).to_vector() == std::vector<double>{5, 3, 1});
    CHECK(arange(3, 3).numel() == 0);
    CHECK(arange(4, DType::int64).dtype() == DType::int64);
    CHECK(arange(4, DType::int64).to_vector() == std::vector<double>{0, 1, 2, 3});
  }
  SUBCASE("a 0-d scalar") {
    const Tensor s = Tensor::scalar(3.5);
    CHECK(s.rank() == 0);
    CHECK(s.numel() == 1);
    CHECK(s.shape() == Shape{});
    CHECK(s.item() == 3.5);
    CHECK(s.at({}) == 3.5);
    CHECK(Tensor::scalar(-2, DType::float64).dtype() == DType::float64);
  }
  SUBCASE("an empty tensor") {
    const Tensor e = zeros({2, 0});
    CHECK(e.numel() == 0);
    CHECK(e.rank() == 2);
    CHECK(e.to_vector().empty());
  }
  SUBCASE("copies share one immutable value; every tensor has its own id") {
    const Tensor a({1, 2}, {2});
    const Tensor b = a;  // NOLINT(performance-unnecessary-copy-initialization): the copy is the point
    CHECK(b.id() == a.id());
    CHECK(b.raw_data() == a.raw_data());
    const Tensor c({1, 2}, {2});
    CHECK(c.id() != a.id());
    const Tensor undefined;
    CHECK_FALSE(undefined.defined());
  }
}

TEST_CASE("Tensor: element access") {
  const Tensor t({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}, {2, 3, 4});
  SUBCASE("at reads a multi-index") {
    CHECK(t.at({0, 0, 0}) == 1);
    CHECK(t.at({0, 1, 2}) == 7);
    CHECK(t.at({1, 2, 3}) == 24);
    CHECK(t.at({1, 0, 1}) == 14);
  }
  SUBCASE("flat reads a row-major position") {
    CHECK(t.flat(0) == 1);
    CHECK(t.flat(13) == 14);
    CHECK(t.flat(23) == 24);
  }
  SUBCASE("item reads a one-element tensor of any rank") {
    CHECK(Tensor({4.25}, {1, 1, 1}).item() == 4.25);
    CHECK(Tensor::scalar(-1.5, DType::float64).item() == -1.5);
    CHECK_THROWS_WITH_AS(t.item(), doctest::Contains("2x3x4"), Error);
    CHECK_THROWS_AS(zeros({0}).item(), Error);
  }
  SUBCASE("to_vector is row-major") {
    const std::vector<double> values = t.to_vector();
    REQUIRE(values.size() == 24);
    for (size_t i = 0; i < values.size(); ++i) CHECK(values[i] == static_cast<double>(i + 1));
  }
  SUBCASE("out-of-range reads throw") {
    CHECK_THROWS_AS(t.at({2, 0, 0}), Error);
    CHECK_THROWS_AS(t.at({0, -1, 0}), Error);
    CHECK_THROWS_AS(t.at({0, 0}), Error);
    CHECK_THROWS_AS(t.flat(24), Error);
    CHECK_THROWS_AS(t.flat(-1), Error);
    CHECK_THROWS_AS((void)t.data<double>(), Error);
  }
}

TEST_CASE("Tensor::with builds the book's image") {
  const Tensor base = ones({6, 8});
  const Tensor X = base.with({all, {2, 6}}, 0);
  REQUIRE(X.shape() == Shape{6, 8});
  for (int64_t r = 0; r < 6; ++r) {
    for (int64_t c = 0; c < 8; ++c) {
      INFO("row ", r, " column ", c);
      CHECK(X.at({r, c}) == (c >= 2 && c < 6 ? 0.0 : 1.0));
    }
  }
  CHECK(base.to_vector() == std::vector<double>(48, 1.0));  // the original never changes
  CHECK(X.id() != base.id());

  SUBCASE("a box on several axes, clamped to the tensor") {
    const Tensor Z = zeros({3, 4}, DType::float64).with({{1, 99}, {-5, 2}}, 2.5);
    CHECK(Z.dtype() == DType::float64);
    CHECK(Z.to_vector() == std::vector<double>{0, 0, 0, 0, 2.5, 2.5, 0, 0, 2.5, 2.5, 0, 0});
  }
  SUBCASE("one range per axis") { CHECK_THROWS_AS(base.with({all}, 0), Error); }
}

TEST_CASE("Tensor::to converts the dtype") {
  const Tensor f64({0.1, 2.7, -2.7}, {3}, DType::float64);
  const Tensor f32 = f64.to(DType::float32);
  CHECK(f32.dtype() == DType::float32);
  CHECK(f32.shape() == Shape{3});
  CHECK(f32.flat(0) == static_cast<double>(0.1f));
  CHECK(f32.flat(0) != 0.1);
  const Tensor i64 = f64.to(DType::int64);
  CHECK(i64.dtype() == DType::int64);
  CHECK(i64.to_vector() == std::vector<double>{0, 2, -2});  // truncates, as a C++ cast
  const Tensor back = i64.to(DType::float64);
  CHECK(back.to_vector() == std::vector<double>{0, 2, -2});
  const Tensor same = f64.to(DType::float64);
  CHECK(same.id() != f64.id());
  CHECK(same.to_vector() == f64.to_vector());
}

TEST_CASE("Tensor handles: counts through copies, copy_of_own and the last release") {
  Tensor a({1, 2, 3}, {3});
  CHECK(a.unique());
  Tensor b = a.copy_of_own();  // the only handle: raised without a lock
  CHECK(b.id() == a.id());
  CHECK_FALSE(a.unique());
  Tensor c = b.copy_of_own();  // shared: an ordinary copy
  a = Tensor{};
  b = Tensor{};
  CHECK(c.unique());  // every count was kept: two released, one left
  CHECK(c.to_vector() == std::vector<double>{1, 2, 3});
  const AllocatorStats before = allocator_stats();
  c = Tensor{};  // the last handle frees the block
  CHECK(allocator_stats().in_use < before.in_use);
  CHECK_FALSE(Tensor{}.copy_of_own().defined());
}

TEST_CASE("Tensor: values never change once shared") {
  Tensor a = Tensor::empty({2}, DType::float32);
  float* out = a.mutable_data<float>();  // the only handle: a kernel fills it
  out[0] = 1;
  out[1] = 2;
  const Tensor b = a;  // shared from here on
  CHECK_THROWS_WITH_AS(a.mutable_data<float>(), doctest::Contains("Tensor::mutable_data: the 2 tensor is shared"),
                       Error);
  CHECK_THROWS_WITH_AS(b.mutable_raw_data(), doctest::Contains("write into a new tensor"), Error);
  CHECK(b.to_vector() == std::vector<double>{1, 2});
}

TEST_CASE("Tensor: printing") {
  SUBCASE("fmt prints nested lists") {
    const Tensor t({19, 25, 37, 43}, {2, 2});
    CHECK(fmt::format("{}", t) == "[[19, 25], [37, 43]]");
    CHECK(fmt::format("{}", corr2d(Tensor({0, 1, 2, 3, 4, 5, 6, 7, 8}, {3, 3}), Tensor({0, 1, 2, 3}, {2, 2}))) ==
          "[[19, 25], [37, 43]]");
    CHECK(fmt::format("{}", Tensor({1.5, -2, 0.25}, {3}, DType::float64)) == "[1.5, -2, 0.25]");
    CHECK(fmt::format("{}", arange(8).reshaped({2, 2, 2})) == "[[[0, 1], [2, 3]], [[4, 5], [6, 7]]]");
    CHECK(fmt::format("{}", Tensor({3, -4}, {2}, DType::int64)) == "[3, -4]");
  }
  SUBCASE("float32 prints its shortest form, not float noise") {
    CHECK(fmt::format("{}", Tensor({0.1}, {1})) == "[0.1]");
  }
  SUBCASE("operator<< prints the same") {
    std::ostringstream out;
    out << Tensor({19, 25, 37, 43}, {2, 2});
    CHECK(out.str() == "[[19, 25], [37, 43]]");
  }
  SUBCASE("0-d, empty and undefined tensors") {
    CHECK(fmt::format("{}", Tensor::scalar(3.5)) == "3.5");
    CHECK(fmt::format("{}", zeros({0})) == "[]");
    CHECK(fmt::format("{}", zeros({2, 0})) == "[[], []]");
    CHECK(fmt::format("{}", Tensor{}) == "(undefined)");
  }
  SUBCASE("large tensors are abbreviated with ...") {
    const std::string line = fmt::format("{}", arange(2000));
    CHECK(line == "[0, 1, 2, ..., 1997, 1998, 1999]");
    const std::string matrix = fmt::format("{}", zeros({100, 100}));
    CHECK(matrix.find("...") != std::string::npos);
    CHECK(matrix.size() < 200);
    const std::string small = fmt::format("{}", arange(1000));
    CHECK(small.find("...") == std::string::npos);
    CHECK(small.size() > 3000);
  }
}

TEST_CASE("random numbers: seeded, the same everywhere") {
  SUBCASE("Generator(42) gives these numbers on every machine") {
    Generator g(42);
    CHECK(g.uniform() == 0.083862971059882163);
    CHECK(g.uniform() == 0.37898025066266861);
    CHECK(g.uniform() == 0.68004341102813937);
    Generator h(42);
    // Box-Muller goes through log and cos, which may differ in the last bit between libm's.
    CHECK(h.normal() == doctest::Approx(-0.30326306467873798).epsilon(1e-12));
  }
  SUBCASE("the same seed gives the same numbers") {
    Generator a(123), b(123);
    CHECK(random_normal({50}, a).to_vector() == random_normal({50}, b).to_vector());
    CHECK(random_uniform({3, 4}, a, -1, 1, DType::float64).to_vector() ==
          random_uniform({3, 4}, b, -1, 1, DType::float64).to_vector());
  }
  SUBCASE("different seeds give different numbers") {
    Generator a(1), b(2);
    CHECK(random_normal({50}, a).to_vector() != random_normal({50}, b).to_vector());
    Generator c(1);
    Generator d(1);
    (void)d.next_u64();
    CHECK(c.next_u64() != d.next_u64());
  }
  SUBCASE("float32 tensors hold the float64 draws, rounded") {
    Generator a(42);
    const Tensor t = random_uniform({3}, a);
    CHECK(t.flat(0) == static_cast<double>(static_cast<float>(0.083862971059882163)));
    CHECK(t.flat(2) == static_cast<double>(static_cast<float>(0.68004341102813937)));
  }
  SUBCASE("normal: mean and stddev over 10000 samples") {
    Generator g(2024);
    const std::vector<double> standard = random_normal({10000}, g, 0, 1, DType::float64).to_vector();
    CHECK(std::abs(mean_of(standard)) < 0.05);
    CHECK(stddev_of(standard) == doctest::Approx(1.0).epsilon(0.05));
    const std::vector<double> shifted = random_normal({10000}, g, 3.0, 2.0, DType::float64).to_vector();
    CHECK(mean_of(shifted) == doctest::Approx(3.0).epsilon(0.05));
    CHECK(stddev_of(shifted) == doctest::Approx(2.0).epsilon(0.05));
  }
  SUBCASE("uniform: range, mean and stddev over 10000 samples") {
    Generator g(77);
    const std::vector<double> u = random_uniform({10000}, g, -2.0, 4.0, DType::float64).to_vector();
    for (double v : u) {
      if (v < -2.0 || v >= 4.0) FAIL("uniform sample ", v, " outside [-2, 4)");
    }
    CHECK(mean_of(u) == doctest::Approx(1.0).epsilon(0.05));
    CHECK(stddev_of(u) == doctest::Approx(6.0 / std::sqrt(12.0)).epsilon(0.03));
  }
  SUBCASE("below stays below its bound and reaches every value") {
    Generator g(5);
    std::vector<int> seen(7, 0);
    for (int i = 0; i < 700; ++i) {
      const uint64_t v = g.below(7);
      REQUIRE(v < 7);
      ++seen[v];
    }
    for (int count : seen) CHECK(count > 50);
  }
}

TEST_CASE("Shape") {
  SUBCASE("str") {
    CHECK(Shape{6, 8}.str() == "6x8");
    CHECK(Shape{1, 6, 8, 1}.str() == "1x6x8x1");
    CHECK(Shape{}.str() == "scalar");
    CHECK(Shape{0}.str() == "0");
    CHECK(fmt::format("{}", Shape{2, 3}) == "2x3");
  }
  SUBCASE("sizes, negative axes and strides") {
    const Shape s{2, 3, 4};
    CHECK(s.rank() == 3);
    CHECK(s.numel() == 24);
    CHECK(Shape{}.numel() == 1);
    CHECK(Shape{5, 0}.numel() == 0);
    CHECK(s[0] == 2);
    CHECK(s[-1] == 4);
    CHECK(s[-3] == 2);
    CHECK_THROWS_AS((void)s[3], Error);
    CHECK_THROWS_AS((void)s[-4], Error);
    const auto strides = s.strides();
    CHECK(strides[0] == 12);
    CHECK(strides[1] == 4);
    CHECK(strides[2] == 1);
    CHECK(s.with(1, 7) == Shape{2, 7, 4});
    CHECK(s.with(-1, 1) == Shape{2, 3, 1});
    Shape grown = s;
    grown.push_back(5);
    CHECK(grown == Shape{2, 3, 4, 5});
    CHECK_FALSE(Shape{2, 3} == Shape{3, 2});
    CHECK_FALSE(Shape{2, 3} == Shape{2, 3, 1});
  }
  SUBCASE("broadcast_shapes follows NumPy") {
    CHECK(broadcast_shapes({3, 1}, {1, 4}, "test") == Shape{3, 4});
    CHECK(broadcast_shapes({5, 1, 4}, {3, 1}, "test") == Shape{5, 3, 4});
    CHECK(broadcast_shapes({}, {2, 3}, "test") == Shape{2, 3});
    CHECK(broadcast_shapes({2, 3}, {2, 3}, "test") == Shape{2, 3});
    CHECK(broadcast_shapes({4}, {2, 1}, "test") == Shape{2, 4});
    CHECK(broadcast_shapes({0, 1}, {1, 3}, "test") == Shape{0, 3});
    CHECK_THROWS_WITH_AS(broadcast_shapes({2, 3}, {3, 2}, "myop"),
                         "myop: shapes 2x3 and 3x2 do not broadcast (expected equal sizes or 1 on each axis)", Error);
    CHECK_THROWS_AS(broadcast_shapes({4}, {3}, "test"), Error);
  }
  SUBCASE("limits") {
    CHECK_THROWS_WITH_AS(Shape({2, -1}), doctest::Contains("-1"), Error);
    CHECK_THROWS_AS(Shape({1, 1, 1, 1, 1, 1, 1, 1, 1}), Error);
    Shape full_rank{1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_THROWS_AS(full_rank.push_back(1), Error);
    CHECK_THROWS_WITH_AS(full_rank.push_back(-3), doctest::Contains("rank 9"), Error);
    Shape grown{2};
    CHECK_THROWS_WITH_AS(grown.push_back(-3), "Shape: dimension -3 is negative", Error);
    CHECK_THROWS_WITH_AS((void)Shape({2, 3}).with(0, -1), "Shape::with: dimension -1 is negative", Error);
  }
  SUBCASE("element counts never pass int64") {
    constexpr int64_t kBig = int64_t{1} << 32;
    CHECK_THROWS_AS(Shape({kBig, kBig / 2}), Error);  // 2^63 is one past int64's largest
    CHECK_THROWS_WITH_AS(Shape({kBig, kBig}), "Shape: 4294967296x4294967296 has more elements than an int64 counts",
                         Error);
    CHECK_THROWS_WITH_AS((void)Shape({kBig, 1}).with(1, kBig), doctest::Contains("more elements than an int64 counts"),
                         Error);
    Shape grown{kBig, kBig / 4};
    CHECK(grown.numel() == int64_t{1} << 62);
    CHECK_THROWS_WITH_AS(grown.push_back(2), doctest::Contains("4294967296x1073741824x2 has more elements"), Error);
    CHECK(grown.numel() == int64_t{1} << 62);  // unchanged by the failed push_back
    CHECK_THROWS_WITH_AS(zeros({int64_t{1} << 62}, DType::float64),
                         "Tensor: 4611686018427387904 float64 has more bytes than memory addresses", Error);
    CHECK(Shape{2, 3}.with(0, 5).numel() == 15);
    Shape pushed{2, 3};
    pushed.push_back(4);
    CHECK(pushed.numel() == 24);
  }
}

TEST_CASE("Allocator: freed blocks are reused") {
  SUBCASE("a tensor made, freed and made again takes no fresh memory the second time") {
    release_cached_memory();
    const AllocatorStats before = allocator_stats();
    { const Tensor t = zeros({257, 129}); }
    const AllocatorStats first = allocator_stats();
    CHECK(first.fresh >= before.fresh + 257 * 129 * 4);
    CHECK(first.in_use == before.in_use);
    CHECK(first.cached >= 257 * 129 * 4);
    { const Tensor t = zeros({257, 129}); }
    const AllocatorStats second = allocator_stats();
    CHECK(second.fresh == first.fresh);
    CHECK(second.in_use == before.in_use);
    release_cached_memory();
    CHECK(allocator_stats().cached < second.cached);
  }
  SUBCASE("blocks: 64-byte aligned, at most a quarter bigger than asked, reused by size") {
    for (size_t bytes :
         {size_t{1}, size_t{64}, size_t{65}, size_t{1000}, size_t{1025}, size_t{5000}, size_t{1} << 20}) {
      INFO("bytes ", bytes);
      release_cached_memory();  // a fresh block: no larger cached one taken
      size_t block_bytes = 0;
      void* block = allocate(bytes, &block_bytes);
      CHECK(reinterpret_cast<uintptr_t>(block) % 64 == 0);
      CHECK(block_bytes >= bytes);
      CHECK(block_bytes <= bytes + bytes / 4 + 64);
      deallocate(block, block_bytes);
      size_t again_bytes = 0;
      void* again = allocate(bytes, &again_bytes);
      CHECK(again == block);
      CHECK(again_bytes == block_bytes);
      deallocate(again, again_bytes);
    }
  }
  SUBCASE("a request takes the smallest cached block of the next four classes (up to twice its class) when its own has "
          "none") {
    release_cached_memory();
    const size_t big = size_t{1} << 20;
    size_t big_bytes = 0, bigger_bytes = 0;
    void* big_block = allocate(big, &big_bytes);
    void* bigger_block = allocate(big + big / 2, &bigger_bytes);
    deallocate(bigger_block, bigger_bytes);
    deallocate(big_block, big_bytes);
    const AllocatorStats cached = allocator_stats();
    // Three quarters of the smaller block: its class is empty, the smallest larger block serves it.
    size_t bytes = 0;
    void* block = allocate(big * 3 / 4, &bytes);
    CHECK(block == big_block);
    CHECK(bytes == big_bytes);
    CHECK(allocator_stats().fresh == cached.fresh);
    CHECK(allocator_stats().cached == cached.cached - big_bytes);
    // A request whose class is less than half of the 1.5 MiB block's: fresh memory, not that block.
    size_t small_bytes = 0;
    void* small = allocate(big / 2 + big / 8, &small_bytes);
    CHECK(small != bigger_block);
    CHECK(small_bytes < big);
    CHECK(allocator_stats().fresh > cached.fresh);
    deallocate(small, small_bytes);
    deallocate(block, bytes);
    // Each block went back to its own class: the same request takes the 1 MiB block again.
    void* again = allocate(big * 3 / 4, &bytes);
    CHECK(again == big_block);
    deallocate(again, bytes);
    release_cached_memory();
  }
  SUBCASE("tensor elements are 64-byte aligned") {
    const Tensor t = ones({3, 5});
    CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
  }
}

TEST_CASE("Tensor: from std::vector and braced lists with a dtype") {
  SUBCASE("std::vector<int64_t>: int64, every value exact") {
    const std::vector<int64_t> labels{3, 1, (int64_t{1} << 62) + 1};
    const Tensor t(labels);
    CHECK(t.dtype() == DType::int64);
    CHECK(t.shape() == Shape{3});
    CHECK(t.data<int64_t>()[2] == (int64_t{1} << 62) + 1);  // no trip through double
    const Tensor m(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
    CHECK(m.shape() == Shape{2, 3});
    CHECK(m.dtype() == DType::int64);
    CHECK(Tensor(labels, DType::float64).dtype() == DType::float64);
  }
  SUBCASE("std::vector<float>: float32 unless told otherwise") {
    const std::vector<float> values{0.5f, -1.25f, 2.0f, 4.0f};
    const Tensor t(values, {2, 2});
    CHECK(t.dtype() == DType::float32);
    CHECK(t.to_vector() == std::vector<double>{0.5, -1.25, 2, 4});
    CHECK(Tensor(values).shape() == Shape{4});
    CHECK(Tensor(values, DType::float64).dtype() == DType::float64);
  }
  SUBCASE("std::vector<double>: 1-d without a shape") {
    const std::vector<double> values{1.5, 2.5};
    CHECK(Tensor(values).shape() == Shape{2});
    CHECK(Tensor(values).dtype() == DType::float32);
    CHECK(Tensor(values, DType::float64).to_vector() == values);
  }
  SUBCASE("a braced list with a dtype is 1-d") {
    const Tensor labels({2, 0, 1}, DType::int64);
    CHECK(labels.dtype() == DType::int64);
    CHECK(labels.shape() == Shape{3});
    CHECK(labels.data<int64_t>()[0] == 2);
    CHECK(Tensor({1, 2}, DType::float64).dtype() == DType::float64);
  }
  SUBCASE("a count that does not fill the shape names the constructor") {
    CHECK_THROWS_WITH_AS(Tensor(std::vector<int64_t>{1, 2, 3}, {2, 2}),
                         "Tensor: 3 values given for shape 2x2, which holds 4", Error);
    CHECK_THROWS_WITH_AS(Tensor(std::vector<float>{1, 2, 3, 4, 5}, {2, 2}),
                         "Tensor: 5 values given for shape 2x2, which holds 4", Error);
    CHECK_THROWS_WITH_AS(Tensor(std::vector<float>{std::nanf("")}, DType::int64), "Tensor: nan has no int64 value",
                         Error);
  }
}

TEST_CASE("printing: fmt formats Tensor, Variable, Shape and DType") {
  const Variable w(Tensor({1, 2, 3, 4}, {2, 2}), "dense/kernel");
  CHECK(fmt::format("{}", w) == "<Variable 'dense/kernel' shape=2x2 dtype=float32, value=[[1, 2], [3, 4]]>");
  CHECK(fmt::format("{}", Variable()) == "<Variable (empty)>");
  std::ostringstream out;
  out << w;
  CHECK(out.str() == fmt::format("{}", w));
  CHECK(fmt::format("{}", Shape{2, 3}) == "2x3");
  CHECK(fmt::format("{}", DType::int64) == "int64");
  CHECK(fmt::format("{:>8}", DType::float32) == " float32");
  CHECK(fmt::format("{}", Tensor({1, 2}, DType::int64)) == "[1, 2]");
}
