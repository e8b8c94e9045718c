#pragma once

// The training examples' `--distributed` flag: data-parallel training over MPI (tapegrad::distributed)
// when the examples were built with it (TAPEGRAD_WITH_DISTRIBUTED, set by examples/meson.build when
// MPI was found), else an error that says how to get it. Without the flag, one process of one.
//   mpirun -np 2 build/examples/lenet/lenet --distributed

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/autograd/variable.hpp>
#include <tapegrad/optim/optimizer.hpp>
#if TAPEGRAD_WITH_DISTRIBUTED
#include <tapegrad/distributed.hpp>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace examples {

/// This process's place in a data-parallel run: each of `size()` processes trains on its rows of
/// every global batch, and the optimizer averages their gradients. One process of one when not
/// distributed; then every member does nothing (no MPI is needed).
class DataParallel {
 public:
  /// Joins the processes mpirun started when `distributed` (an Error when the program was built
  /// without MPI); else one process of one. Construct it in main(), outside the try that reports errors.
  explicit DataParallel(bool distributed) {
    if (!distributed) return;
#if TAPEGRAD_WITH_DISTRIBUTED
    environment_.emplace();
    rank_ = tapegrad::distributed::rank();
    size_ = tapegrad::distributed::world_size();
    local_size_ = tapegrad::distributed::local_size();
#else
    tapegrad::fail("--distributed: this program was built without MPI; install Debian's libopenmpi-dev and "
                   "openmpi-bin, and reconfigure (./dev build does both)");
#endif
  }

  /// Whether this is a distributed run.
  bool active() const { return size_ > 1 || distributed_environment(); }
  /// This process's number; rank 0 prints and writes the files.
  int rank() const { return rank_; }
  /// The number of processes.
  int size() const { return size_; }
  /// The processes on this machine (their threads share its cores).
  int local_size() const { return local_size_; }

  /// This process's rows of a global batch tensor (first axis): rows [n r / N, n (r + 1) / N).
  tapegrad::Tensor shard(const tapegrad::Tensor& batch) const {
    if (size_ == 1) return batch;
    const int64_t n = batch.shape().dims()[0];
    const int64_t begin = n * rank_ / size_, end = n * (rank_ + 1) / size_;
    std::vector<int64_t> dims(batch.shape().dims().begin(), batch.shape().dims().end());
    const size_t row = n == 0 ? 0 : static_cast<size_t>(batch.numel() / n) * tapegrad::dtype_size(batch.dtype());
    dims[0] = end - begin;
    tapegrad::Tensor part = tapegrad::Tensor::empty(tapegrad::Shape(dims), batch.dtype());
    if (end > begin) {
      std::memcpy(part.mutable_raw_data(),
                  static_cast<const std::byte*>(batch.raw_data()) + static_cast<size_t>(begin) * row,
                  static_cast<size_t>(end - begin) * row);
    }
    return part;
  }

  /// The element-wise sums of `values` over the processes (for metrics: losses, counts).
  std::vector<double> sum(const std::vector<double>& values) const {
#if TAPEGRAD_WITH_DISTRIBUTED
    if (environment_) {
      const tapegrad::Tensor mine(values, tapegrad::Shape{static_cast<int64_t>(values.size())},
                                  tapegrad::DType::float64);
      return tapegrad::distributed::all_reduce({mine}, {.op = tapegrad::distributed::ReduceOp::sum})[0].to_vector();
    }
#endif
    return values;
  }

  /// Gives every process rank 0's values of `variables`, after checking that all have the same.
  void broadcast(const std::vector<tapegrad::Variable>& variables) const {
#if TAPEGRAD_WITH_DISTRIBUTED
    if (environment_) tapegrad::distributed::broadcast(variables);
#else
    (void)variables;
#endif
  }

  /// Makes `optimizer` average the gradients across the processes before each update.
  void distribute(tapegrad::optim::Optimizer& optimizer) const {
#if TAPEGRAD_WITH_DISTRIBUTED
    if (environment_) optimizer.set_gradient_aggregator(tapegrad::distributed::gradient_aggregator());
#else
    (void)optimizer;
#endif
  }

  /// Tells the other processes that this one stops with `reason` (they stop too, naming this rank).
  void report_failure(std::string_view reason) const {
#if TAPEGRAD_WITH_DISTRIBUTED
    if (environment_) tapegrad::distributed::report_failure(reason);
#else
    (void)reason;
#endif
  }

 private:
  bool distributed_environment() const {
#if TAPEGRAD_WITH_DISTRIBUTED
    return environment_.has_value();
#else
    return false;
#endif
  }
#if TAPEGRAD_WITH_DISTRIBUTED
  std::optional<tapegrad::distributed::Environment> environment_;
#endif
  int rank_ = 0;
  int size_ = 1;
  int local_size_ = 1;
};

}  // namespace examples
