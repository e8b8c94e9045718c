// The fast matrix multiply against its reference loops: odd sizes, every transpose, accumulate, leading
// dimensions wider than the matrices, float and double, every instruction set this CPU has, 1 or 2
// threads.

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/threads.hpp>
#include "autograd/kernels/gemm.hpp"
#include "tests/skip.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace tapegrad;
using kernels::GemmIsa;

namespace {

struct Case {
  int64_t m, n, k;
};

// Small and odd, one of each tile edge, skinny (im2col-like), several depth, row and column blocks.
constexpr Case kCases[] = {
    {1, 1, 1},     {7, 13, 5},     {33, 65, 17},   {100, 3, 250}, {2, 300, 7},   {1, 40, 3},    {45, 1, 60},
    {3000, 6, 25}, {500, 16, 150}, {300, 32, 144}, {29, 17, 33},  {15, 33, 400}, {70, 45, 800}, {1100, 40, 9},
    {20, 700, 30}, {64, 64, 64},   {9, 8, 1000},   {25, 6, 500},  {3, 2, 300},   {40, 6, 129},
};

// Restores the default instruction set and thread count when a test ends, passed or not.
struct Restore {
  ~Restore() {
    kernels::force_gemm_isa(GemmIsa::automatic);
    set_num_threads(std::max(1, default_threads));
  }
  int default_threads = num_threads();
};

std::vector<GemmIsa> supported_isas() {
  std::vector<GemmIsa> isas;
  for (GemmIsa isa : {GemmIsa::portable, GemmIsa::avx2, GemmIsa::avx512}) {
    if (kernels::gemm_isa_supported(isa)) isas.push_back(isa);
  }
  return isas;
}

template <typename T>
std::vector<T> random_values(size_t count, uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<T> values(count);
  for (T& v : values) v = static_cast<T>(uniform(generator));
  return values;
}

// The operands of one product, stored as gemm reads them, with `pad` unused columns in every row.
// Unused entries hold NaN: reading one would poison the result.
template <typename T>
struct Problem {
  bool transpose_a, transpose_b, accumulate;
  int64_t m, n, k, lda, ldb, ldc;
  std::vector<T> a, b, c;

  Problem(bool ta, bool tb, bool acc, Case size, int64_t pad, uint32_t seed)
      : transpose_a(ta), transpose_b(tb), accumulate(acc), m(size.m), n(size.n), k(size.k) {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    lda = a_cols + pad;
    ldb = b_cols + pad;
    ldc = n + pad;
    a = with_padding(random_values<T>(static_cast<size_t>(a_rows * lda), seed), a_cols, lda, nan);
    b = with_padding(random_values<T>(static_cast<size_t>(b_rows * ldb), seed + 1), b_cols, ldb, nan);
    // Without accumulate C is never read: NaN there must not leak into the result.
    c = acc ? random_values<T>(static_cast<size_t>(m * ldc), seed + 2)
            : std::vector<T>(static_cast<size_t>(m * ldc), nan);
    c = with_padding(c, n, ldc, T(-7));
  }

  static std::vector<T> with_padding(std::vector<T> values, int64_t width, int64_t ld, T fill) {
    for (size_t i = 0; i < values.size(); ++i) {
      if (static_cast<int64_t>(i) % ld >= width) values[i] = fill;
    }
    return values;
  }

  std::vector<T> run(bool reference) const {
    std::vector<T> out = c;
    if (reference) {
      kernels::gemm_reference(transpose_a, transpose_b, m, n, k, a.data(), lda, b.data(), ldb, out.data(), ldc,
                              accumulate);
    } else {
      kernels::gemm(transpose_a, transpose_b, m, n, k, a.data(), lda, b.data(), ldb, out.data(), ldc, accumulate);
    }
    return out;
  }

