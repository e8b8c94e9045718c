// GradientTape: TensorFlow's semantics, graph edge cases, nested tapes.

#include <tapegrad/tapegrad.hpp>
#include "autograd/ops/record.hpp"
#include "tests/autograd/check_values.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace tapegrad;

namespace {

using testing::f64;

void check_values(const Tensor& t, const std::vector<double>& expected, double tolerance = 1e-6) {
  testing::check_values(t, expected, tolerance);
}

}  // namespace

TEST_CASE("GradientTape: watch") {
  SUBCASE("a watched tensor gets its gradient") {
    const Tensor x({1, 2, 3}, {3});
    GradientTape tape;
    tape.watch(x);
    CHECK(tape.watched().contains(x.id()));
    const Tensor y = sum(x * x);
    check_values(tape.gradient(y, x), {2, 4, 6});
  }
  SUBCASE("an unwatched tensor is not recorded and gets no gradient") {
    const Tensor x({1, 2, 3}, {3});
    const Tensor w({1, 1, 1}, {3});
    GradientTape tape;
    tape.watch(w);
    const Tensor y = sum(x * x);
    CHECK(tape.entries().empty());
    CHECK_FALSE(tape.gradient(y, x).defined());
  }
  SUBCASE("ops on watched tensors are entries, in execution order") {
    const Tensor x({1, 2}, {2});
    GradientTape tape;
    tape.watch(x);
    const Tensor y = exp(x * x + x);
    REQUIRE(tape.entries().size() == 3);
    CHECK(std::string(tape.entries()[0].op) == "mul");
    CHECK(std::string(tape.entries()[1].op) == "add");
    CHECK(std::string(tape.entries()[2].op) == "exp");
    CHECK(tape.entries()[2].output.id() == y.id());
    CHECK(tape.entries()[1].inputs[0].id == tape.entries()[0].output.id());
    CHECK(tape.entries()[1].inputs[1].id == x.id());
    CHECK(tape.entries()[1].inputs[1].shape == x.shape());
  }
}

TEST_CASE("GradientTape: entries keep inputs only when the backward reads them") {
  Tensor x({1, 2}, {2});
  GradientTape tape;
  tape.watch(x);
  SUBCASE("add reads shapes only: its inputs are not held") {
    Tensor y = x + 1.0;
    Tensor z = y + x;
    const TapeEntry& entry = tape.entries().back();
    CHECK_FALSE(entry.inputs[0].value.defined());
    CHECK(entry.inputs[0].id == y.id());
    CHECK(entry.inputs[0].shape == Shape{2});
    CHECK(entry.inputs[0].dtype == DType::float32);
    y = Tensor{};  // the entry does not keep it alive, and the gradient still flows through it
    check_values(tape.gradient(z, x), {2, 2});
  }
  SUBCASE("mul reads its inputs: they are held") {
    const Tensor z = x * x;
    CHECK(tape.entries().back().inputs[0].value.id() == x.id());
    check_values(tape.gradient(z, x), {2, 4});
  }
}

namespace {
// What the backward of "pass_through_probe" saw: whether BackwardArgs::grad was still there after
// each grad_if_needed call, and the ids of the gradients those calls returned.
struct ProbeSeen {
  bool grad_after_first = false;
  bool grad_after_last = false;
  uint64_t first_id = 0;
  uint64_t last_id = 0;
};
ProbeSeen probe_seen;

Grads probe_backward(const BackwardArgs& args) {
  probe_seen = {};
  Tensor first = args.grad_if_needed(0);
  probe_seen.grad_after_first = args.grad.defined();
  Tensor last = args.grad_if_needed(1);
  probe_seen.grad_after_last = args.grad.defined();
  probe_seen.first_id = first.defined() ? first.id() : 0;
  probe_seen.last_id = last.defined() ? last.id() : 0;
  return {first, last};
}
}  // namespace

