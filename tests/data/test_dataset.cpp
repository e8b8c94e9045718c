#include <tapegrad/data/dataset.hpp>

#include <tapegrad/autograd/random.hpp>
#include <tapegrad/autograd/threads.hpp>

#include "helpers.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

using namespace tapegrad;
using namespace tapegrad::data;
using namespace tapegrad::data::testing;

namespace {

// 0, 1, ..., n - 1.
std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> values(static_cast<size_t>(n));
  std::iota(values.begin(), values.end(), int64_t{0});
  return values;
}

// An (n, 2) float32 tensor whose row i is (i, 10 i), and an (n) int64 tensor of 100 i.
Tensor features_of(int64_t n, DType dtype = DType::float32) {
  std::vector<double> values;
  for (int64_t i = 0; i < n; ++i) values.insert(values.end(), {double(i), 10.0 * double(i)});
  return Tensor(values, Shape{n, 2}, dtype);
}
Tensor labels_of(int64_t n) {
  std::vector<double> values;
  for (int64_t i = 0; i < n; ++i) values.push_back(100.0 * double(i));
  return Tensor(values, Shape{n}, DType::int64);
}

}  // namespace

TEST_CASE("Dataset::from_tensor_slices: slices along the first axis, any dtype, batched or not") {
  Dataset dataset = Dataset::from_tensor_slices(features_of(5), labels_of(5));
  CHECK(dataset.cardinality() == 5);
  CHECK(dataset.num_examples() == 5);
  CHECK(dataset.batch_size() == 0);
  CHECK(dataset.has_labels());
  CHECK(dataset.feature_shape() == Shape{2});

  SUBCASE("unbatched: one example at a time, without a batch axis") {
    const std::vector<Batch> elements = one_epoch(dataset);
    REQUIRE(elements.size() == 5);
    for (int64_t i = 0; i < 5; ++i) {
      const Batch& e = elements[static_cast<size_t>(i)];
      CHECK(e.features.shape() == Shape{2});
      CHECK(e.features.dtype() == DType::float32);
      CHECK(e.features.to_vector() == std::vector<double>{double(i), 10.0 * double(i)});
      CHECK(e.labels.shape() == Shape{});
      CHECK(e.labels.dtype() == DType::int64);
      CHECK(e.labels.item() == 100.0 * double(i));
      CHECK(e.index == i);
      CHECK(e.global_size == 1);
      CHECK(e.indices == std::vector<int64_t>{i});
    }
  }
  SUBCASE("batched, with structured bindings") {
    Dataset batches = dataset.batch(2);
    CHECK(batches.cardinality() == 3);
    CHECK(batches.batch_size() == 2);
    std::vector<double> seen_features, seen_labels;
    int count = 0;
    for (const auto& [x, y] : batches) {
      CHECK(x.shape() == Shape{count < 2 ? 2 : 1, 2});
      CHECK(y.shape() == Shape{count < 2 ? 2 : 1});
      const std::vector<double> xs = x.to_vector(), ys = y.to_vector();
      seen_features.insert(seen_features.end(), xs.begin(), xs.end());
      seen_labels.insert(seen_labels.end(), ys.begin(), ys.end());
      ++count;
    }
    CHECK(count == 3);
    CHECK(seen_features == features_of(5).to_vector());
    CHECK(seen_labels == labels_of(5).to_vector());
  }
  SUBCASE("float64 and int64 features are copied bit for bit") {
    const Tensor f64 = Tensor({0.1, -2.5e-300, 3.0, 1e300}, Shape{2, 2}, DType::float64);
    Dataset d64 = Dataset::from_tensor_slices(f64).batch(2);
    const Batch only = one_epoch(d64).at(0);
    CHECK(only.features.dtype() == DType::float64);
    CHECK(only.features.to_vector() == f64.to_vector());
    CHECK(!only.labels.defined());
    Dataset ints = Dataset::from_tensor_slices(labels_of(3));
    CHECK(ints.feature_shape() == Shape{});
    CHECK(one_epoch(ints).at(2).features.item() == 200.0);
  }
  SUBCASE("higher-rank examples keep their shape") {
    Generator generator(3);
    const Tensor images = random_uniform({7, 3, 4, 2}, generator);
    Dataset batches = Dataset::from_tensor_slices(images).batch(4);
    const std::vector<Batch> epoch = one_epoch(batches);
    REQUIRE(epoch.size() == 2);
    CHECK(epoch[0].features.shape() == Shape{4, 3, 4, 2});
    CHECK(epoch[1].features.shape() == Shape{3, 3, 4, 2});
    const std::vector<double> all = images.to_vector(), second = epoch[1].features.to_vector();
    CHECK(std::equal(second.begin(), second.end(), all.begin() + 4 * 24));
  }
}

