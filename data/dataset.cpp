#include <tapegrad/data/dataset.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/random.hpp>
#include <tapegrad/autograd/threads.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>

namespace tapegrad::data {

// One component of the examples: a tensor whose first axis runs over them, or bytes converted a
// batch at a time.
struct Dataset::Column {
  enum class Kind {
    tensor,      // slices of `tensor`, copied as they are
    unit_bytes,  // byte v -> float32 v / 255
    int_bytes,   // byte v -> int64 v
  };
  Kind kind = Kind::tensor;
  Tensor tensor;
  std::vector<uint8_t> bytes;
  Shape element;         // one example's shape in a batch
  DType dtype{};         // the batch's
  int64_t elements = 0;  // per example
};

namespace {

using Column = Dataset::Column;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Epoch e's seed: a hash of (seed, e), so nearby seeds and epochs give unrelated orders.
uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  return splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(epoch));
}

// A tensor's slices along its first axis; `what` names it in errors.
std::shared_ptr<const Column> tensor_column(const Tensor& tensor, const char* what) {
  if (!tensor.defined()) fail("Dataset::from_tensor_slices: {} is an undefined tensor", what);
  if (tensor.rank() == 0) {
    fail("Dataset::from_tensor_slices: {} is a scalar; expected at least one dimension, the examples'", what);
  }
  auto column = std::make_shared<Column>();
  column->kind = Column::Kind::tensor;
  column->tensor = tensor;
  column->element = Shape(tensor.shape().dims().subspan(1));
  column->dtype = tensor.dtype();
  column->elements = column->element.numel();
  return column;
}

// Bytes a thread converts at least, about: a smaller batch stays on the calling thread.
constexpr int64_t kParallelBytes = int64_t{1} << 16;

// Copies the examples `indices` of `column` into one tensor of shape (count, element...), or of
// the element's shape when `batched` is false (one example).
Tensor gather(const Column& column, std::span<const int64_t> indices, bool batched) {
  Shape shape = column.element;
  if (batched) {
    std::vector<int64_t> dims{static_cast<int64_t>(indices.size())};
    dims.insert(dims.end(), column.element.dims().begin(), column.element.dims().end());
    shape = Shape(std::span<const int64_t>(dims));
  }
  Tensor out = Tensor::empty(shape, column.dtype);
  const int64_t n = column.elements;
  switch (column.kind) {
    case Column::Kind::tensor: {
      const size_t bytes = static_cast<size_t>(n) * dtype_size(column.dtype);
      const auto* source = static_cast<const uint8_t*>(column.tensor.raw_data());
      auto* target = static_cast<uint8_t*>(out.mutable_raw_data());
      for (size_t b = 0; b < indices.size(); ++b) {
        std::memcpy(target + b * bytes, source + static_cast<size_t>(indices[b]) * bytes, bytes);
      }
      break;
    }
    case Column::Kind::unit_bytes: {
      float* target = out.mutable_data<float>();
      const auto count = static_cast<int64_t>(indices.size());
      // The examples lie anywhere in the data set: the next one's bytes are asked for from memory while
      // this one's are converted.
      const auto prefetch_example = [&](int64_t b) {
        const uint8_t* source = column.bytes.data() + indices[static_cast<size_t>(b)] * n;
        for (int64_t p = 0; p < n; p += 64) __builtin_prefetch(source + p);
        if (n > 0) __builtin_prefetch(source + n - 1);  // the last line, where the example starts mid-line
      };
      // Examples [first, end), each byte one division, which the compiler vectorizes.
      const auto convert = [&](int64_t first, int64_t end) {
        if (first < end) prefetch_example(first);
        for (int64_t b = first; b < end; ++b) {
          if (b + 1 < end) prefetch_example(b + 1);
          const uint8_t* source = column.bytes.data() + indices[static_cast<size_t>(b)] * n;
          float* row = target + b * n;
          for (int64_t p = 0; p < n; ++p) row[p] = static_cast<float>(source[p]) / 255.0f;
        }
      };
      // Threads take runs of examples (any thread count, the same bits); a small batch stays on the
      // calling thread without entering OpenMP (whose team costs more than a small batch's conversion).
      const int64_t threads = std::min<int64_t>({count * n / kParallelBytes, count, num_threads()});
      if (threads <= 1) {
        convert(0, count);
        break;
      }
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int64_t part = 0; part < threads; ++part) convert(count * part / threads, count * (part + 1) / threads);
      break;
    }
    case Column::Kind::int_bytes: {
      int64_t* target = out.mutable_data<int64_t>();
      for (size_t b = 0; b < indices.size(); ++b) {
        const uint8_t* source = column.bytes.data() + indices[b] * n;
        for (int64_t p = 0; p < n; ++p) target[static_cast<int64_t>(b) * n + p] = source[p];
      }
      break;
    }
  }
  return out;
}