TEST_CASE("GradientTape: grad_if_needed gives the upstream itself, and the last input takes the sweep's handle") {
  // A pass-through gradient (add, sub, a variable read) is the upstream tensor, not a copy of it. The
  // last input that needs it takes the sweep's own handle (a reference-count update saved), so the
  // backward's `grad` is empty after that call; not when a trace will print the upstream later.
  const Tensor x({1, 2}, {2});
  const Tensor c({3, 4}, {2});
  const Tensor seed({5, 7}, {2});
  for (const bool traced : {false, true}) {
    CAPTURE(traced);
    GradientOptions options;
    options.output_gradients = seed;
    if (traced) options.trace = [](const std::string&) {};
    {  // both inputs need it: the first gets a handle, the last takes the sweep's
      GradientTape tape;
      tape.watch(x);
      const Tensor y = record("pass_through_probe", {x, x}, Tensor({2, 4}, {2}), probe_backward, {}, InputUse::shapes);
      check_values(tape.gradient(y, x, options), {10, 14});
      CHECK(probe_seen.grad_after_first);
      CHECK(probe_seen.grad_after_last == traced);
      CHECK(probe_seen.first_id == seed.id());
      CHECK(probe_seen.last_id == seed.id());
    }
    {  // only the first input needs it: it takes the sweep's handle
      GradientTape tape;
      tape.watch(x);
      const Tensor y = record("pass_through_probe", {x, c}, Tensor({4, 6}, {2}), probe_backward, {}, InputUse::shapes);
      check_values(tape.gradient(y, x, options), {5, 7});
      CHECK(probe_seen.grad_after_first == traced);
      CHECK(probe_seen.first_id == seed.id());
      CHECK(probe_seen.last_id == 0);
    }
  }
}

TEST_CASE("GradientTape: pass-through gradients handed over leave sources' gradients and the tape whole") {
  // add, sub and a variable read pass the upstream on, the last input that needs it taking the
  // sweep's handle (tested above). Here: a source in the middle keeps its gradient, values are right
  // with and without a trace, and the persistent tape computes again.
  const Tensor x({1, 2}, {2});
  Variable v(Tensor({3, 4}, {2}), "v");
  for (const bool traced : {false, true}) {
    CAPTURE(traced);
    GradientOptions options;
    if (traced) options.trace = [](const std::string&) {};
    GradientTape tape({.persistent = true});
    tape.watch(x);
    const Tensor y = x + x;            // both inputs need it: one handle, one handover
    const Tensor z = (y - x) + v * y;  // y is also a source below
    const std::vector<Tensor> grads = tape.gradient(z, {Source(x), Source(y), Source(v)}, options);
    check_values(grads[0], {2 * 1 - 1 + 2 * 3, 2 * 1 - 1 + 2 * 4});  // d/dx: 2(1 + v) - 1
    check_values(grads[1], {1 + 3, 1 + 4});                          // d/dy: 1 + v
    check_values(grads[2], {2, 4});                                  // d/dv: y
    check_values(tape.gradient(y + x, x, options), {3, 3});          // the tape is still whole
  }
}

TEST_CASE("GradientTape: a backward that reads an input its op did not keep is an error") {
  const Tensor x({1, -2, 3}, {3});
  GradientTape tape;
  tape.watch(x);
  const Tensor y = record(
      "shapes_only_square", {x}, square(x).to(DType::float32),
      [](const BackwardArgs& args) -> Grads { return {args.grad * args.input(0) * 2.0}; }, {}, InputUse::shapes);
  CHECK_THROWS_WITH_AS(tape.gradient(y, x),
                       doctest::Contains("backward of shapes_only_square: reads input 0 (3 float32)"), Error);
}

TEST_CASE("GradientTape: a backward's gradients must fit its inputs, or the error names the op") {
  const Tensor x = Tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::float64);
  const Tensor w = f64({1, 2, 3});
  GradientTape tape;
  tape.watch(x);
  tape.watch(w);
  SUBCASE("a gradient of another dtype") {
    const Tensor y = record(
        "float32_grad", {x, w}, x * w,
        [](const BackwardArgs& args) -> Grads {
          return {args.grad, sum(args.grad, 0).to(DType::float32)};
        },
        {}, InputUse::shapes);
    CHECK_THROWS_WITH_AS(tape.gradient(y, {x, w}),
                         "GradientTape::gradient: the backward of 'float32_grad' returned a float32 gradient of "
                         "shape 3 for input 1, a float64 tensor of shape 3",
                         Error);
  }
  SUBCASE("a gradient of a shape that does not broadcast to the input's") {
    const Tensor y = record(
        "short_grad", {w, x}, w * x,
        [](const BackwardArgs& args) -> Grads {
          return {args.grad, sum(args.grad, 0)};
        },
        {}, InputUse::shapes);
    CHECK_THROWS_WITH_AS(tape.gradient(y, {x, w}),
                         "GradientTape::gradient: the backward of 'short_grad' returned a float64 gradient of shape 3 "
                         "for input 1, a float64 tensor of shape 2x3",
                         Error);
  }
  SUBCASE("a gradient of the output's shape is summed back to a broadcast input's") {
    const Tensor y = record(
        "broadcast_mul", {x, w}, x * w,
        [](const BackwardArgs& args) -> Grads {
          return {args.grad * 2.0, args.grad * 3.0};
        },
        {}, InputUse::shapes);
    const std::vector<Tensor> grads = tape.gradient(y, {x, w});
    check_values(grads[0], {2, 2, 2, 2, 2, 2});
    check_values(grads[1], {6, 6, 6});
  }
  SUBCASE("a wrong number of gradients") {
    const Tensor y = record(
        "one_grad", {x, w}, x * w, [](const BackwardArgs& args) -> Grads { return {args.grad}; }, {}, InputUse::shapes);
    CHECK_THROWS_WITH_AS(tape.gradient(y, x),
                         "GradientTape::gradient: the backward of 'one_grad' returned 1 gradients for 2 inputs", Error);
  }
}