TEST_CASE("Dataset: batch sizes, the last partial batch and drop_remainder") {
  const Dataset dataset = make_images(10, 4, 3).dataset();
  SUBCASE("keep the last batch") {
    Dataset batches = dataset.shuffle(1).batch(4);
    CHECK(batches.cardinality() == 3);
    CHECK(batches.num_examples() == 10);
    CHECK(batches.batch_size() == 4);
    const std::vector<Batch> epoch = one_epoch(batches);
    REQUIRE(epoch.size() == 3);
    for (int64_t b = 0; b < 3; ++b) {
      const int64_t count = b < 2 ? 4 : 2;
      CHECK(epoch[b].index == b);
      CHECK(epoch[b].global_size == count);
      CHECK(epoch[b].features.shape() == Shape{count, 4, 3, 1});
      CHECK(epoch[b].features.dtype() == DType::float32);
      CHECK(epoch[b].labels.shape() == Shape{count});
      CHECK(epoch[b].labels.dtype() == DType::int64);
      CHECK(static_cast<int64_t>(epoch[b].indices.size()) == count);
    }
  }
  SUBCASE("drop_remainder") {
    Dataset batches = dataset.shuffle(1).batch(4, /*drop_remainder=*/true);
    CHECK(batches.cardinality() == 2);
    CHECK(batches.num_examples() == 8);
    const std::vector<Batch> epoch = one_epoch(batches);
    REQUIRE(epoch.size() == 2);
    for (const Batch& batch : epoch) CHECK(batch.features.shape() == Shape{4, 4, 3, 1});
  }
  SUBCASE("an exact multiple") {
    Dataset batches = dataset.batch(5, true);
    CHECK(batches.cardinality() == 2);
    CHECK(one_epoch(batches).size() == 2);
  }
  SUBCASE("a batch larger than the data set") {
    Dataset keep = dataset.shuffle(1).batch(64);
    CHECK(keep.cardinality() == 1);
    CHECK(one_epoch(keep).at(0).labels.numel() == 10);
    Dataset drop = dataset.shuffle(1).batch(64, true);
    CHECK(drop.cardinality() == 0);
    CHECK(drop.num_examples() == 0);
    CHECK(one_epoch(drop).empty());
  }
}

