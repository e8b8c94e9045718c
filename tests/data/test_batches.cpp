#include <tapegrad/data/batches.hpp>

#include "helpers.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

using namespace tapegrad;
using namespace tapegrad::data;
using namespace tapegrad::data::testing;

namespace {

// Every batch of one epoch, read through range-for.
std::vector<Batch> one_epoch(Batches& batches) {
  std::vector<Batch> out;
  for (const Batch& batch : batches) out.push_back(batch);
  return out;
}

// The example order of one epoch.
std::vector<int64_t> order_of(Batches& batches) {
  std::vector<int64_t> order;
  for (const Batch& batch : batches) order.insert(order.end(), batch.indices.begin(), batch.indices.end());
  return order;
}

}  // namespace

TEST_CASE("Batches: batch sizes, the last partial batch and drop_last") {
  const Dataset dataset = make_dataset(10, 4, 3);
  SUBCASE("keep the last batch") {
    Batches batches(dataset, 4, 1);
    CHECK(batches.size() == 3);
    CHECK(batches.examples() == 10);
    CHECK(batches.batch_size() == 4);
    const std::vector<Batch> epoch = one_epoch(batches);
    REQUIRE(epoch.size() == 3);
    for (int64_t b = 0; b < 3; ++b) {
      const int64_t count = b < 2 ? 4 : 2;
      CHECK(epoch[b].index == b);
      CHECK(epoch[b].images.shape() == Shape{count, 4, 3, 1});
      CHECK(epoch[b].images.dtype() == DType::float32);
      CHECK(epoch[b].labels.shape() == Shape{count});
      CHECK(epoch[b].labels.dtype() == DType::int64);
      CHECK(static_cast<int64_t>(epoch[b].indices.size()) == count);
    }
  }
  SUBCASE("drop_last") {
    Batches batches(dataset, 4, 1, true);
    CHECK(batches.size() == 2);
    CHECK(batches.examples() == 8);
    const std::vector<Batch> epoch = one_epoch(batches);
    REQUIRE(epoch.size() == 2);
    for (const Batch& batch : epoch) CHECK(batch.images.shape() == Shape{4, 4, 3, 1});
  }
  SUBCASE("an exact multiple") {
    Batches batches(dataset, 5, std::nullopt, true);
    CHECK(batches.size() == 2);
    CHECK(one_epoch(batches).size() == 2);
  }
  SUBCASE("a batch larger than the data set") {
    Batches keep(dataset, 64, 1);
    CHECK(keep.size() == 1);
    CHECK(one_epoch(keep).at(0).labels.numel() == 10);
    Batches drop(dataset, 64, 1, true);
    CHECK(drop.size() == 0);
    CHECK(one_epoch(drop).empty());
  }
}

TEST_CASE("Batches: images are the example's bytes / 255 in NHWC, labels exact") {
  Dataset dataset = make_dataset(7, 2, 3);
  dataset.images.bytes[0] = 0;
  dataset.images.bytes[1] = 255;
  Batches batches(dataset, 3, 42);
  for (const Batch& batch : batches) {
    const std::vector<double> pixels = batch.images.to_vector();
    const std::vector<double> labels = batch.labels.to_vector();
    for (size_t b = 0; b < batch.indices.size(); ++b) {
      const int64_t example = batch.indices[b];
      CHECK(labels[b] == dataset.labels.bytes[static_cast<size_t>(example)]);
      for (size_t p = 0; p < 6; ++p) {
        const uint8_t byte = dataset.images.bytes[static_cast<size_t>(example) * 6 + p];
        CHECK(pixels[b * 6 + p] == doctest::Approx(byte / 255.0).epsilon(1e-7));
      }
    }
    for (double pixel : pixels) {
      CHECK(pixel >= 0.0);
      CHECK(pixel <= 1.0);
    }
  }
  // The extremes land exactly on 0 and 1.
  Batches in_order(dataset, 1, std::nullopt);
  const std::optional<Batch> first = in_order.next();
  REQUIRE(first.has_value());
  CHECK(first->images.at({0, 0, 0, 0}) == 0.0);
  CHECK(first->images.at({0, 0, 1, 0}) == 1.0);
  CHECK(first->labels.at({0}) == 0.0);
}