TEST_CASE("GradientTape: variables") {
  SUBCASE("watch_accessed_variables (default): trainable variables read are watched") {
    Variable v(Tensor({1, 2}, {2}), "v");
    GradientTape tape;
    const Tensor y = sum(v * v + v);
    CHECK(tape.watched().contains(v.id()));
    check_values(tape.gradient(y, v), {3, 5});
  }
  SUBCASE("watch_accessed_variables = false: only what is watched explicitly") {
    Variable v(Tensor({1, 2}, {2}), "v");
    Variable w(Tensor({3, 4}, {2}), "w");
    GradientTape tape({.watch_accessed_variables = false});
    tape.watch(w);
    const Tensor y = sum(v * w);
    CHECK_FALSE(tape.watched().contains(v.id()));
    CHECK(tape.watched().contains(w.id()));
    const auto grads = tape.gradient(y, {v, w});
    CHECK_FALSE(grads[0].defined());
    check_values(grads[1], {1, 2});
  }
  SUBCASE("a non-trainable variable is not watched unless asked") {
    Variable c(Tensor({2, 3}, {2}), "c", false);
    Variable v(Tensor({5, 7}, {2}), "v");
    {
      GradientTape tape;
      const Tensor y = sum(c * v);
      CHECK_FALSE(tape.watched().contains(c.id()));
      const auto grads = tape.gradient(y, {c, v});
      CHECK_FALSE(grads[0].defined());
      check_values(grads[1], {2, 3});
    }
    {
      GradientTape tape;
      tape.watch(c);
      const Tensor y = sum(c * v);
      check_values(tape.gradient(y, c), {5, 7});
    }
  }
  SUBCASE("each variable gets its own gradient, even when made from one tensor") {
    const Tensor init({1, 1}, {2});
    Variable a(init, "a"), b(init, "b");
    GradientTape tape;
    const Tensor y = sum(a * 2.0 + b * 3.0);
    const auto grads = tape.gradient(y, {a, b});
    check_values(grads[0], {2, 2});
    check_values(grads[1], {3, 3});
  }
  SUBCASE("a variable assigned another variable's value keeps its own gradient") {
    Variable a(Tensor({1, 2}, {2}), "a"), b(zeros({2}), "b");
    b.assign(a.value());
    GradientTape tape;
    const Tensor y = sum(a * 2.0 + b * b);
    const auto grads = tape.gradient(y, {a, b});
    check_values(grads[0], {2, 2});
    check_values(grads[1], {2, 4});
  }
  SUBCASE("a watched tensor that also initialised a variable keeps its own gradient") {
    const Tensor x({1, 2}, {2});
    Variable v(x, "v");
    GradientTape tape;
    tape.watch(x);
    const Tensor y = sum(v * 2.0 + x * 3.0);
    const auto grads = tape.gradient(y, {v, x});
    check_values(grads[0], {2, 2});
    check_values(grads[1], {3, 3});
  }
  SUBCASE("a variable takes a tensor no one else holds, and copies one held elsewhere") {
    const Tensor x({1, 2}, {2});
    Variable v(x, "v");
    CHECK(v.value().id() != x.id());
    v.assign(x);
    CHECK(v.value().id() != x.id());
    const uint64_t before = v.value().id();
    v.assign_add(x);  // the sum is held by no one else: taken as it is
    CHECK(v.value().id() != before);
    CHECK(v.value().id() != x.id());
    check_values(v.value(), {2, 4});
  }
  SUBCASE("assign after recording does not change what the tape recorded") {
    Variable v(Tensor({1, 2}, {2}), "v");
    GradientTape tape;
    const Tensor y = sum(v * v);
    v.assign(Tensor({10, 20}, {2}));
    CHECK(y.item() == 5);
    check_values(tape.gradient(y, v), {2, 4});  // d(v.v)/dv at the recorded value [1, 2]
    check_values(v.value(), {10, 20});
  }
  SUBCASE("assign_sub and assign_add are not recorded") {
    Variable v(Tensor({1, 2}, {2}), "v");
    GradientTape tape;
    v.assign_sub(Tensor({0.5, 0.5}, {2}));
    v.assign_add(Tensor({0.25, 0.25}, {2}));
    CHECK(tape.entries().empty());
    check_values(v.value(), {0.75, 1.75});
  }
}

