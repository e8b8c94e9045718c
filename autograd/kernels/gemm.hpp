#pragma once

// Matrix multiply on raw row-major buffers: the kernel behind matmul and (through im2col) conv2d.
//
// `gemm` is the fast one, blocked the GotoBLAS/BLIS way: panels of A and B packed into contiguous
// buffers sized for the caches, a register-blocked micro-kernel with FMA (AVX-512 or AVX2, chosen at run
// time, with a portable fallback), threads over independent blocks of C. `gemm_reference` is the
// formula as three loops, the yardstick gemm is tested against.
//
// NOTE: every element of C is one chain c = fma(a_p, b_p, c) over p = 0, 1, ..., k-1, started from C
// (accumulate) or 0, whatever the blocking or the thread count, so results are bit-identical for any
// number of threads. They differ from gemm_reference by rounding only (the reference multiplies and adds
// separately), and between instruction sets (the portable path has no FMA).
// NOTE: no flush-to-zero: denormal inputs or partial sums take the CPU's slow path.

#include <cstdint>
#include <string_view>

namespace tapegrad::kernels {

/// C = (accumulate ? C : 0) + op(A) op(B), op(X) = X or X^T; C is m x n (leading dimension ldc),
/// op(A) is m x k, op(B) is k x n, all row-major: A is stored m x k (k x m if transpose_a) with
/// leading dimension lda, B is stored k x n (n x k if transpose_b) with leading dimension ldb.
/// k may be 0 (C = accumulate ? C : 0). Without accumulate, C is only written, never read. C must not
/// overlap A or B. Safe to call from several threads at once; runs on up to num_threads() threads.
template <typename T>
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
          int64_t ldb, T* c, int64_t ldc, bool accumulate);

/// The same product as gemm, as plain loops: c[i][j] = (accumulate ? c[i][j] : 0) + sum_p a(i,p) b(p,j).
template <typename T>
void gemm_reference(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
                    const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate);

/// The instruction sets gemm has micro-kernels for.
enum class GemmIsa { automatic, portable, avx2, avx512 };

/// Makes gemm use one instruction set (tests reach every path on one machine with it); `automatic`, the
/// default, picks the one the environment variable TAPEGRAD_ISA names (avx512, avx2 or portable; read
/// once, at first use), else the widest the CPU has. Throws Error if the CPU lacks it. Not for use
/// while gemm runs.
void force_gemm_isa(GemmIsa isa);

/// The instruction set gemm uses now (never `automatic`). The other kernels built for an instruction
/// set follow it: the direct convolution runs only on avx512; the float sigmoid and batch normalization
/// have a build for each. Throws Error (at every call) when TAPEGRAD_ISA holds a bad value.
GemmIsa gemm_isa();

/// Of a kernel's three builds (AVX-512, AVX2, any x86-64), the one for gemm_isa().
template <typename F>
F build_for_gemm_isa(F avx512, F avx2, F portable) {
  const GemmIsa isa = gemm_isa();
  return isa == GemmIsa::avx512 ? avx512 : isa == GemmIsa::avx2 ? avx2 : portable;
}

/// The instruction set a value of TAPEGRAD_ISA names: avx512, avx2, portable, or automatic (also
/// for ""). Throws Error naming the variable for any other value, or for one this CPU lacks.
GemmIsa isa_from_variable(std::string_view value);

/// Whether this CPU runs an instruction set's kernels (`automatic` and `portable` always).
bool gemm_isa_supported(GemmIsa isa);

/// "automatic", "portable", "avx2" or "avx512".
const char* gemm_isa_name(GemmIsa isa);

extern template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                                 float*, int64_t, bool);
extern template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                                  double*, int64_t, bool);
extern template void gemm_reference<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*,
                                           int64_t, float*, int64_t, bool);
extern template void gemm_reference<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                            const double*, int64_t, double*, int64_t, bool);

// Internal: the contract between the blocked driver (fast_gemm.cpp) and the per-ISA micro-kernels
// (fast_gemm_avx2.cpp, fast_gemm_avx512.cpp). Not for use outside them.
namespace gemm_detail {

/// One block of work for a micro-kernel family: C (rows x cols) (+)= A (rows x depth) B (depth x cols).
template <typename T>
struct Block {
  int64_t rows = 0, cols = 0, depth = 0;
  /// A, in row tiles of the kernel's mr rows: tile t starts at a + t * a_tile, and its element (r, p) is
  /// at [r * a_stride + p] if a_row_major, else at [p * a_stride + r] (packed panels: a_stride = mr).
  /// Rows past `rows` are never read.
  const T* a = nullptr;
  bool a_row_major = false;
  int64_t a_stride = 0, a_tile = 0;
  /// B packed in panels of the kernel's nr columns, zero-padded: panel u starts at b + u * nr * depth,
  /// its element (p, j) at [p * nr + j].
  const T* b = nullptr;
  T* c = nullptr;
  int64_t ldc = 0;
  /// C += A B if set, else C = A B.
  bool load_c = false;
};

/// A micro-kernel family: tiles of mr x nr, the loop over a block's tiles, and, where not null, faster
/// packing of row-major operands: A's rows x depth block (leading dimension lda) into panels of mr rows
/// (panel t at dst + t * mr * depth, element (r, p) at [p * mr + r]), and B's depth x cols block
/// (leading dimension ldb) into panels as Block::b describes.
template <typename T>
struct Kernel {
  int mr = 0, nr = 0;
  void (*run)(const Block<T>&) = nullptr;
  void (*pack_b)(const T* b, int64_t ldb, int64_t depth, int64_t cols, T* dst) = nullptr;
  void (*pack_a)(const T* a, int64_t lda, int64_t rows, int64_t depth, T* dst) = nullptr;
};

/// One instruction set's kernels for T: `wide` for packed A; `narrow` (nr ascending, unused ones with
/// run == nullptr) for products with at most nr columns, reading A in place in either layout.
template <typename T>
struct Kernels {
  Kernel<T> wide;
  Kernel<T> narrow[2];
};

template <typename T>
const Kernels<T>& avx2_kernels();
template <typename T>
const Kernels<T>& avx512_kernels();
template <>
const Kernels<float>& avx2_kernels<float>();
template <>
const Kernels<double>& avx2_kernels<double>();
template <>
const Kernels<float>& avx512_kernels<float>();
template <>
const Kernels<double>& avx512_kernels<double>();

}  // namespace gemm_detail

}  // namespace tapegrad::kernels
