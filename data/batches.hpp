#pragma once

#include <tapegrad/autograd/safetensors.hpp>
#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/data/fashion_mnist.hpp>

#include <cstdint>
#include <iterator>
#include <optional>
#include <vector>

namespace tapegrad::data {

/// One minibatch, converted from the data set's bytes when it is taken.
struct Batch {
  /// float32 (B, H, W, 1), NHWC: each byte v becomes v / 255, in [0, 1].
  Tensor images;
  /// int64 (B): the class of each image.
  Tensor labels;
  /// The examples' positions in the data set, in batch order.
  std::vector<int64_t> indices;
  /// The batch's number within its epoch, from 0.
  int64_t index = 0;
};

/// The minibatches of a Dataset, in a new order each epoch when given a seed. Epoch e's order
/// depends only on (seed, e): epochs differ from each other, and a run repeats exactly. Reading
/// the batches through once is one epoch, after which the next epoch starts:
///   Batches batches(train, 256, seed);
///   for (int epoch = 0; epoch < 10; ++epoch)
///     for (const Batch& batch : batches) step(batch.images, batch.labels);
/// Only the current batch is converted to float, so memory stays at the bytes plus one batch.
/// The dataset must outlive the Batches.
class Batches {
 public:
  /// Batches of `batch_size` from `dataset` ((N, H, W) unsigned-byte images, (N) labels), shuffled
  /// when `shuffle_seed` is set, else in data-set order; `drop_last` leaves out a last, smaller batch.
  Batches(const Dataset& dataset, int64_t batch_size, std::optional<uint64_t> shuffle_seed, bool drop_last = false);
  /// The batches refer to the dataset: a temporary would be gone before the first batch.
  Batches(const Dataset&& dataset, int64_t batch_size, std::optional<uint64_t> shuffle_seed,
          bool drop_last = false) = delete;

  /// Batches per epoch.
  int64_t size() const;
  /// Examples per epoch: N, or N rounded down to whole batches with drop_last.
  int64_t examples() const;
  /// The batch size given at construction; an epoch's last batch may be smaller.
  int64_t batch_size() const { return batch_size_; }
  /// The epoch being read, from 0.
  int64_t epoch() const { return epoch_; }
  /// Starts epoch `epoch` from its first batch, in that epoch's order.
  void set_epoch(int64_t epoch);
  /// The current epoch's next batch; at the end of the epoch, nothing, and the next epoch starts.
  std::optional<Batch> next();

  /// Where the batches are, for a checkpoint: "epoch" and "position" (the examples of the epoch handed
  /// out so far), and "seed" when shuffled (its 64 bits as an int64), each an int64 scalar.
  NamedTensors state() const;
  /// Continues from a `state()`: the next batch is the one that would have come next then, in the
  /// same order (the seed is restored too). The same data set is assumed; an Error names a bad entry.
  void load_state(const NamedTensors& state);

  /// Reads the rest of the current epoch through `next()`, for range-for.
  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    /// An iterator at `batches`' next batch.
    explicit Iterator(Batches* batches) : batches_(batches), current_(batches->next()) {}
    /// The current batch.
    const Batch& operator*() const { return *current_; }
    /// The current batch's members.
    const Batch* operator->() const { return &*current_; }
    /// Moves to the next batch; the previous batch's tensors are released first, for reuse.
    Iterator& operator++() {
      current_.reset();
      current_ = batches_->next();
      return *this;
    }
    /// Moves to the next batch.
    void operator++(int) { ++*this; }
    /// True at the end of the epoch.
    friend bool operator==(const Iterator& it, std::default_sentinel_t) { return !it.current_.has_value(); }

   private:
    Batches* batches_;
    std::optional<Batch> current_;
  };
  /// The current epoch's next batch, for range-for.
  Iterator begin() { return Iterator(this); }
  /// The end of the current epoch.
  std::default_sentinel_t end() const { return {}; }

 private:
  const Dataset* dataset_;
  int64_t batch_size_;
  std::optional<uint64_t> seed_;
  bool drop_last_;
  int64_t epoch_ = 0;
  int64_t position_ = 0;  // examples of the current epoch already handed out
  int64_t batch_index_ = 0;
  std::vector<int64_t> order_;
};

}  // namespace tapegrad::data