TEST_CASE("GradientTape: persistent or not") {
  const Tensor x = f64({1, 2, 3});
  SUBCASE("a persistent tape gives many gradients") {
    GradientTape tape({.persistent = true});
    tape.watch(x);
    const Tensor y = x * x;
    const Tensor z = y * x;
    check_values(tape.gradient(y, x), {2, 4, 6});
    check_values(tape.gradient(z, x), {3, 12, 27});
    check_values(tape.gradient(y, x), {2, 4, 6});
    check_values(tape.gradient(z, y), {1, 2, 3});
  }
  SUBCASE("a non-persistent tape refuses a second gradient") {
    GradientTape tape;
    tape.watch(x);
    const Tensor y = x * x;
    check_values(tape.gradient(y, x), {2, 4, 6});
    CHECK_THROWS_WITH_AS(tape.gradient(y, x), doctest::Contains("persistent"), Error);
  }
  SUBCASE("gradient inside the tape's scope, as the book's loop does: the kernel is learned") {
    const Tensor X = ones({6, 8}).with({all, {2, 6}}, 0);
    const Tensor Y = corr2d(X, Tensor({1, -1}, {1, 2}));
    Variable K(Tensor({0.3, 0.2}, {1, 2}), "K");
    double first_loss = 0, last_loss = 0;
    for (int epoch = 0; epoch < 10; ++epoch) {
      GradientTape tape({.watch_accessed_variables = false});
      tape.watch(K);
      const Tensor l = pow(abs(corr2d(X, K) - Y), 2);
      const Tensor grad = tape.gradient(l, K);
      K.assign(K.value() - grad * 3e-2);
      last_loss = sum(l).item();
      if (epoch == 0) first_loss = last_loss;
      const size_t recorded = tape.entries().size();
      (void)(X * 2.0);  // still in scope after gradient: ops on unwatched tensors stay unrecorded
      CHECK(tape.entries().size() == recorded);
    }
    CHECK(last_loss < first_loss / 100);
    CHECK(K.value().flat(0) == doctest::Approx(1.0).epsilon(0.05));
    CHECK(K.value().flat(1) == doctest::Approx(-1.0).epsilon(0.05));
  }
}

TEST_CASE("GradientTape: targets and seeds") {
  const Tensor x = f64({1, 2, 3});
  SUBCASE("a non-scalar target: the gradient of its sum") {
    GradientTape tape({.persistent = true});
    tape.watch(x);
    const Tensor y = x * x;
    const Tensor s = sum(y);
    CHECK(tape.gradient(y, x).to_vector() == tape.gradient(s, x).to_vector());
    check_values(tape.gradient(y, x), {2, 4, 6});
  }
  SUBCASE("output_gradients seeds the target's gradient") {
    GradientTape tape;
    tape.watch(x);
    const Tensor y = x * x;
    GradientOptions options;
    options.output_gradients = f64({1, -1, 0.5});
    check_values(tape.gradient(y, x, options), {2, -4, 3});
  }
  SUBCASE("a source that is the target itself gets ones") {
    GradientTape tape({.persistent = true});
    tape.watch(x);
    check_values(tape.gradient(x, x), {1, 1, 1});
    const Tensor y = x * 5.0;
    check_values(tape.gradient(y, y), {1, 1, 1});
    Variable v(Tensor({4, 5}, {2}), "v");
    const Tensor read = v.read();
    check_values(tape.gradient(read, v), {1, 1});
  }
  SUBCASE("an intermediate can be a source") {
    GradientTape tape;
    tape.watch(x);
    const Tensor b = x * 2.0;
    const Tensor c = b * b;
    const auto grads = tape.gradient(c, {b, x});
    check_values(grads[0], {4, 8, 12});   // 2b
    check_values(grads[1], {8, 16, 24});  // 8x
  }
  SUBCASE("mean: 1/n everywhere") {
    GradientTape tape;
    tape.watch(x);
    check_values(tape.gradient(mean(x), x), {1.0 / 3, 1.0 / 3, 1.0 / 3});
  }
  SUBCASE("scalar operands") {
    GradientTape tape;
    tape.watch(x);
    const Tensor y = 1.0 / x + (2.0 - x) * 3.0 + x / 4.0 - 1.0;
    check_values(tape.gradient(y, x), {-1 - 3 + 0.25, -0.25 - 3 + 0.25, -1.0 / 9 - 3 + 0.25});
  }
}

