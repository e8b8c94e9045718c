#pragma once

// Internal: the contract between average pooling over tiling windows (fast_pool.cpp) and its AVX-512
// loop (fast_pool_avx512.cpp), which runs on CPUs with AVX-512F only. Not for use outside them.
//
// A vector holds the outputs of whole windows, all their channels: with few channels (LeNet's 6) the
// scalar loops over channels are short, and each window's pixels lie kernel_width * channels floats
// apart, so a vector's inputs are gathered with one permute from the floats of its windows' row.

#include <cstdint>

namespace tapegrad::kernels::pool_tiles {

/// Whether average_row takes windows kernel_width pixels wide over `channels` channels: the windows a
/// vector holds read at most 32 floats of each row.
bool average_takes(int64_t channels, int64_t kernel_width);

/// One output row of average pooling over tiling windows, float32: out[ow * channels + ch] = (0 + the
/// window's pixels row by row, each row left to right) / (kernel_height * kernel_width), as the
/// reference sums them; window ow reads pixels ow * kernel_width + b (b < kernel_width) of the rows
/// window_rows + a * in_row (a < kernel_height).
void average_row(const float* window_rows, int64_t in_row, int64_t kernel_height, int64_t kernel_width,
                 int64_t channels, int64_t out_width, float* out);

}  // namespace tapegrad::kernels::pool_tiles
