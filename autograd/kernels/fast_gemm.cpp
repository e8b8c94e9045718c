// gemm's driver, blocked the GotoBLAS/BLIS way, the portable micro-kernel, and the reference loops.
//
// For each depth block of KC (p), each row block of MC (i): pack A's MC x KC block into panels of mr
// rows; for each column block of NC (j): pack B's KC x NC block into panels of nr columns (it stays in
// L2), then the micro-kernel runs over the block's tiles, row panels outer (an mr x KC panel of A stays
// in L1). Products with few columns (n <= a narrow kernel's nr) skip packing A: packing would cost as
// much as the arithmetic. Threads take disjoint rectangles of C; each runs the whole loop nest on its own
// with its own packing buffers.

#include "autograd/kernels/gemm.hpp"

#include <tapegrad/autograd/error.hpp>
#include "autograd/kernels/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string_view>

namespace tapegrad::kernels {

namespace {

using gemm_detail::Block;
using gemm_detail::Kernel;
using gemm_detail::Kernels;

// ---- Instruction set ----

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
}

// The instruction set TAPEGRAD_ISA names, else the widest this CPU runs; the variable is read once
// (a bad value throws at every call, as the initialisation is tried again).
GemmIsa automatic_isa() {
  static const GemmIsa chosen = [] {
    const char* value = std::getenv("TAPEGRAD_ISA");
    const GemmIsa named = isa_from_variable(value == nullptr ? "" : value);
    if (named != GemmIsa::automatic) return named;
    return cpu_has_avx512() ? GemmIsa::avx512 : cpu_has_avx2() ? GemmIsa::avx2 : GemmIsa::portable;
  }();
  return chosen;
}

std::atomic<GemmIsa> g_forced_isa{GemmIsa::automatic};

// ---- The portable micro-kernel: plain loops the compiler may vectorise, no FMA ----

template <typename T, int kMR, int kNR>
void portable_run(const Block<T>& block) {
  for (int64_t i = 0, t = 0; i < block.rows; i += kMR, ++t) {
    const T* a = block.a + t * block.a_tile;
    const int64_t rows = std::min<int64_t>(kMR, block.rows - i);
    for (int64_t j = 0; j < block.cols; j += kNR) {
      const int64_t cols = std::min<int64_t>(kNR, block.cols - j);
      const T* b = block.b + j * block.depth;
      T* c = block.c + i * block.ldc + j;
      T acc[kMR][kNR] = {};
      if (block.load_c) {
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t q = 0; q < cols; ++q) acc[r][q] = c[r * block.ldc + q];
        }
      }
      for (int64_t p = 0; p < block.depth; ++p) {
        for (int64_t r = 0; r < rows; ++r) {
          const T av = block.a_row_major ? a[r * block.a_stride + p] : a[p * block.a_stride + r];
          for (int q = 0; q < kNR; ++q) acc[r][q] += av * b[p * kNR + q];
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t q = 0; q < cols; ++q) c[r * block.ldc + q] = acc[r][q];
      }
    }
  }
}

template <typename T>
const Kernels<T>& portable_kernels() {
  static const Kernels<T> kernels{.wide = {4, 8, &portable_run<T, 4, 8>}, .narrow = {}};
  return kernels;
}

template <typename T>
const Kernels<T>& kernels_for(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::avx512: return gemm_detail::avx512_kernels<T>();
    case GemmIsa::avx2: return gemm_detail::avx2_kernels<T>();
    default: return portable_kernels<T>();
  }
}

// ---- Packing ----

// An operand as its op() sees it: element (i, j) at data[i * row_stride + j * col_stride]; one of the
// strides is 1.
template <typename T>
struct Operand {
  const T* data;
  int64_t row_stride, col_stride;
  const T* at(int64_t i, int64_t j) const { return data + i * row_stride + j * col_stride; }
};