TEST_CASE("GradientTape: unconnected sources") {
  const Tensor x = f64({1, 2});
  const Tensor z = f64({5, 6, 7});
  SUBCASE("undefined by default") {
    GradientTape tape;
    tape.watch(x);
    tape.watch(z);
    const Tensor y = sum(x * 2.0);
    const auto grads = tape.gradient(y, {x, z});
    check_values(grads[0], {2, 2});
    CHECK_FALSE(grads[1].defined());
  }
  SUBCASE("zeros of the source's shape and dtype on request") {
    GradientTape tape;
    tape.watch(x);
    tape.watch(z);
    Variable unused(zeros({2, 2}), "unused");
    const Tensor y = sum(x * 2.0);
    GradientOptions options;
    options.unconnected_gradients = UnconnectedGradients::zero;
    const auto grads = tape.gradient(y, {z, unused, x}, options);
    REQUIRE(grads[0].defined());
    CHECK(grads[0].shape() == Shape{3});
    CHECK(grads[0].dtype() == DType::float64);
    check_values(grads[0], {0, 0, 0});
    CHECK(grads[1].shape() == Shape{2, 2});
    CHECK(grads[1].dtype() == DType::float32);
    check_values(grads[1], {0, 0, 0, 0});
    check_values(grads[2], {2, 2});
  }
  SUBCASE("a source recorded on the tape but off the target's path") {
    GradientTape tape;
    tape.watch(x);
    tape.watch(z);
    const Tensor other = z * z;  // recorded, but y does not use it
    const Tensor y = sum(x * x);
    CHECK(tape.entries().size() == 3);
    CHECK(tape.entries()[0].output.id() == other.id());
    CHECK_FALSE(tape.gradient(y, z).defined());
  }
}

TEST_CASE("GradientTape: graph shapes") {
  SUBCASE("a reused intermediate: b = a + a; c = b * b gives dc/da = 8a") {
    const Tensor a = f64({1, -2, 3});
    GradientTape tape;
    tape.watch(a);
    const Tensor b = a + a;
    const Tensor c = b * b;
    check_values(tape.gradient(c, a), {8, -16, 24});
  }
  SUBCASE("one tensor on several paths: y = x * x * x + exp(x)") {
    const Tensor x = f64({0.5, 1.5});
    GradientTape tape;
    tape.watch(x);
    const Tensor y = x * x * x + exp(x);
    check_values(tape.gradient(y, x), {3 * 0.25 + std::exp(0.5), 3 * 2.25 + std::exp(1.5)}, 1e-12);
  }
  SUBCASE("broadcast inputs get gradients of their own shapes") {
    const Tensor col({1, 2, 3}, {3, 1}, DType::float64);
    const Tensor row({10, 20, 30, 40}, {1, 4}, DType::float64);
    const Tensor s = Tensor::scalar(2, DType::float64);
    GradientTape tape;
    tape.watch(col);
    tape.watch(row);
    tape.watch(s);
    const Tensor y = col * row + s;
    const auto grads = tape.gradient(y, {col, row, s});
    CHECK(grads[0].shape() == Shape{3, 1});
    CHECK(grads[1].shape() == Shape{1, 4});
    CHECK(grads[2].shape() == Shape{});
    check_values(grads[0], {100, 100, 100});
    check_values(grads[1], {6, 6, 6, 6});
    check_values(grads[2], {12});
  }
  SUBCASE("a chain of 100,000 multiplications: no stack overflow, the right gradient") {
    const Tensor x0 = Tensor::scalar(1.0, DType::float64);
    GradientTape tape;
    tape.watch(x0);
    Tensor x = x0;
    for (int i = 0; i < 100000; ++i) x = x * 1.0001;
    CHECK(tape.entries().size() == 100000);
    const double expected = std::pow(1.0001, 100000);
    CHECK(x.item() == doctest::Approx(expected).epsilon(1e-9));
    CHECK(tape.gradient(x, x0).item() == doctest::Approx(expected).epsilon(1e-9));
  }
  SUBCASE("a chain of 100,000 additions on a matrix") {
    const Tensor x0 = zeros({2, 3});
    GradientTape tape;
    tape.watch(x0);
    Tensor x = x0;
    for (int i = 0; i < 100000; ++i) x = x + 1.0;
    CHECK(x.flat(0) == 100000);
    check_values(tape.gradient(x, x0), {1, 1, 1, 1, 1, 1});
  }
  SUBCASE("a tape frees what it holds when it is destroyed") {
    Generator generator(3);
    const Tensor x = random_normal({64, 64}, generator);
    const size_t before = allocator_stats().in_use;
    {
      GradientTape tape;
      tape.watch(x);
      Tensor y = x;
      for (int i = 0; i < 50; ++i) y = exp(y * 0.01);
      const Tensor g = tape.gradient(y, x);
      CHECK(g.defined());
      CHECK(allocator_stats().in_use > before);
    }
    CHECK(allocator_stats().in_use == before);
  }
}

