#include <tapegrad/data/batches.hpp>

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/random.hpp>

#include <fmt/format.h>

#include <array>
#include <bit>
#include <cstring>
#include <numeric>

namespace tapegrad::data {

namespace {

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

// v / 255 for every byte v, computed once.
const std::array<float, 256>& byte_to_unit() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> values{};
    for (int v = 0; v < 256; ++v) values[static_cast<size_t>(v)] = static_cast<float>(v) / 255.0f;
    return values;
  }();
  return table;
}

}  // namespace

Batches::Batches(const Dataset& dataset, int64_t batch_size, std::optional<uint64_t> shuffle_seed, bool drop_last)
    : dataset_(&dataset), batch_size_(batch_size), seed_(shuffle_seed), drop_last_(drop_last) {
  const IdxArray& images = dataset.images;
  const IdxArray& labels = dataset.labels;
  if (batch_size <= 0) fail("Batches: batch size is {}, expected at least 1", batch_size);
  if (images.dims.size() != 3) fail("Batches: images have dims {}, expected (N, H, W)", fmt::join(images.dims, "x"));
  if (labels.dims.size() != 1) fail("Batches: labels have dims {}, expected (N)", fmt::join(labels.dims, "x"));
  if (images.dims[0] != labels.dims[0]) {
    fail("Batches: {} images but {} labels", images.dims[0], labels.dims[0]);
  }
  if (images.type != IdxType::u8 || labels.type != IdxType::u8) {
    fail("Batches: images and labels must be unsigned bytes (IDX type 0x08)");
  }
  if (static_cast<int64_t>(images.bytes.size()) != images.numel() ||
      static_cast<int64_t>(labels.bytes.size()) != labels.numel()) {
    fail("Batches: {} image bytes and {} label bytes for dims {} and {}", images.bytes.size(), labels.bytes.size(),
         fmt::join(images.dims, "x"), fmt::join(labels.dims, "x"));
  }
  set_epoch(0);
}

int64_t Batches::size() const {
  const int64_t n = dataset_->size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

int64_t Batches::examples() const { return drop_last_ ? size() * batch_size_ : dataset_->size(); }

void Batches::set_epoch(int64_t epoch) {
  if (epoch < 0) fail("Batches::set_epoch: epoch is {}, expected at least 0", epoch);
  epoch_ = epoch;
  position_ = 0;
  batch_index_ = 0;
  order_.resize(static_cast<size_t>(dataset_->size()));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (!seed_) return;
  // Fisher-Yates: position i takes a uniform pick among positions 0..i.
  Generator generator(epoch_seed(*seed_, epoch));
  for (size_t i = order_.size(); i > 1; --i) {
    std::swap(order_[i - 1], order_[generator.below(static_cast<uint64_t>(i))]);
  }
}

std::optional<Batch> Batches::next() {
  const int64_t end = examples();
  if (position_ >= end) {
    set_epoch(epoch_ + 1);
    return std::nullopt;
  }
  const int64_t count = std::min(batch_size_, end - position_);
  const IdxArray& images = dataset_->images;
  const int64_t height = images.dims[1];
  const int64_t width = images.dims[2];
  const int64_t pixels = height * width;

  Batch batch;
  batch.index = batch_index_++;
  batch.indices.assign(order_.begin() + position_, order_.begin() + position_ + count);
  position_ += count;
  batch.images = Tensor::empty(Shape{count, height, width, 1}, DType::float32);
  batch.labels = Tensor::empty(Shape{count}, DType::int64);
  float* out = batch.images.mutable_data<float>();
  int64_t* labels = batch.labels.mutable_data<int64_t>();
  const std::array<float, 256>& unit = byte_to_unit();
  for (int64_t b = 0; b < count; ++b) {
    const int64_t example = batch.indices[static_cast<size_t>(b)];
    const uint8_t* source = images.bytes.data() + example * pixels;
    float* target = out + b * pixels;
    for (int64_t p = 0; p < pixels; ++p) target[p] = unit[source[p]];
    labels[b] = dataset_->labels.bytes[static_cast<size_t>(example)];
  }
  return batch;
}

NamedTensors Batches::state() const {
  const auto int64_scalar = [](int64_t value) {
    Tensor t = Tensor::empty(Shape{}, DType::int64);
    *t.mutable_data<int64_t>() = value;  // exact for every int64 (a double is not)
    return t;
  };
  NamedTensors state{{"epoch", int64_scalar(epoch_)}, {"position", int64_scalar(position_)}};
  if (seed_) state.emplace_back("seed", int64_scalar(std::bit_cast<int64_t>(*seed_)));
  return state;
}

void Batches::load_state(const NamedTensors& state) {
  std::optional<int64_t> epoch, position;
  std::optional<uint64_t> seed;
  for (const auto& [name, value] : state) {
    if (!value.defined() || value.rank() != 0 || value.dtype() != DType::int64) {
      fail("Batches::load_state: '{}' must be an int64 scalar", name);
    }
    const int64_t v = value.data<int64_t>()[0];
    if (name == "epoch") {
      epoch = v;
    } else if (name == "position") {
      position = v;
    } else if (name == "seed") {
      seed = std::bit_cast<uint64_t>(v);
    } else {
      fail("Batches::load_state: unexpected entry '{}' (expected epoch, position and, when shuffled, seed)", name);
    }
  }
  if (!epoch || !position) fail("Batches::load_state: the state needs 'epoch' and 'position'");
  if (*epoch < 0) fail("Batches::load_state: epoch is {}, expected at least 0", *epoch);
  if (*position < 0 || *position > examples()) {
    fail("Batches::load_state: position is {}, but an epoch has {} examples", *position, examples());
  }
  seed_ = seed;
  set_epoch(*epoch);
  position_ = *position;
  batch_index_ = (position_ + batch_size_ - 1) / batch_size_;
}

}  // namespace tapegrad::data