// A's rows x depth block into panels of mr rows: panel t at dst + t * mr * depth, its element (r, p) at
// [p * mr + r]. A last panel of fewer rows is not padded (the kernels never read past `rows`).
template <typename T>
void pack_a(const Kernel<T>& kernel, const Operand<T>& a, int64_t rows, int64_t depth, T* dst) {
  if (a.col_stride == 1 && kernel.pack_a != nullptr) {
    kernel.pack_a(a.data, a.row_stride, rows, depth, dst);
    return;
  }
  const int mr = kernel.mr;
  for (int64_t i = 0; i < rows; i += mr) {
    const int64_t height = std::min<int64_t>(mr, rows - i);
    T* panel = dst + i * depth;
    if (a.col_stride == 1 && height == mr) {
      // Row-major A: mr sequential reads, one sequential write.
      const T* src = a.at(i, 0);
      const int64_t stride = a.row_stride;
      for (int64_t p = 0; p < depth; ++p) {
        for (int r = 0; r < mr; ++r) panel[p * mr + r] = src[r * stride + p];
      }
    } else {
      for (int64_t p = 0; p < depth; ++p) {
        for (int64_t r = 0; r < height; ++r) panel[p * mr + r] = *a.at(i + r, p);
      }
    }
  }
}

// B's depth x cols block into the kernel's panels of nr columns, zero-padded: panel u at
// dst + u * nr * depth, its element (p, q) at [p * nr + q].
template <typename T>
void pack_b(const Kernel<T>& kernel, const Operand<T>& b, int64_t depth, int64_t cols, T* dst) {
  if (b.col_stride == 1 && kernel.pack_b != nullptr) {
    kernel.pack_b(b.data, b.row_stride, depth, cols, dst);
    return;
  }
  const int nr = kernel.nr;
  for (int64_t j = 0; j < cols; j += nr) {
    const int64_t width = std::min<int64_t>(nr, cols - j);
    T* panel = dst + j * depth;
    for (int64_t p = 0; p < depth; ++p) {
      for (int64_t q = 0; q < width; ++q) panel[p * nr + q] = *b.at(p, j + q);
      for (int64_t q = width; q < nr; ++q) panel[p * nr + q] = T(0);
    }
  }
}

// A packing buffer per thread and role, kept from call to call (first touch of fresh pages is slow),
// aligned to cache lines.
class Scratch {
 public:
  template <typename T>
  T* get(int64_t count) {
    const size_t bytes = static_cast<size_t>(count) * sizeof(T);
    if (bytes > size_) {
      data_.reset(static_cast<std::byte*>(::operator new (bytes, std::align_val_t{64})));
      size_ = bytes;
    }
    return reinterpret_cast<T*>(data_.get());
  }

 private:
  struct Free {
    void operator()(std::byte* p) const { ::operator delete (p, std::align_val_t{64}); }
  };
  std::unique_ptr<std::byte, Free> data_;
  size_t size_ = 0;
};

thread_local Scratch t_a_scratch, t_b_scratch;

// ---- The blocked loops ----

template <typename T>
struct Plan {
  const Kernel<T>* kernel;
  bool pack_a;
  int64_t kc, mc, nc;
};

int64_t round_up(int64_t x, int64_t step) { return (x + step - 1) / step * step; }

// Cache blocking, in bytes so float and double get the same: an mr x KC panel of A fills about half of
// L1 (48 KiB here) and stays there while the kernel sweeps a KC x NC block of B that fills about half of
// L2 (1 MiB); MC rows of A are packed once per depth block, enough that repacking B is rare.
constexpr int64_t kDepthBytes = 2048, kBlockBBytes = 512 << 10, kBlockABytes = 2 << 20;

// The kernel and block sizes for a product with n columns. A narrow kernel reads A in place: with few
// columns, packing A would cost as much as the arithmetic.
template <typename T>
Plan<T> make_plan(const Kernels<T>& kernels, int64_t n) {
  const int64_t kc = kDepthBytes / static_cast<int64_t>(sizeof(T));
  for (const Kernel<T>& narrow : kernels.narrow) {
    if (narrow.run != nullptr && n <= narrow.nr) return {&narrow, false, kc, int64_t{1} << 40, narrow.nr};
  }
  const Kernel<T>& wide = kernels.wide;
  const int64_t row_bytes = kc * static_cast<int64_t>(sizeof(T));
  const int64_t nc = std::max<int64_t>(1, kBlockBBytes / row_bytes / wide.nr) * wide.nr;
  const int64_t mc = std::max<int64_t>(1, kBlockABytes / row_bytes / wide.mr) * wide.mr;
  return {&wide, true, kc, mc, nc};
}

// The block size that splits `extent` into the fewest blocks of at most `limit`, as equal as multiples of
// `step` allow (the last block may be smaller).
int64_t even_block(int64_t extent, int64_t limit, int64_t step) {
  const int64_t blocks = (extent + limit - 1) / limit;
  return round_up((extent + blocks - 1) / blocks, step);
}