TEST_CASE("GradientTape: pausing and what is never watched") {
  SUBCASE("StopRecording pauses every active tape") {
    const Tensor x = f64({1, 2});
    GradientTape outer;
    GradientTape tape;
    outer.watch(x);
    tape.watch(x);
    const Tensor y = x * x;
    Tensor z;
    {
      StopRecording pause;
      CHECK_FALSE(tape.recording());
      CHECK_FALSE(outer.recording());
      z = x * x * 3.0;
    }
    CHECK(tape.recording());
    CHECK(tape.entries().size() == 1);
    CHECK(outer.entries().size() == 1);
    const Tensor total = y + z;  // z is a constant to both tapes
    check_values(tape.gradient(total, x), {2, 4});
    check_values(outer.gradient(total, x), {2, 4});
  }
  SUBCASE("integer tensors are never watched: asking is an error, and so is asking their gradient") {
    const Tensor labels({1, 2, 3}, {3}, DType::int64);
    GradientTape tape;
    CHECK_THROWS_WITH_AS(tape.watch(labels), doctest::Contains("GradientTape::watch: tensor 3 int64 is an integer"),
                         Error);
    CHECK(tape.watched().empty());
    CHECK_THROWS_WITH_AS(tape.gradient(sum(labels.to(DType::float32) * 2.0), labels),
                         doctest::Contains("GradientTape::gradient: source 1 of 1 is 3 int64"), Error);
  }
  SUBCASE("integer variables are never watched, even when read") {
    Variable labels(Tensor({1, 2, 3}, {3}, DType::int64), "labels");
    GradientTape tape;
    const Tensor read = labels.read();
    CHECK(read.dtype() == DType::int64);
    CHECK_FALSE(tape.watched().contains(labels.id()));
    CHECK(tape.entries().empty());
    CHECK_THROWS_WITH_AS(tape.watch(labels), doctest::Contains("GradientTape::watch: variable 'labels'"), Error);
    CHECK(tape.watched().empty());
  }
  SUBCASE("a tape records only ops of its own thread") {
    const Tensor x = f64({1, 2});
    GradientTape tape;
    tape.watch(x);
    Tensor from_thread;
    std::thread worker([&] { from_thread = x * x; });
    worker.join();
    CHECK(tape.entries().empty());
    CHECK_FALSE(tape.gradient(from_thread, x).defined());
  }
  SUBCASE("threads that share a variable and a constant each get their own, right gradients") {
    // Every thread copies the same handles (the variable's value, the constant) into its tapes'
    // entries and drops them again: the shared counts must come out right (ASan checks the frees).
    Variable shared(f64({1, 2}), "shared");
    const Tensor constant = f64({3, 4});
    std::vector<std::vector<double>> results(4);
    std::vector<std::thread> workers;
    for (size_t t = 0; t < results.size(); ++t) {
      workers.emplace_back([&, t] {
        for (int step = 0; step < 2000; ++step) {
          GradientTape tape;
          const Tensor y = shared * constant + shared;  // d/d(shared) = constant + 1
          results[t] = tape.gradient(y, shared).to_vector();
        }
      });
    }
    for (std::thread& worker : workers) worker.join();
    for (const std::vector<double>& r : results) CHECK(r == std::vector<double>{4, 5});
    check_values(shared.value(), {1, 2});
  }
  SUBCASE("tapes leave the stack in any order, and a pause forgets a tape that ends inside it") {
    const Tensor x = f64({1, 2});
    auto outer = std::make_unique<GradientTape>();
    GradientTape inner;
    outer.reset();  // not the innermost: taken from the middle of the stack
    REQUIRE(active_tapes().size() == 1);
    CHECK(active_tapes()[0] == &inner);
    std::optional<GradientTape> later;
    {
      auto paused = std::make_unique<GradientTape>();
      StopRecording pause;
      CHECK_FALSE(paused->recording());
      paused.reset();   // the innermost, but a pause is open: the pause must drop it
      later.emplace();  // may take the ended tape's storage back from the pool
      CHECK(later->recording());
    }  // the pause resumes what it paused, not `later`
    CHECK(later->recording());
    CHECK(inner.recording());
    later->watch(x);
    inner.watch(x);
    const Tensor y = x * x;
    CHECK(later->entries().size() == 1);
    check_values(later->gradient(y, x), {2, 4});
    check_values(inner.gradient(y, x), {2, 4});
  }
  SUBCASE("a failed op leaves the tape usable") {
    const Tensor x = f64({1, 2});
    GradientTape tape;
    tape.watch(x);
    const Tensor y = x * x;
    CHECK_THROWS_AS(x + f64({1, 2, 3}), Error);
    check_values(tape.gradient(y, x), {2, 4});
  }
}

