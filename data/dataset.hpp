#pragma once

#include <tapegrad/autograd/safetensors.hpp>
#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/data/idx.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

namespace tapegrad::data {

/// One element of a Dataset: a minibatch once the data set is batched, else one example.
/// `for (const auto& [x, y] : dataset)` binds x to the features and y to the labels.
struct Batch {
  /// The features: (B, ...) once batched, each example's shape otherwise.
  Tensor features;
  /// The labels, as `features`; undefined when the data set has none.
  Tensor labels;
  /// The examples' positions in the data set, in batch order.
  std::vector<int64_t> indices;
  /// The batch's number within its epoch, from 0 (on a shard: the global batch's number).
  int64_t index = 0;
  /// The examples of the global batch this is a part of: this batch's own count unless sharded.
  int64_t global_size = 0;
};

/// Batch's element I, the features (0) or the labels (1), for structured bindings.
template <size_t I>
const Tensor& get(const Batch& batch) {
  static_assert(I < 2, "a Batch binds to two names: [features, labels]");
  if constexpr (I == 0) {
    return batch.features;
  } else {
    return batch.labels;
  }
}

/// An in-memory data set of examples (features and, optionally, labels) and how it is read: in a
/// seeded random order, in minibatches, as one shard of each batch. As tf.data's
///   tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=s).batch(b)
/// tapegrad writes
///   data::Dataset train = data::Dataset::from_tensor_slices(x, y).shuffle(s).batch(b);
///   for (int epoch = 0; epoch < 10; ++epoch)
///     for (const auto& [features, labels] : train) step(features, labels);
/// `shuffle`, `batch`, `shard` and `take` return a new Dataset that shares the examples (no copy).
///
/// Epochs. A Dataset remembers where its reading stands: range-for (or `next()`) reads the rest of
/// the current epoch, and reading past its end starts the next epoch, so one range-for is one epoch.
/// Shuffled, epoch e reads the examples in an order that depends only on (seed, e): a new order
/// each epoch, the same orders in every run and on every machine (a Fisher-Yates shuffle driven by
/// tapegrad's Generator, seeded with a hash of the seed and e), as tf.data's shuffle with a buffer
/// of the whole data set and reshuffle_each_iteration=True.
///
/// Data-parallel training. `shard(num_shards, index)` gives process `index` its part of every
/// global batch: given the same seed, every process reads the same global batches in the same
/// order, and the parts of global batch k on shards 0..num_shards-1, concatenated in shard order,
/// are exactly global batch k. A global batch of g examples is split as NumPy's array_split
/// does: the first g % num_shards shards get g / num_shards + 1 examples, the others
/// g / num_shards. Every shard reads the same number of batches (`cardinality()`), so that the
/// processes step together; a shard's part is empty (0 examples) when g < num_shards, which only a
/// last, smaller batch can be (never with drop_remainder). `Batch::global_size` is g, so that each
/// process can weight its gradient by its share of the global batch.
///
/// Every change of order and batching is checked: shuffle before batch (tf.data would shuffle
/// whole batches), batch once, shard after batch, take before the others; an Error says which.
class Dataset {
 public:
  /// An empty data set with no examples; assign a real one to it.
  Dataset() = default;

  /// The examples are the slices of `features` along its first axis (an example of a (N, 2)
  /// float32 tensor is a (2) float32 tensor), as tf.data.Dataset.from_tensor_slices(x).
  /// Any dtype; `features` must have at least one dimension.
  static Dataset from_tensor_slices(const Tensor& features);
  /// Examples (features[i], labels[i]), as tf.data.Dataset.from_tensor_slices((x, y)); both
  /// must have the same first dimension.
  static Dataset from_tensor_slices(const Tensor& features, const Tensor& labels);
  /// Images and labels kept as unsigned bytes, as IDX files hold them (Fashion-MNIST), converted a
  /// batch at a time: each image byte v becomes the float32 v / 255, in [0, 1], with a channel axis
  /// added to (N, H, W) images (batches are (B, H, W, 1), NHWC); each label byte an int64.
  /// `images` has the shape (N, ...), `labels` (N).
  static Dataset from_idx(IdxArray images, IdxArray labels);