  // sum_p |a(i,p) b(p,j)| + |c(i,j)|: the scale of the rounding error of element (i, j).
  double magnitude(int64_t i, int64_t j) const {
    double total = accumulate ? std::abs(static_cast<double>(c[static_cast<size_t>(i * ldc + j)])) : 0.0;
    for (int64_t p = 0; p < k; ++p) {
      const T a_ip = transpose_a ? a[static_cast<size_t>(p * lda + i)] : a[static_cast<size_t>(i * lda + p)];
      const T b_pj = transpose_b ? b[static_cast<size_t>(j * ldb + p)] : b[static_cast<size_t>(p * ldb + j)];
      total += std::abs(static_cast<double>(a_ip) * static_cast<double>(b_pj));
    }
    return total;
  }

  std::string describe() const {
    return fmt::format("{}x{}x{} transpose_a={} transpose_b={} accumulate={} lda={} ldb={} ldc={} isa={}", m, n, k,
                       transpose_a, transpose_b, accumulate, lda, ldb, ldc,
                       kernels::gemm_isa_name(kernels::gemm_isa()));
  }
};

// gemm against gemm_reference: every element within a few roundings per term of the sum (the fast path
// fuses multiply and add, the reference does not), C's padding untouched.
template <typename T>
void check_against_reference(const Problem<T>& problem) {
  const std::vector<T> fast = problem.run(false), reference = problem.run(true);
  const double eps = std::numeric_limits<T>::epsilon();
  int64_t bad = 0;
  for (int64_t i = 0; i < problem.m; ++i) {
    for (int64_t j = 0; j < problem.ldc; ++j) {
      const size_t at = static_cast<size_t>(i * problem.ldc + j);
      if (j >= problem.n) {
        bad += fast[at] != T(-7);
        continue;
      }
      const double tolerance = 2.0 * static_cast<double>(problem.k + 2) * eps * problem.magnitude(i, j);
      const double error = std::abs(static_cast<double>(fast[at]) - static_cast<double>(reference[at]));
      bad += !(error <= tolerance);
    }
  }
  INFO(problem.describe());
  CHECK(bad == 0);
}

template <typename T>
void check_all_cases() {
  uint32_t seed = 1;
  for (const Case& size : kCases) {
    for (int transposes = 0; transposes < 4; ++transposes) {
      for (bool accumulate : {false, true}) {
        const int64_t pad = (seed % 3 == 0) ? 0 : 3;
        check_against_reference(Problem<T>(transposes & 1, transposes & 2, accumulate, size, pad, seed++));
      }
    }
  }
}

template <typename T>
bool identical(const std::vector<T>& x, const std::vector<T>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(T)) == 0;
}

}  // namespace

TEST_CASE("gemm: equals the reference loops on every instruction set") {
  Restore restore;
  for (GemmIsa isa : supported_isas()) {
    kernels::force_gemm_isa(isa);
    CHECK(kernels::gemm_isa() == isa);
    check_all_cases<float>();
    check_all_cases<double>();
  }
}

TEST_CASE("gemm: k = 0 gives zeros, or leaves C alone with accumulate") {
  Restore restore;
  for (GemmIsa isa : supported_isas()) {
    kernels::force_gemm_isa(isa);
    std::vector<float> c(12, 5.0f);
    kernels::gemm<float>(false, false, 3, 4, 0, nullptr, 0, nullptr, 4, c.data(), 4, true);
    CHECK(c == std::vector<float>(12, 5.0f));
    kernels::gemm<float>(false, false, 3, 4, 0, nullptr, 0, nullptr, 4, c.data(), 4, false);
    CHECK(c == std::vector<float>(12, 0.0f));
    kernels::gemm<double>(true, true, 0, 0, 5, nullptr, 0, nullptr, 5, nullptr, 0, false);
  }
}