TEST_CASE("GradientTape: several sources at once") {
  const Tensor x = f64({1, 2});
  Variable v(Tensor({3, 4}, {2}, DType::float64), "v");
  Variable w(Tensor({5, 6}, {2}, DType::float64), "w");
  SUBCASE("a braced list of tensors and variables") {
    GradientTape tape;
    tape.watch(x);
    const Tensor y = sum(x * v * w);
    const auto grads = tape.gradient(y, {x, v, w});
    REQUIRE(grads.size() == 3);
    check_values(grads[0], {15, 24});
    check_values(grads[1], {5, 12});
    check_values(grads[2], {3, 8});
  }
  SUBCASE("a vector of variables, as trainable_variables() returns") {
    GradientTape tape;
    const Tensor y = sum(v * v * w);
    const std::vector<Variable> variables{v, w};
    const auto grads = tape.gradient(y, variables);
    REQUIRE(grads.size() == 2);
    check_values(grads[0], {30, 48});
    check_values(grads[1], {9, 16});
  }
  SUBCASE("a span of sources") {
    GradientTape tape;
    tape.watch(x);
    const Tensor y = sum(x * w);
    const std::vector<Source> sources{w, x};
    const auto grads = tape.gradient(y, std::span<const Source>(sources));
    check_values(grads[0], {1, 2});
    check_values(grads[1], {5, 6});
  }
}

TEST_CASE("GradientTape: an op of many inputs, only some of which lead to a source") {
  // Twelve inputs: more than recording keeps the nodes of (five) and than the sweep's needed flags
  // hold inline (eight).
  std::vector<Tensor> parts;
  for (int i = 0; i < 12; ++i) parts.push_back(f64({1.0 + i, 2.0 + i}));
  GradientTape tape;
  for (int i = 0; i < 12; i += 3) tape.watch(parts[static_cast<size_t>(i)]);
  const Tensor joined = concat(parts);
  const Tensor y = sum(joined * joined);
  std::vector<Source> sources;
  for (const Tensor& part : parts) sources.emplace_back(part);
  const auto grads = tape.gradient(y, std::span<const Source>(sources));
  REQUIRE(grads.size() == 12);
  for (size_t i = 0; i < 12; ++i) {
    INFO("input ", i);
    if (i % 3 == 0) {
      const double k = static_cast<double>(i);
      check_values(grads[i], {2.0 * (1.0 + k), 2.0 * (2.0 + k)});  // d(x^2)/dx = 2x
    } else {
      CHECK_FALSE(grads[i].defined());  // never watched: not on any path
    }
  }
}