TEST_CASE("Batches: every example once per epoch; the order follows the seed and the epoch") {
  const Dataset dataset = make_dataset(103, 2, 2);
  std::vector<int64_t> identity(103);
  std::iota(identity.begin(), identity.end(), 0);

  Batches batches(dataset, 16, 7);
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
    Batches again(dataset, 16, 7);
    for (const auto& order : orders) CHECK(order_of(again) == order);
  }
  SUBCASE("the order depends on the seed and epoch, not on the batch size") {
    Batches other_size(dataset, 5, 7);
    CHECK(order_of(other_size) == orders[0]);
  }
  SUBCASE("set_epoch jumps to an epoch's order") {
    Batches jump(dataset, 16, 7);
    jump.set_epoch(2);
    CHECK(order_of(jump) == orders[2]);
    CHECK(jump.epoch() == 3);
    jump.set_epoch(0);
    CHECK(order_of(jump) == orders[0]);
  }
  SUBCASE("another seed, another order") {
    Batches other(dataset, 16, 8);
    CHECK(order_of(other) != orders[0]);
  }
  SUBCASE("no seed: data-set order every epoch") {
    Batches plain(dataset, 16, std::nullopt);
    CHECK(order_of(plain) == identity);
    CHECK(order_of(plain) == identity);
  }
  SUBCASE("drop_last leaves out different examples each epoch") {
    Batches drop(dataset, 16, 7, true);
    const std::vector<int64_t> first = order_of(drop);
    CHECK(first.size() == 96);
    CHECK(first == std::vector<int64_t>(orders[0].begin(), orders[0].begin() + 96));
  }
}

TEST_CASE("Batches: next() reads an epoch, then nothing, then the next epoch") {
  const Dataset dataset = make_dataset(5, 1, 1);
  Batches batches(dataset, 2, 3);
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

TEST_CASE("Batches: a limited subset and an empty data set") {
  const Dataset dataset = make_dataset(50, 2, 2);
  const Dataset limited = dataset.take(20);
  Batches batches(limited, 8, 1);
  std::vector<int64_t> order = order_of(batches);
  std::sort(order.begin(), order.end());
  CHECK(order.size() == 20);
  CHECK(order.back() == 19);

  const Dataset empty = dataset.take(0);
  Batches none(empty, 8, 1);
  CHECK(none.size() == 0);
  CHECK(!none.next().has_value());
}

TEST_CASE("Batches: bad arguments are errors") {
  const Dataset dataset = make_dataset(4, 2, 2);
  CHECK(error_of([&] { Batches(dataset, 0, 1); }) == "Batches: batch size is 0, expected at least 1");
  Dataset mismatched = dataset;
  mismatched.labels = IdxArray{{1, 2, 3}, {3}, IdxType::u8};
  CHECK(error_of([&] { Batches(mismatched, 2, 1); }) == "Batches: 4 images but 3 labels");
  Dataset flat = dataset;
  flat.images.dims = {4, 4};
  CHECK(error_of([&] { Batches(flat, 2, 1); }) == "Batches: images have dims 4x4, expected (N, H, W)");
  Dataset short_bytes = dataset;
  short_bytes.images.bytes.pop_back();
  CHECK(contains(error_of([&] { Batches(short_bytes, 2, 1); }), "15 image bytes"));
  Batches batches(dataset, 2, 1);
  CHECK(contains(error_of([&] { batches.set_epoch(-1); }), "epoch is -1"));
}

TEST_CASE("Batches: state and load_state continue mid-epoch and across epochs, in the same order") {
  const Dataset dataset = make_dataset(23, 2, 2);
  Batches straight(dataset, 4, 42);
  (void)order_of(straight);       // epoch 0
  std::vector<int64_t> expected;  // the rest of epoch 1 after 2 batches, then epoch 2
  (void)straight.next(), (void)straight.next();
  const NamedTensors middle = straight.state();
  const std::vector<int64_t> rest = order_of(straight);
  const NamedTensors between = straight.state();
  const std::vector<int64_t> epoch2 = order_of(straight);

  Batches resumed(dataset, 4, /*shuffle_seed=*/std::nullopt);  // the seed comes back with the state
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

  SUBCASE("bad states are errors") {
    NamedTensors bad = between;
    bad[1].second = Tensor::scalar(24, DType::int64);
    CHECK_THROWS_WITH_AS(resumed.load_state(bad), "Batches::load_state: position is 24, but an epoch has 23 examples",
                         Error);
    bad[1].second = Tensor::scalar(1.0);
    CHECK_THROWS_WITH_AS(resumed.load_state(bad), "Batches::load_state: 'position' must be an int64 scalar", Error);
  }
}