Tensor int64_scalar(int64_t value) {
  Tensor t = Tensor::empty(Shape{}, DType::int64);
  *t.mutable_data<int64_t>() = value;  // exact for every int64 (a double is not)
  return t;
}

}  // namespace

Dataset Dataset::from_tensor_slices(const Tensor& features) {
  Dataset dataset;
  dataset.features_ = tensor_column(features, "features");
  dataset.size_ = features.shape()[0];
  dataset.set_epoch(0);
  return dataset;
}

Dataset Dataset::from_tensor_slices(const Tensor& features, const Tensor& labels) {
  Dataset dataset = from_tensor_slices(features);
  dataset.labels_ = tensor_column(labels, "labels");
  if (labels.shape()[0] != features.shape()[0]) {
    fail("Dataset::from_tensor_slices: features {} and labels {} differ in their first dimension, the number of "
         "examples ({} and {})",
         features.shape(), labels.shape(), features.shape()[0], labels.shape()[0]);
  }
  return dataset;
}

Dataset Dataset::from_idx(IdxArray images, IdxArray labels) {
  if (images.type != IdxType::u8 || labels.type != IdxType::u8) {
    fail("Dataset::from_idx: images and labels must be unsigned bytes (IDX type 0x08)");
  }
  if (images.dims.empty()) fail("Dataset::from_idx: images have no dimensions; expected (N, ...)");
  if (std::ranges::any_of(images.dims, [](int64_t dim) { return dim < 0; }) ||
      (labels.dims.size() == 1 && labels.dims[0] < 0)) {
    fail("Dataset::from_idx: images have dims {} and labels {}; expected dimensions >= 0", fmt::join(images.dims, "x"),
         fmt::join(labels.dims, "x"));
  }
  if (labels.dims.size() != 1) {
    fail("Dataset::from_idx: labels have dims {}, expected (N)", fmt::join(labels.dims, "x"));
  }
  if (images.dims[0] != labels.dims[0]) {
    fail("Dataset::from_idx: {} images but {} labels", images.dims[0], labels.dims[0]);
  }
  if (static_cast<int64_t>(images.bytes.size()) != images.numel() ||
      static_cast<int64_t>(labels.bytes.size()) != labels.numel()) {
    fail("Dataset::from_idx: {} image bytes and {} label bytes for dims {} and {}", images.bytes.size(),
         labels.bytes.size(), fmt::join(images.dims, "x"), fmt::join(labels.dims, "x"));
  }
  Shape element(std::span<const int64_t>(images.dims).subspan(1));
  if (element.rank() == 2) element.push_back(1);  // (H, W) -> (H, W, 1): NHWC with one channel
  auto image_column = std::make_shared<Column>();
  image_column->kind = Column::Kind::unit_bytes;
  image_column->element = element;
  image_column->dtype = DType::float32;
  image_column->elements = image_column->element.numel();
  image_column->bytes = std::move(images.bytes);
  auto label_column = std::make_shared<Column>();
  label_column->kind = Column::Kind::int_bytes;
  label_column->element = Shape{};
  label_column->dtype = DType::int64;
  label_column->elements = 1;
  label_column->bytes = std::move(labels.bytes);

  Dataset dataset;
  dataset.size_ = labels.dims[0];
  dataset.features_ = std::move(image_column);
  dataset.labels_ = std::move(label_column);
  dataset.set_epoch(0);
  return dataset;
}

Dataset Dataset::with_fresh_reading() const {
  Dataset out = *this;
  out.set_epoch(0);
  return out;
}

Dataset Dataset::shuffle(uint64_t seed) const {
  if (seed_) fail("Dataset::shuffle: the data set is shuffled already (seed {})", *seed_);
  if (batch_size_ != 0) {
    fail("Dataset::shuffle: the data set is batched already: shuffle before batch (tf.data would shuffle whole "
         "batches of {})",
         batch_size_);
  }
  Dataset out = *this;
  out.seed_ = seed;
  return out.with_fresh_reading();
}

Dataset Dataset::batch(int64_t batch_size, bool drop_remainder) const {
  if (batch_size <= 0) fail("Dataset::batch: batch size is {}, expected at least 1", batch_size);
  if (batch_size_ != 0) fail("Dataset::batch: the data set is batched already (batch size {})", batch_size_);
  Dataset out = *this;
  out.batch_size_ = batch_size;
  out.drop_remainder_ = drop_remainder;
  return out.with_fresh_reading();
}

Dataset Dataset::shard(int64_t num_shards, int64_t index) const {
  if (num_shards < 1) fail("Dataset::shard: num_shards is {}, expected at least 1", num_shards);
  if (index < 0 || index >= num_shards) {
    fail("Dataset::shard: index is {}, expected 0 to {} for {} shards", index, num_shards - 1, num_shards);
  }
  if (batch_size_ == 0) {
    fail("Dataset::shard: the data set is not batched: call batch(...) first, so that each shard gets its part of "
         "every global batch");
  }
  if (num_shards_ != 1) fail("Dataset::shard: the data set is shard {} of {} already", shard_index_, num_shards_);
  Dataset out = *this;
  out.num_shards_ = num_shards;
  out.shard_index_ = index;
  return out.with_fresh_reading();
}