  /// The same examples read in a random order, a new one each epoch, fixed by `seed` (see above).
  Dataset shuffle(uint64_t seed) const;
  /// The same examples read in batches of `batch_size` (the last one smaller, or left out with
  /// `drop_remainder`), as tf.data's batch(batch_size, drop_remainder).
  Dataset batch(int64_t batch_size, bool drop_remainder = false) const;
  /// Shard `index` of `num_shards`: its part of every global batch (see above). Needs `batch` first.
  Dataset shard(int64_t num_shards, int64_t index) const;
  /// The first min(n, size) examples (the `--limit N` of a training program), in data-set order
  /// before any shuffle; call it before shuffle, batch and shard.
  Dataset take(int64_t n) const;

  /// Elements per epoch, as tf.data's cardinality(): batches once batched (the same on every
  /// shard), else examples.
  int64_t cardinality() const;
  /// Examples per epoch, over all shards: the data set's size, or its whole batches' with
  /// drop_remainder.
  int64_t num_examples() const;
  /// The batch size given to `batch`; 0 when not batched. An epoch's last batch may be smaller.
  int64_t batch_size() const { return batch_size_; }
  /// True when `labels` are part of the examples.
  bool has_labels() const { return labels_ != nullptr; }
  /// The shape of one example's features, e.g. (28, 28, 1) for Fashion-MNIST.
  Shape feature_shape() const;
  /// The epoch being read, from 0.
  int64_t epoch() const { return epoch_; }
  /// Starts epoch `epoch` from its first element, in that epoch's order.
  void set_epoch(int64_t epoch);
  /// The current epoch's next element; at the end of the epoch, nothing, and the next epoch starts.
  std::optional<Batch> next();

  /// Where the reading is, for a checkpoint: "epoch" and "position" (the global examples of the
  /// epoch handed out so far), and "seed" when shuffled (its 64 bits as an int64), each an int64
  /// scalar.
  NamedTensors state() const;
  /// Continues from a `state()`: the next element is the one that would have come next then, in the
  /// same order (the seed is restored too). The same data set is assumed; an Error names a bad entry.
  void load_state(const NamedTensors& state);

  /// Reads the rest of the current epoch through `next()`, for range-for.
  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    /// An iterator at `dataset`'s next element.
    explicit Iterator(Dataset* dataset) : dataset_(dataset), current_(dataset->next()) {}
    /// The current element.
    const Batch& operator*() const { return *current_; }
    /// The current element's members.
    const Batch* operator->() const { return &*current_; }
    /// Moves to the next element; the previous one's tensors are released first, for reuse.
    Iterator& operator++() {
      current_.reset();
      current_ = dataset_->next();
      return *this;
    }
    /// Moves to the next element.
    void operator++(int) { ++*this; }
    /// True at the end of the epoch.
    friend bool operator==(const Iterator& it, std::default_sentinel_t) { return !it.current_.has_value(); }

   private:
    Dataset* dataset_;
    std::optional<Batch> current_;
  };
  /// The current epoch's next element, for range-for.
  Iterator begin() { return Iterator(this); }
  /// The end of the current epoch.
  std::default_sentinel_t end() const { return {}; }

  /// How one component (features or labels) is stored; defined in dataset.cpp.
  struct Column;

 private:
  Dataset with_fresh_reading() const;
  int64_t element_count() const;  // elements per epoch, as cardinality()
  int64_t global_batch() const;   // examples per global batch: batch_size_, or 1 unbatched

  std::shared_ptr<const Column> features_;
  std::shared_ptr<const Column> labels_;  // null: no labels
  int64_t size_ = 0;                      // examples (after take)
  std::optional<uint64_t> seed_;
  int64_t batch_size_ = 0;  // 0: not batched
  bool drop_remainder_ = false;
  int64_t num_shards_ = 1;
  int64_t shard_index_ = 0;

  int64_t epoch_ = 0;
  int64_t position_ = 0;  // global examples of the current epoch already handed out
  std::vector<int64_t> order_;
};

}  // namespace tapegrad::data

/// A Batch binds to two names, [features, labels].
template <>
struct std::tuple_size<tapegrad::data::Batch> : std::integral_constant<size_t, 2> {};
/// Both names of a bound Batch are tensors.
template <size_t I>
struct std::tuple_element<I, tapegrad::data::Batch> {
  using type = const tapegrad::Tensor;  ///< features (0) or labels (1)
};