TEST_CASE("Dataset::from_idx: images are the example's bytes / 255 in NHWC, labels exact") {
  ImageBytes bytes = make_images(7, 2, 3);
  bytes.images.bytes[0] = 0;
  bytes.images.bytes[1] = 255;
  Dataset batches = bytes.dataset().shuffle(42).batch(3);
  for (const Batch& batch : batches) {
    const std::vector<double> pixels = batch.features.to_vector();
    const std::vector<double> labels = batch.labels.to_vector();
    for (size_t b = 0; b < batch.indices.size(); ++b) {
      const int64_t example = batch.indices[b];
      CHECK(labels[b] == bytes.labels.bytes[static_cast<size_t>(example)]);
      for (size_t p = 0; p < 6; ++p) {
        const uint8_t byte = bytes.images.bytes[static_cast<size_t>(example) * 6 + p];
        CHECK(pixels[b * 6 + p] == static_cast<double>(static_cast<float>(byte) / 255.0f));
      }
    }
  }
  // The extremes land exactly on 0 and 1.
  Dataset in_order = bytes.dataset().batch(1);
  const std::optional<Batch> first = in_order.next();
  REQUIRE(first.has_value());
  CHECK(first->features.at({0, 0, 0, 0}) == 0.0);
  CHECK(first->features.at({0, 0, 1, 0}) == 1.0);
  CHECK(first->labels.at({0}) == 0.0);

  SUBCASE("a batch large enough for threads: on 2 threads, each example's own bytes / 255") {
    const int before = num_threads();
    set_num_threads(2);
    ImageBytes many = make_images(300);
    Dataset large = many.dataset().shuffle(7).batch(256);
    const std::optional<Batch> batch = large.next();
    set_num_threads(before);
    REQUIRE(batch.has_value());
    const std::vector<double> pixels = batch->features.to_vector();
    REQUIRE(pixels.size() == 256 * 784);
    int64_t wrong = 0;
    for (size_t b = 0; b < 256; ++b) {
      for (size_t p = 0; p < 784; ++p) {
        const uint8_t byte = many.images.bytes[static_cast<size_t>(batch->indices[b]) * 784 + p];
        wrong += pixels[b * 784 + p] != static_cast<double>(static_cast<float>(byte) / 255.0f) ? 1 : 0;
      }
    }
    CHECK(wrong == 0);
  }

  SUBCASE("images of another rank keep their shape; no channel axis is added") {
    ImageBytes flat = make_images(4, 2, 3);
    flat.images.dims = {4, 6};
    Dataset d = Dataset::from_idx(flat.images, flat.labels);
    CHECK(d.feature_shape() == Shape{6});
    CHECK(one_epoch(d).at(3).features.shape() == Shape{6});
  }
}

TEST_CASE("Dataset: every example once per epoch; the order follows the seed and the epoch") {
  const Dataset dataset = make_images(103, 2, 2).dataset();
  const std::vector<int64_t> identity = iota(103);

  Dataset batches = dataset.shuffle(7).batch(16);
  std::vector<std::vector<int64_t>> orders;
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    CHECK(batches.epoch() == epoch);
    orders.push_back(order_of(batches));
    std::vector<int64_t> sorted = orders.back();
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == identity);
  }
  CHECK(batches.epoch() == 4);
  CHECK(orders[0] != identity);
  for (size_t a = 0; a < orders.size(); ++a) {
    for (size_t b = a + 1; b < orders.size(); ++b) CHECK(orders[a] != orders[b]);
  }

  SUBCASE("the same seed repeats every epoch's order") {
    Dataset again = dataset.shuffle(7).batch(16);
    for (const auto& order : orders) CHECK(order_of(again) == order);
  }
  SUBCASE("the order depends on the seed and epoch, not on the batch size") {
    Dataset other_size = dataset.shuffle(7).batch(5);
    CHECK(order_of(other_size) == orders[0]);
    Dataset unbatched = dataset.shuffle(7);
    CHECK(order_of(unbatched) == orders[0]);
  }
  SUBCASE("the order of a seed is fixed: these numbers on any machine") {
    Dataset small = Dataset::from_tensor_slices(labels_of(8)).shuffle(7);
    CHECK(order_of(small) == std::vector<int64_t>{6, 7, 2, 1, 3, 4, 0, 5});
    CHECK(order_of(small) == std::vector<int64_t>{5, 1, 0, 3, 6, 2, 7, 4});
  }
  SUBCASE("set_epoch jumps to an epoch's order") {
    Dataset jump = dataset.shuffle(7).batch(16);
    jump.set_epoch(2);
    CHECK(order_of(jump) == orders[2]);
    CHECK(jump.epoch() == 3);
    jump.set_epoch(0);
    CHECK(order_of(jump) == orders[0]);
  }
  SUBCASE("another seed, another order") {
    Dataset other = dataset.shuffle(8).batch(16);
    CHECK(order_of(other) != orders[0]);
  }
  SUBCASE("no shuffle: data-set order every epoch") {
    Dataset plain = dataset.batch(16);
    CHECK(order_of(plain) == identity);
    CHECK(order_of(plain) == identity);
  }
  SUBCASE("drop_remainder leaves out different examples each epoch") {
    Dataset drop = dataset.shuffle(7).batch(16, true);
    const std::vector<int64_t> first = order_of(drop);
    CHECK(first.size() == 96);
    CHECK(first == std::vector<int64_t>(orders[0].begin(), orders[0].begin() + 96));
  }
  SUBCASE("a copy reads on from where the original stood, independently") {
    Dataset original = dataset.shuffle(7).batch(16);
    (void)original.next();
    Dataset copy = original;
    CHECK(order_of(copy) == std::vector<int64_t>(orders[0].begin() + 16, orders[0].end()));
    CHECK(original.next()->index == 1);
  }
}