TEST_CASE("gemm: exact small products") {
  Restore restore;
  for (GemmIsa isa : supported_isas()) {
    kernels::force_gemm_isa(isa);
    // [1 2 3; 4 5 6] [7 8; 9 10; 11 12] = [58 64; 139 154]
    const std::vector<double> a{1, 2, 3, 4, 5, 6}, b{7, 8, 9, 10, 11, 12};
    std::vector<double> c(4);
    kernels::gemm(false, false, 2, 2, 3, a.data(), 3, b.data(), 2, c.data(), 2, false);
    CHECK(c == std::vector<double>{58, 64, 139, 154});
    kernels::gemm(false, false, 2, 2, 3, a.data(), 3, b.data(), 2, c.data(), 2, true);
    CHECK(c == std::vector<double>{116, 128, 278, 308});
    // A stored 3x2, B stored 2x3: A^T B^T = [1 3 5; 2 4 6] [7 10; 8 11; 9 12] = [76 103; 100 136]
    const std::vector<float> at{1, 2, 3, 4, 5, 6}, bt{7, 8, 9, 10, 11, 12};
    std::vector<float> ct(4);
    kernels::gemm(true, true, 2, 2, 3, at.data(), 2, bt.data(), 3, ct.data(), 2, false);
    CHECK(ct == std::vector<float>{76, 103, 100, 136});
  }
}

TEST_CASE("gemm: bit-identical results with 1 and 2 threads") {
  Restore restore;
  // Big enough to run on several threads: split over rows (tall), over columns (wide), packed and narrow.
  const Case cases[] = {{120, 130, 150}, {20000, 6, 25}, {3000, 16, 60}, {10, 1500, 150}, {40, 6, 10000}};
  for (GemmIsa isa : supported_isas()) {
    kernels::force_gemm_isa(isa);
    uint32_t seed = 100;
    for (const Case& size : cases) {
      for (int transposes = 0; transposes < 4; ++transposes) {
        const Problem<float> f(transposes & 1, transposes & 2, transposes == 1, size, 1, seed++);
        const Problem<double> d(transposes & 1, transposes & 2, transposes == 2, size, 0, seed++);
        set_num_threads(1);
        const std::vector<float> f1 = f.run(false);
        const std::vector<double> d1 = d.run(false);
        set_num_threads(2);
        const std::vector<float> f2 = f.run(false);
        const std::vector<double> d2 = d.run(false);
        INFO(f.describe());
        CHECK(identical(f1, f2));
        CHECK(identical(d1, d2));
      }
    }
  }
}

// doctest::skip(): run by a meson test of its own (tests/autograd/meson.build), which reports SKIP on a
// CPU without AVX-512 instead of passing in silence.
TEST_CASE("gemm: the AVX2 and AVX-512 paths give bit-identical results" * doctest::skip()) {
  // Both compute every element as the same chain of fmas, whatever their tile shapes.
  if (!kernels::gemm_isa_supported(GemmIsa::avx512)) {
    testing::skip("this CPU has no AVX-512 (avx512f and avx512vl)");
    return;
  }
  Restore restore;
  uint32_t seed = 200;
  for (const Case& size : kCases) {
    for (int transposes = 0; transposes < 4; ++transposes) {
      const Problem<float> f(transposes & 1, transposes & 2, transposes == 3, size, 2, seed++);
      const Problem<double> d(transposes & 1, transposes & 2, transposes == 0, size, 0, seed++);
      kernels::force_gemm_isa(GemmIsa::avx2);
      const std::vector<float> f2 = f.run(false);
      const std::vector<double> d2 = d.run(false);
      kernels::force_gemm_isa(GemmIsa::avx512);
      INFO(f.describe());
      CHECK(identical(f2, f.run(false)));
      CHECK(identical(d2, d.run(false)));
    }
  }
}

