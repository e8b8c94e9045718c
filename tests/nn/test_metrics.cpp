// nn::Mean and nn::SparseCategoricalAccuracy: exact values over several updates, resets, weights,
// and bad input.

#include <tapegrad/nn/metrics.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <cmath>

using namespace tapegrad;

TEST_CASE("Mean: the weighted mean over every update, 0 before the first, cleared by reset_state") {
  nn::Mean mean("loss");
  CHECK(mean.name() == "loss");
  CHECK(mean.result() == 0.0);
  mean.update_state(Tensor({1, 2, 3, 4}, {4}));  // total 10, count 4
  CHECK(mean.result() == 2.5);
  mean.update_state(Tensor::scalar(5.0, DType::float64), 2.0);  // total 20, count 6
  CHECK(mean.total() == 20.0);
  CHECK(mean.count() == 6.0);
  CHECK(mean.result() == 20.0 / 6.0);
  CHECK(mean(Tensor({7, 9}, {2}, DType::int64)) == 36.0 / 8.0);  // int64 values too
  mean.update_state(Tensor({100}, {1}), 0.0);                    // a zero weight changes nothing
  CHECK(mean.result() == 36.0 / 8.0);
  mean.reset_state();
  CHECK(mean.result() == 0.0);
  CHECK(mean.count() == 0.0);
  mean.update_state(Tensor({3}, {1}));
  CHECK(mean.result() == 3.0);

  SUBCASE("a tensor of weights broadcasts to the values") {
    nn::Mean weighted;
    CHECK(weighted.name() == "mean");
    weighted.update_state(Tensor({1, 2, 3, 4}, {2, 2}), Tensor({1, 3}, {2}));  // (1 + 6 + 3 + 12) / 8
    CHECK(weighted.result() == 22.0 / 8.0);
    weighted.update_state(Tensor({10, 20}, {2}), Tensor::scalar(0.5));  // + (5 + 10) / 1
    CHECK(weighted.result() == 37.0 / 9.0);
  }
  SUBCASE("the loss per batch, weighted by the batch size: the mean over the examples") {
    nn::Mean loss("loss");
    loss.update_state(Tensor::scalar(0.5), 4);  // a batch of 4 with mean loss 0.5
    loss.update_state(Tensor::scalar(2.0), 1);  // a last batch of 1
    CHECK(loss.result() == doctest::Approx((0.5 * 4 + 2.0) / 5).epsilon(1e-15));
  }
  SUBCASE("under a tape, nothing is recorded") {
    Variable w(Tensor({2}, {1}), "w");
    GradientTape tape;
    const Tensor loss = sum(w * w);
    nn::Mean metric;
    metric.update_state(loss, Tensor::scalar(2.0));
    CHECK(tape.gradient(loss, w).to_vector() == std::vector<double>{4});
    CHECK(metric.result() == 4.0);
  }
  SUBCASE("bad input is an error naming the metric, and changes nothing") {
    nn::Mean m("loss");
    m.update_state(Tensor({1}, {1}));
    CHECK_THROWS_WITH_AS(m.update_state(Tensor()), "loss.update_state: values is an undefined tensor", Error);
    CHECK_THROWS_WITH_AS(m.update_state(Tensor({1}, {1}), -1.0),
                         "loss.update_state: sample_weight must be finite and >= 0, got -1", Error);
    CHECK_THROWS_WITH_AS(m.update_state(Tensor({1}, {1}), std::nan("")),
                         "loss.update_state: sample_weight must be finite and >= 0, got nan", Error);
    CHECK_THROWS_WITH_AS(m.update_state(Tensor({1, 2}, {2}), Tensor({1, 1, 1}, {3})),
                         "loss.update_state: sample_weight 3 does not broadcast to the values' shape 2", Error);
    CHECK_THROWS_WITH_AS(m.update_state(Tensor({1, 2}, {2}), Tensor({1, -1}, {2})),
                         "loss.update_state: sample_weight must be finite and >= 0, got -1", Error);
    CHECK(m.result() == 1.0);
    CHECK(m.count() == 1.0);
  }
}

TEST_CASE("SparseCategoricalAccuracy: argmax(y_pred) == y_true, counted over every update") {
  nn::SparseCategoricalAccuracy accuracy;
  CHECK(accuracy.name() == "sparse_categorical_accuracy");
  CHECK(accuracy.result() == 0.0);
  const Tensor logits({0.1, 0.9, 0.0,      // 1
                       2.0, 1.0, 0.5,      // 0
                       0.0, 0.0, 3.0,      // 2
                       -1.0, -2.0, -0.5},  // 2
                      {4, 3});
  accuracy.update_state(Tensor({1, 0, 1, 2}, {4}, DType::int64), logits);  // 3 of 4
  CHECK(accuracy.correct() == 3);
  CHECK(accuracy.count() == 4);
  CHECK(accuracy.result() == 0.75);
  // A second batch, labels with a last axis of 1 (Keras squeezes it), float labels: 0 of 2.
  CHECK(accuracy(Tensor({2, 2}, {2, 1}), Tensor({1, 0, 0, 1, 0, 0}, {2, 3})) == 0.5);
  // Ties go to the first largest score, as argmax.
  accuracy.update_state(Tensor({0}, {1}, DType::int64), Tensor({5, 5, 1}, {1, 3}));
  CHECK(accuracy.result() == 4.0 / 7.0);
  accuracy.reset_state();
  CHECK(accuracy.result() == 0.0);
  CHECK(accuracy.count() == 0);

  SUBCASE("the classes are on the last axis of a batch of any rank") {
    nn::SparseCategoricalAccuracy per_pixel("pixels");
    const Tensor scores({1, 0, 0, 1, 1, 0, 0, 1}, {2, 2, 2});  // classes 0, 1, 0, 1
    per_pixel.update_state(Tensor({0, 1, 1, 1}, {2, 2}, DType::int64), scores);
    CHECK(per_pixel.result() == 0.75);
  }
  SUBCASE("bad input is an error naming the metric") {
    nn::SparseCategoricalAccuracy acc("accuracy");
    CHECK_THROWS_WITH_AS(acc.update_state(Tensor({1, 0}, {2}, DType::int64), logits),
                         "accuracy.update_state: y_true is 2 for y_pred 4x3; expected labels of shape 4 (y_pred's "
                         "without its last axis)",
                         Error);
    CHECK_THROWS_WITH_AS(acc.update_state(Tensor({1}, {1}, DType::int64), Tensor::scalar(1.0)),
                         doctest::Contains("accuracy.update_state: y_pred is scalar float32; expected float scores"),
                         Error);
    CHECK_THROWS_WITH_AS(acc.update_state(Tensor({1}, {1}, DType::int64), Tensor({1}, {1, 1}, DType::int64)),
                         doctest::Contains("y_pred is 1x1 int64"), Error);
    CHECK_THROWS_WITH_AS(acc.update_state(Tensor(), logits), "accuracy.update_state: y_true is an undefined tensor",
                         Error);
    CHECK(acc.count() == 0);
  }
}