TEST_CASE("Dataset::shard: the shards of global batch k, in shard order, are global batch k") {
  const Dataset dataset = make_images(23, 1, 2).dataset();
  for (const int64_t batch_size : {1, 2, 5, 8, 23, 30}) {
    for (const int64_t shards : {1, 2, 3, 4, 7}) {
      for (const bool drop : {false, true}) {
        CAPTURE(batch_size);
        CAPTURE(shards);
        CAPTURE(drop);
        Dataset global = dataset.shuffle(5).batch(batch_size, drop);
        std::vector<Dataset> parts;
        for (int64_t i = 0; i < shards; ++i)
          parts.push_back(dataset.shuffle(5).batch(batch_size, drop).shard(shards, i));
        for (int epoch = 0; epoch < 2; ++epoch) {
          for (const Dataset& part : parts) CHECK(part.cardinality() == global.cardinality());
          int64_t batches = 0;
          while (const std::optional<Batch> whole = global.next()) {
            const int64_t g = whole->global_size;
            std::vector<int64_t> joined;
            std::vector<double> joined_labels;
            for (int64_t i = 0; i < shards; ++i) {
              const std::optional<Batch> part = parts[static_cast<size_t>(i)].next();
              REQUIRE(part.has_value());
              CHECK(part->index == whole->index);
              CHECK(part->global_size == g);
              // np.array_split: the first g % shards parts have one example more.
              const int64_t expected = g / shards + (i < g % shards ? 1 : 0);
              CHECK(static_cast<int64_t>(part->indices.size()) == expected);
              CHECK(part->features.shape() == Shape{expected, 1, 2, 1});
              CHECK(part->labels.shape() == Shape{expected});
              joined.insert(joined.end(), part->indices.begin(), part->indices.end());
              const std::vector<double> labels = part->labels.to_vector();
              joined_labels.insert(joined_labels.end(), labels.begin(), labels.end());
            }
            CHECK(joined == whole->indices);
            CHECK(joined_labels == whole->labels.to_vector());
            ++batches;
          }
          CHECK(batches == global.cardinality());
          for (Dataset& part : parts) CHECK(!part.next().has_value());  // every shard ends with the epoch
        }
      }
    }
  }
}

TEST_CASE("Dataset::shard: a global batch smaller than the shards leaves some parts empty") {
  Dataset global = Dataset::from_tensor_slices(features_of(5), labels_of(5)).batch(4);
  Dataset last_shard = Dataset::from_tensor_slices(features_of(5), labels_of(5)).batch(4).shard(3, 2);
  CHECK(last_shard.cardinality() == 2);
  const std::vector<Batch> parts = one_epoch(last_shard);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].indices == std::vector<int64_t>{3});  // 4 examples over 3 shards: 2, 1, 1
  CHECK(parts[1].indices.empty());                     // 1 example over 3 shards: 1, 0, 0
  CHECK(parts[1].global_size == 1);
  CHECK(parts[1].features.shape() == Shape{0, 2});
  CHECK(parts[1].labels.shape() == Shape{0});
}