TEST_CASE("GradientTape: nested tapes differentiate gradients") {
  SUBCASE("d2/dx2 of x^3 = 6x, with mul and with pow") {
    const Tensor x = f64({2, -1});
    for (const bool use_pow : {false, true}) {
      INFO("use_pow ", use_pow);
      GradientTape outer;
      outer.watch(x);
      Tensor dy;
      {
        GradientTape inner;
        inner.watch(x);
        const Tensor y = use_pow ? pow(x, 3) : x * x * x;
        dy = inner.gradient(y, x);
      }
      check_values(dy, {12, 3});
      check_values(outer.gradient(dy, x), {12, -6});
    }
  }
  SUBCASE("third derivative with three tapes: d3/dx3 of x^4 = 24x") {
    const Tensor x = f64({1.5});
    GradientTape t3;
    t3.watch(x);
    Tensor d2;
    {
      GradientTape t2;
      t2.watch(x);
      Tensor d1;
      {
        GradientTape t1;
        t1.watch(x);
        d1 = t1.gradient(pow(x, 4), x);
      }
      d2 = t2.gradient(d1, x);
    }
    check_values(d2, {12 * 1.5 * 1.5});
    check_values(t3.gradient(d2, x), {24 * 1.5});
  }
  SUBCASE("second derivatives of exp, log and div") {
    const Tensor x = f64({0.5, 2.0});
    GradientTape outer({.persistent = true});
    outer.watch(x);
    std::vector<Tensor> first;
    {
      GradientTape inner({.persistent = true});
      inner.watch(x);
      first.push_back(inner.gradient(exp(x), x));
      first.push_back(inner.gradient(log(x), x));
      first.push_back(inner.gradient(1.0 / x, x));
    }
    check_values(outer.gradient(first[0], x), {std::exp(0.5), std::exp(2.0)}, 1e-12);
    check_values(outer.gradient(first[1], x), {-4, -0.25}, 1e-12);
    check_values(outer.gradient(first[2], x), {16, 0.25}, 1e-12);
  }
  SUBCASE("through corr2d: d/dK of sum(d/dK sum(corr2d(X, K)^2)) against finite differences") {
    Generator generator(11);
    const Tensor X = random_normal({5, 6}, generator, 0, 1, DType::float64);
    const std::vector<double> k0 = random_normal({2, 3}, generator, 0, 1, DType::float64).to_vector();
    // The first derivative, summed: s(K) = sum(dL/dK) for L = sum(corr2d(X, K)^2).
    auto first_derivative = [&](const Tensor& K) {
      GradientTape tape;
      tape.watch(K);
      return tape.gradient(sum(square(corr2d(X, K))), K);
    };
    const Tensor K(k0, Shape{2, 3}, DType::float64);
    GradientTape outer;
    outer.watch(K);
    const Tensor dK = first_derivative(K);
    REQUIRE(outer.entries().size() > 0);
    const Tensor second = outer.gradient(dK, K);
    REQUIRE(second.defined());
    const std::vector<double> analytic = second.to_vector();
    const double eps = 1e-5;
    for (size_t i = 0; i < k0.size(); ++i) {
      std::vector<double> plus = k0, minus = k0;
      plus[i] += eps;
      minus[i] -= eps;
      const double numeric = (sum(first_derivative(Tensor(plus, Shape{2, 3}, DType::float64))).item() -
                              sum(first_derivative(Tensor(minus, Shape{2, 3}, DType::float64))).item()) /
                             (2 * eps);
      INFO("kernel element ", i);
      CHECK(analytic[i] == doctest::Approx(numeric).epsilon(1e-6));
    }
  }
  SUBCASE("gradcheck of a gradient: the outer tape sees through conv2d's backward") {
    // f(x, k) = d/dk sum(conv2d(x, k)^2): its gradient checks conv2d_backprop_filter's own gradient.
    const auto f = [](const std::vector<Tensor>& in) {
      GradientTape tape;
      tape.watch(in[1]);
      Conv2DOptions options;
      options.strides = {2, 1};
      options.padding = Padding::same();
      return tape.gradient(sum(square(conv2d(in[0], in[1], options))), in[1]);
    };
    Generator generator(12);
    const std::vector<Tensor> inputs{random_normal({2, 5, 4, 2}, generator), random_normal({3, 2, 2, 3}, generator)};
    const GradcheckResult result = gradcheck(f, inputs);
    INFO(result.summary());
    CHECK(result.passed);
  }
}