// C's rows [m0, m1) x columns [n0, n1), on this thread.
template <typename T>
void run_rect(const Plan<T>& plan, const Operand<T>& a, const Operand<T>& b, T* c, int64_t ldc, int64_t k, int64_t m0,
              int64_t m1, int64_t n0, int64_t n1, bool accumulate) {
  const Kernel<T>& kernel = *plan.kernel;
  const int mr = kernel.mr, nr = kernel.nr;
  const int64_t kc_block = even_block(k, plan.kc, 8), mc_block = even_block(m1 - m0, plan.mc, mr);
  const int64_t nc_block = even_block(n1 - n0, plan.nc, nr);
  T* a_buf = plan.pack_a ? t_a_scratch.get<T>(mc_block * kc_block) : nullptr;
  T* b_buf = t_b_scratch.get<T>(nc_block * kc_block);
  const bool pack_b_once = n1 - n0 <= nc_block;
  for (int64_t pc = 0; pc < k; pc += kc_block) {
    const int64_t kc = std::min(kc_block, k - pc);
    const bool load_c = accumulate || pc > 0;
    if (pack_b_once) pack_b(kernel, Operand<T>{b.at(pc, n0), b.row_stride, b.col_stride}, kc, n1 - n0, b_buf);
    for (int64_t ic = m0; ic < m1; ic += mc_block) {
      const int64_t mc = std::min(mc_block, m1 - ic);
      const Operand<T> a_block{a.at(ic, pc), a.row_stride, a.col_stride};
      Block<T> block{};
      block.rows = mc;
      block.depth = kc;
      block.b = b_buf;
      block.ldc = ldc;
      block.load_c = load_c;
      if (plan.pack_a) {
        pack_a(kernel, a_block, mc, kc, a_buf);
        block.a = a_buf;
        block.a_stride = mr;
        block.a_tile = mr * kc;
      } else {
        block.a = a_block.data;
        block.a_row_major = a.col_stride == 1;
        block.a_stride = block.a_row_major ? a.row_stride : a.col_stride;
        block.a_tile = mr * a.row_stride;
      }
      for (int64_t jc = n0; jc < n1; jc += nc_block) {
        const int64_t nc = std::min(nc_block, n1 - jc);
        if (!pack_b_once) pack_b(kernel, Operand<T>{b.at(pc, jc), b.row_stride, b.col_stride}, kc, nc, b_buf);
        block.cols = nc;
        block.c = c + ic * ldc + jc;
        kernel.run(block);
      }
    }
  }
}

// Products below this many flops run on one thread: starting a team costs more than it saves.
constexpr double kMinParallelFlops = 1 << 21;

// C = (accumulate ? C : 0) + op(A) op(B) for k > 0, on up to num_threads() threads.
template <typename T>
void multiply(const Kernels<T>& kernels, bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
              const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  const Plan<T> plan = make_plan(kernels, n);
  const Operand<T> op_a{a, transpose_a ? 1 : lda, transpose_a ? lda : 1};
  const Operand<T> op_b{b, transpose_b ? 1 : ldb, transpose_b ? ldb : 1};

  // Threads split C's rows (or, when it has fewer row tiles than column panels, its columns) into
  // whole tiles; each element is computed by one thread in one fixed order.
  const int64_t row_tiles = (m + plan.kernel->mr - 1) / plan.kernel->mr;
  const int64_t col_tiles = (n + plan.kernel->nr - 1) / plan.kernel->nr;
  const bool split_rows = row_tiles >= col_tiles || row_tiles >= 4 * num_threads();
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int parts = flops < kMinParallelFlops
                        ? 1
                        : static_cast<int>(std::min<int64_t>(num_threads(), split_rows ? row_tiles : col_tiles));
  if (parts == 1) {
    run_rect(plan, op_a, op_b, c, ldc, k, 0, m, 0, n, accumulate);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int part = 0; part < parts; ++part) {
    const int64_t tiles = split_rows ? row_tiles : col_tiles;
    const int64_t step = split_rows ? plan.kernel->mr : plan.kernel->nr;
    const int64_t size = split_rows ? m : n;
    const int64_t begin = std::min(size, tiles * part / parts * step);
    const int64_t end = std::min(size, tiles * (part + 1) / parts * step);
    if (split_rows) {
      run_rect(plan, op_a, op_b, c, ldc, k, begin, end, 0, n, accumulate);
    } else {
      run_rect(plan, op_a, op_b, c, ldc, k, 0, m, begin, end, accumulate);
    }
  }
}