TEST_CASE("Dataset: next() reads an epoch, then nothing, then the next epoch") {
  Dataset batches = make_images(5, 1, 1).dataset().shuffle(3).batch(2);
  int count = 0;
  while (std::optional<Batch> batch = batches.next()) {
    CHECK(batch->index == count);
    ++count;
  }
  CHECK(count == 3);
  CHECK(batches.epoch() == 1);
  REQUIRE(batches.next().has_value());
  // Leaving a range-for early resumes the same epoch where it stopped.
  for (const Batch& batch : batches) {
    CHECK(batch.index == 1);
    break;
  }
  CHECK(batches.next()->index == 2);
  CHECK(!batches.next().has_value());
  CHECK(batches.epoch() == 2);
}

TEST_CASE("Dataset::take, and an empty data set") {
  const Dataset dataset = make_images(50, 2, 2).dataset();
  Dataset limited = dataset.take(20).shuffle(1).batch(8);
  CHECK(limited.num_examples() == 20);
  std::vector<int64_t> order = order_of(limited);
  std::sort(order.begin(), order.end());
  CHECK(order == iota(20));
  CHECK(dataset.take(100).num_examples() == 50);
  Dataset first = dataset.take(3);
  CHECK(order_of(first) == iota(3));

  Dataset none = dataset.take(0).shuffle(1).batch(8);
  CHECK(none.cardinality() == 0);
  CHECK(!none.next().has_value());
  Dataset unset;
  CHECK(unset.cardinality() == 0);
  CHECK(!unset.next().has_value());
  CHECK(one_epoch(unset).empty());
}

TEST_CASE("Dataset: bad arguments and calls out of order are errors naming the call") {
  const Dataset dataset = make_images(4, 2, 2).dataset();
  CHECK(error_of([&] { (void)dataset.batch(0); }) == "Dataset::batch: batch size is 0, expected at least 1");
  CHECK(error_of([&] { (void)dataset.batch(2).batch(2); }) ==
        "Dataset::batch: the data set is batched already (batch size 2)");
  CHECK(contains(error_of([&] { (void)dataset.batch(2).shuffle(1); }), "Dataset::shuffle: the data set is batched"));
  CHECK(error_of([&] { (void)dataset.shuffle(1).shuffle(2); }) ==
        "Dataset::shuffle: the data set is shuffled already (seed 1)");
  CHECK(contains(error_of([&] { (void)dataset.shard(2, 0); }), "Dataset::shard: the data set is not batched"));
  CHECK(error_of([&] { (void)dataset.batch(2).shard(0, 0); }) ==
        "Dataset::shard: num_shards is 0, expected at least 1");
  CHECK(error_of([&] { (void)dataset.batch(2).shard(2, 2); }) ==
        "Dataset::shard: index is 2, expected 0 to 1 for 2 shards");
  CHECK(error_of([&] { (void)dataset.batch(2).shard(2, -1); }) ==
        "Dataset::shard: index is -1, expected 0 to 1 for 2 shards");
  CHECK(error_of([&] { (void)dataset.batch(2).shard(2, 0).shard(2, 1); }) ==
        "Dataset::shard: the data set is shard 0 of 2 already");
  CHECK(error_of([&] { (void)dataset.take(-1); }) == "Dataset::take: n is -1, expected n >= 0");
  CHECK(contains(error_of([&] { (void)dataset.shuffle(1).take(2); }), "Dataset::take: call take before shuffle"));
  Dataset batches = dataset.batch(2);
  CHECK(error_of([&] { batches.set_epoch(-1); }) == "Dataset::set_epoch: epoch is -1, expected at least 0");

  SUBCASE("from_tensor_slices") {
    CHECK(error_of([] { Dataset::from_tensor_slices(Tensor()); }) ==
          "Dataset::from_tensor_slices: features is an undefined tensor");
    CHECK(contains(error_of([] { Dataset::from_tensor_slices(Tensor::scalar(1.0)); }),
                   "Dataset::from_tensor_slices: features is a scalar"));
    CHECK(contains(error_of([] { Dataset::from_tensor_slices(features_of(3), Tensor::scalar(1.0)); }),
                   "Dataset::from_tensor_slices: labels is a scalar"));
    CHECK(error_of([] { Dataset::from_tensor_slices(features_of(3), labels_of(4)); }) ==
          "Dataset::from_tensor_slices: features 3x2 and labels 4 differ in their first dimension, the number of "
          "examples (3 and 4)");
  }
  SUBCASE("from_idx") {
    const ImageBytes good = make_images(4, 2, 2);
    ImageBytes mismatched = good;
    mismatched.labels = IdxArray{{1, 2, 3}, {3}, IdxType::u8};
    CHECK(error_of([&] { mismatched.dataset(); }) == "Dataset::from_idx: 4 images but 3 labels");
    ImageBytes short_bytes = good;
    short_bytes.images.bytes.pop_back();
    CHECK(contains(error_of([&] { short_bytes.dataset(); }), "Dataset::from_idx: 15 image bytes"));
    ImageBytes signed_bytes = good;
    signed_bytes.images.type = IdxType::i8;
    CHECK(contains(error_of([&] { signed_bytes.dataset(); }), "Dataset::from_idx: images and labels must be unsigned"));
    ImageBytes two_dim_labels = good;
    two_dim_labels.labels.dims = {4, 1};
    CHECK(error_of([&] { two_dim_labels.dataset(); }) == "Dataset::from_idx: labels have dims 4x1, expected (N)");
  }
}