Dataset Dataset::take(int64_t n) const {
  if (n < 0) fail("Dataset::take: n is {}, expected n >= 0", n);
  if (seed_ || batch_size_ != 0 || num_shards_ != 1) {
    fail("Dataset::take: call take before shuffle, batch and shard (it keeps the first examples in data-set order)");
  }
  Dataset out = *this;
  out.size_ = std::min(n, size_);
  return out.with_fresh_reading();
}

int64_t Dataset::global_batch() const { return batch_size_ == 0 ? 1 : batch_size_; }

int64_t Dataset::element_count() const {
  const int64_t b = global_batch();
  return size_ / b + (!drop_remainder_ && size_ % b != 0 ? 1 : 0);  // never size_ + b - 1: b may be INT64_MAX
}

int64_t Dataset::cardinality() const { return element_count(); }

int64_t Dataset::num_examples() const { return drop_remainder_ ? element_count() * batch_size_ : size_; }

Shape Dataset::feature_shape() const { return features_ ? features_->element : Shape{}; }

void Dataset::set_epoch(int64_t epoch) {
  if (epoch < 0) fail("Dataset::set_epoch: epoch is {}, expected at least 0", epoch);
  // The epoch after it must be an int64 too (next() starts it at the end of this one).
  if (epoch == INT64_MAX) fail("Dataset::set_epoch: epoch is {}, expected 0 to {}", epoch, INT64_MAX - 1);
  epoch_ = epoch;
  position_ = 0;
  order_.resize(static_cast<size_t>(size_));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (!seed_) return;
  // Fisher-Yates: position i takes a uniform pick among positions 0..i.
  Generator generator(epoch_seed(*seed_, epoch));
  for (size_t i = order_.size(); i > 1; --i) {
    std::swap(order_[i - 1], order_[generator.below(static_cast<uint64_t>(i))]);
  }
}

std::optional<Batch> Dataset::next() {
  const int64_t end = num_examples();
  if (position_ >= end || features_ == nullptr) {
    set_epoch(epoch_ + 1);
    return std::nullopt;
  }
  const int64_t global = std::min(global_batch(), end - position_);
  // np.array_split of the global batch: the first global % num_shards shards get one more.
  const int64_t base = global / num_shards_;
  const int64_t extra = global % num_shards_;
  const int64_t begin = position_ + shard_index_ * base + std::min(shard_index_, extra);
  const int64_t count = base + (shard_index_ < extra ? 1 : 0);

  Batch batch;
  batch.index = position_ / global_batch();
  batch.global_size = global;
  batch.indices.assign(order_.begin() + begin, order_.begin() + begin + count);
  position_ += global;
  const bool batched = batch_size_ != 0;
  batch.features = gather(*features_, batch.indices, batched);
  if (labels_ != nullptr) batch.labels = gather(*labels_, batch.indices, batched);
  return batch;
}

NamedTensors Dataset::state() const {
  NamedTensors state{{"epoch", int64_scalar(epoch_)}, {"position", int64_scalar(position_)}};
  if (seed_) state.emplace_back("seed", int64_scalar(std::bit_cast<int64_t>(*seed_)));
  return state;
}

void Dataset::load_state(const NamedTensors& state) {
  std::optional<int64_t> epoch, position;
  std::optional<uint64_t> seed;
  for (const auto& [name, value] : state) {
    if (!value.defined() || value.rank() != 0 || value.dtype() != DType::int64) {
      fail("Dataset::load_state: '{}' must be an int64 scalar", name);
    }
    const int64_t v = value.data<int64_t>()[0];
    if (name == "epoch") {
      epoch = v;
    } else if (name == "position") {
      position = v;
    } else if (name == "seed") {
      seed = std::bit_cast<uint64_t>(v);
    } else {
      fail("Dataset::load_state: unexpected entry '{}' (expected epoch, position and, when shuffled, seed)", name);
    }
  }
  if (!epoch || !position) fail("Dataset::load_state: the state needs 'epoch' and 'position'");
  if (*epoch < 0 || *epoch == INT64_MAX)
    fail("Dataset::load_state: epoch is {}, expected 0 to {}", *epoch, INT64_MAX - 1);
  if (*position < 0 || *position > num_examples()) {
    fail("Dataset::load_state: position is {}, but an epoch has {} examples", *position, num_examples());
  }
  if (*position != num_examples() && *position % global_batch() != 0) {
    fail("Dataset::load_state: position is {}, which is not at the start of a batch of {}", *position, global_batch());
  }
  seed_ = seed;
  set_epoch(*epoch);
  position_ = *position;
}

}  // namespace tapegrad::data