TEST_CASE("gemm: bad arguments") {
  std::vector<float> a(6), b(6), c(4);
  CHECK_THROWS_AS(kernels::gemm<float>(false, false, -1, 2, 3, a.data(), 3, b.data(), 2, c.data(), 2, false), Error);
  CHECK_THROWS_WITH_AS(kernels::gemm<float>(false, false, 2, 2, 3, a.data(), 2, b.data(), 2, c.data(), 2, false),
                       "gemm: lda 2 is less than the 3 columns of A as stored (2x3, transpose_a=false)", Error);
  CHECK_THROWS_AS(kernels::gemm<float>(false, true, 2, 2, 3, a.data(), 3, b.data(), 2, c.data(), 2, false), Error);
  CHECK_THROWS_AS(kernels::gemm<float>(false, false, 2, 2, 3, a.data(), 3, b.data(), 2, c.data(), 1, false), Error);
}

TEST_CASE("set_num_threads") {
  Restore restore;
  CHECK(num_threads() >= 1);
  CHECK_THROWS_WITH_AS(set_num_threads(0), "set_num_threads: 0 threads; expected 1 to 1024 (kMaxThreads)", Error);
  CHECK_THROWS_AS(set_num_threads(kMaxThreads + 1), Error);
  CHECK_THROWS_AS(set_num_threads(-3), Error);
  set_num_threads(3);
  CHECK(num_threads() == 3);
}

namespace {

// The widest instruction set this CPU runs.
GemmIsa widest_isa() {
  if (kernels::gemm_isa_supported(GemmIsa::avx512)) return GemmIsa::avx512;
  return kernels::gemm_isa_supported(GemmIsa::avx2) ? GemmIsa::avx2 : GemmIsa::portable;
}

}  // namespace

TEST_CASE("kernels: TAPEGRAD_ISA picks the instruction set, and a bad value is an error naming it") {
  // The meson tests run this executable with TAPEGRAD_ISA unset, avx2, portable and avx1024.
  const char* variable = std::getenv("TAPEGRAD_ISA");
  const std::string value = variable == nullptr ? "" : variable;
  INFO("TAPEGRAD_ISA=", value);
  if (value.empty() || value == "automatic") {
    CHECK(kernels::gemm_isa() == widest_isa());
  } else if ((value == "avx512" && kernels::gemm_isa_supported(GemmIsa::avx512)) ||
             (value == "avx2" && kernels::gemm_isa_supported(GemmIsa::avx2)) || value == "portable") {
    CHECK(std::string(kernels::gemm_isa_name(kernels::gemm_isa())) == value);
    Restore restore;
    kernels::force_gemm_isa(GemmIsa::portable);
    CHECK(kernels::gemm_isa() == GemmIsa::portable);
    kernels::force_gemm_isa(GemmIsa::automatic);  // back to the variable's choice, not the widest
    CHECK(std::string(kernels::gemm_isa_name(kernels::gemm_isa())) == value);
  } else {
    CHECK_THROWS_WITH_AS(kernels::gemm_isa(), doctest::Contains("TAPEGRAD_ISA"), Error);
    CHECK_THROWS_WITH_AS(kernels::gemm_isa(), doctest::Contains(value.c_str()), Error);
  }
}

TEST_CASE("kernels: the values TAPEGRAD_ISA takes") {
  CHECK(kernels::isa_from_variable("avx2") == GemmIsa::avx2);
  CHECK(kernels::isa_from_variable("portable") == GemmIsa::portable);
  CHECK(kernels::isa_from_variable("automatic") == GemmIsa::automatic);
  CHECK(kernels::isa_from_variable("") == GemmIsa::automatic);
  if (kernels::gemm_isa_supported(GemmIsa::avx512)) {
    CHECK(kernels::isa_from_variable("avx512") == GemmIsa::avx512);
  } else {
    CHECK_THROWS_WITH_AS(kernels::isa_from_variable("avx512"), doctest::Contains("does not support"), Error);
  }
  CHECK_THROWS_WITH_AS(kernels::isa_from_variable("avx1024"),
                       "TAPEGRAD_ISA=avx1024: expected avx512, avx2, portable or automatic", Error);
  CHECK_THROWS_WITH_AS(kernels::isa_from_variable("AVX2"), doctest::Contains("TAPEGRAD_ISA=AVX2"), Error);
}