TEST_CASE("Dataset: state and load_state continue mid-epoch and across epochs, in the same order") {
  const Dataset dataset = make_images(23, 2, 2).dataset();
  Dataset straight = dataset.shuffle(42).batch(4);
  (void)order_of(straight);  // epoch 0
  (void)straight.next(), (void)straight.next();
  const NamedTensors middle = straight.state();
  const std::vector<int64_t> rest = order_of(straight);  // the rest of epoch 1 after 2 batches
  const NamedTensors between = straight.state();
  const std::vector<int64_t> epoch2 = order_of(straight);

  Dataset resumed = dataset.batch(4);  // the seed comes back with the state
  resumed.load_state(middle);
  CHECK(resumed.epoch() == 1);
  const std::optional<Batch> third = resumed.next();
  REQUIRE(third.has_value());
  CHECK(third->index == 2);
  std::vector<int64_t> order = third->indices;
  const std::vector<int64_t> tail = order_of(resumed);
  order.insert(order.end(), tail.begin(), tail.end());
  CHECK(order == rest);
  CHECK(order_of(resumed) == epoch2);

  resumed.load_state(between);
  CHECK(resumed.epoch() == 2);
  CHECK(order_of(resumed) == epoch2);

  SUBCASE("a shard resumes its part") {
    Dataset shard = dataset.shuffle(42).batch(4).shard(2, 1);
    shard.load_state(middle);
    const std::optional<Batch> part = shard.next();
    REQUIRE(part.has_value());
    CHECK(part->indices == std::vector<int64_t>(third->indices.begin() + 2, third->indices.end()));
  }
  SUBCASE("bad states are errors") {
    NamedTensors bad = between;
    bad[1].second = Tensor::scalar(24, DType::int64);
    CHECK_THROWS_WITH_AS(resumed.load_state(bad), "Dataset::load_state: position is 24, but an epoch has 23 examples",
                         Error);
    bad[1].second = Tensor::scalar(6, DType::int64);
    CHECK_THROWS_WITH_AS(resumed.load_state(bad),
                         "Dataset::load_state: position is 6, which is not at the start of a batch of 4", Error);
    bad[1].second = Tensor::scalar(1.0);
    CHECK_THROWS_WITH_AS(resumed.load_state(bad), "Dataset::load_state: 'position' must be an int64 scalar", Error);
    bad[1].first = "where";
    bad[1].second = Tensor::scalar(4, DType::int64);
    CHECK(contains(error_of([&] { resumed.load_state(bad); }), "Dataset::load_state: unexpected entry 'where'"));
    CHECK(error_of([&] { resumed.load_state({}); }) == "Dataset::load_state: the state needs 'epoch' and 'position'");
  }
}