// Vector lanes the narrow kernels spend per step of the sum on a rows x cols product.
template <typename T>
int64_t lane_cost(const Kernels<T>& kernels, int64_t rows, int64_t cols) {
  const int64_t lanes = kernels.narrow[0].nr;
  return rows * ((cols + lanes - 1) / lanes) * lanes;
}

// Whether to compute C^T = op(B)^T op(A)^T instead, when C has few rows and columns, the sum is long
// (a convolution's kernel gradient: 25 x 6 x 50176) and C's rows fill vectors much better than its
// columns. Only when op(A)^T is row-major (transpose_a): packing it is then a plain copy.
template <typename T>
bool compute_transposed(const Kernels<T>& kernels, bool transpose_a, int64_t m, int64_t n, int64_t k) {
  if (!transpose_a || kernels.narrow[0].run == nullptr || m * n > (1 << 16) || k < 64) return false;
  return 4 * lane_cost(kernels, n, m) < 3 * lane_cost(kernels, m, n);
}

thread_local Scratch t_c_scratch;

}  // namespace

template <typename T>
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
          int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  if (m < 0 || n < 0 || k < 0) fail("gemm: sizes m={} n={} k={}; expected none negative", m, n, k);
  const int64_t a_width = transpose_a ? m : k, b_width = transpose_b ? k : n;
  if (lda < a_width) {
    fail("gemm: lda {} is less than the {} columns of A as stored ({}x{}, transpose_a={})", lda, a_width,
         transpose_a ? k : m, a_width, transpose_a);
  }
  if (ldb < b_width) {
    fail("gemm: ldb {} is less than the {} columns of B as stored ({}x{}, transpose_b={})", ldb, b_width,
         transpose_b ? n : k, b_width, transpose_b);
  }
  if (ldc < n) fail("gemm: ldc {} is less than the {} columns of C ({}x{})", ldc, n, m, n);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) {
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, T(0));
    }
    return;
  }
  const Kernels<T>& kernels = kernels_for<T>(gemm_isa());
  if (compute_transposed(kernels, transpose_a, m, n, k)) {
    // C^T into an n x m buffer and back: every element is still the same chain of fmas.
    T* ct = t_c_scratch.get<T>(m * n);
    if (accumulate) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) ct[j * m + i] = c[i * ldc + j];
      }
    }
    multiply(kernels, !transpose_b, !transpose_a, n, m, k, b, ldb, a, lda, ct, m, accumulate);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = ct[j * m + i];
    }
    return;
  }
  multiply(kernels, transpose_a, transpose_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

template <typename T>
void gemm_reference(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
                    const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      T sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const T a_ip = transpose_a ? a[p * lda + i] : a[i * lda + p];
        const T b_pj = transpose_b ? b[j * ldb + p] : b[p * ldb + j];
        sum += a_ip * b_pj;
      }
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
    }
  }
}

void force_gemm_isa(GemmIsa isa) {
  if (!gemm_isa_supported(isa)) fail("force_gemm_isa: this CPU does not support {}", gemm_isa_name(isa));
  g_forced_isa.store(isa);
}

GemmIsa gemm_isa() {
  const GemmIsa forced = g_forced_isa.load();
  return forced == GemmIsa::automatic ? automatic_isa() : forced;
}

GemmIsa isa_from_variable(std::string_view value) {
  for (const GemmIsa isa : {GemmIsa::avx512, GemmIsa::avx2, GemmIsa::portable, GemmIsa::automatic}) {
    if (value != gemm_isa_name(isa)) continue;
    if (!gemm_isa_supported(isa)) fail("TAPEGRAD_ISA={}: this CPU does not support {}", value, value);
    return isa;
  }
  if (value.empty()) return GemmIsa::automatic;
  fail("TAPEGRAD_ISA={}: expected avx512, avx2, portable or automatic", value);
}

bool gemm_isa_supported(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::avx512: return cpu_has_avx512();
    case GemmIsa::avx2: return cpu_has_avx2();
    default: return true;
  }
}

const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::automatic: return "automatic";
    case GemmIsa::portable: return "portable";
    case GemmIsa::avx2: return "avx2";
    case GemmIsa::avx512: return "avx512";
  }
  return "unknown";
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*,
                          int64_t, bool);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                           double*, int64_t, bool);
template void gemm_reference<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                                    float*, int64_t, bool);
template void gemm_reference<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t, const double*,
                                     int64_t, double*, int64_t, bool);

}  // namespace tapegrad::kernels
