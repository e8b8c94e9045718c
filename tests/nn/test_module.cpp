// nn::Module: names, weight registration, get/set_weights, build on the first call, sub-modules,
// save_weights and load_weights (strict, and before the build).

#include <tapegrad/nn.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace tapegrad;

namespace {

// y = x * scale + shift, with a non-trainable counter: enough to see every part of Module.
class Affine : public nn::Module {
 public:
  explicit Affine(std::string name = {}, DType dtype = DType::float32, std::optional<uint64_t> seed = std::nullopt)
      : nn::Module("affine", std::move(name), dtype, seed) {}

  int builds = 0;
  Shape built_for;
  Variable scale, shift, steps;

 protected:
  void build(const Shape& input_shape) override {
    ++builds;
    built_for = input_shape;
    scale = add_weight("scale", Shape{input_shape[-1]}, nn::RandomNormal(1.0, 0.1));
    shift = add_weight("shift", zeros({input_shape[-1]}, dtype()));
    steps = add_weight("steps", zeros({}, dtype()), /*trainable=*/false);
  }
  Tensor call(const Tensor& x) override { return x * scale + shift; }
};

// Holds two Affine modules and tracks them: their weights follow its own.
class Stack : public nn::Module {
 public:
  Stack() : nn::Module("stack") {
    track(first);
    track(second);
  }
  Affine first, second;
  Variable gain;

 protected:
  void build(const Shape& /*input_shape*/) override { gain = add_weight("gain", ones({})); }
  Tensor call(const Tensor& x) override { return second(first(x)) * gain; }
};

// A module whose build fails on a bad input before or after making a weight.
class Picky : public nn::Module {
 public:
  Picky() : nn::Module("picky") {}

 protected:
  void build(const Shape& input_shape) override {
    add_weight("w", zeros({2}));
    if (input_shape.rank() != 2) fail("{}: expected a matrix, got {}", name(), input_shape);
  }
  Tensor call(const Tensor& x) override { return x; }
};

std::vector<std::string> names_of(const std::vector<Variable>& variables) {
  std::vector<std::string> names;
  for (const Variable& v : variables) names.push_back(v.name());
  return names;
}

}  // namespace

TEST_CASE("Module: names are unique per kind, as Keras names layers") {
  nn::reset_names();
  const Affine a, b;
  const Affine named("mine");
  const Affine c;
  const nn::Conv2D conv(1, {1, 2});
  const nn::Conv2D conv_1(1, {1, 2});
  CHECK(a.name() == "affine");
  CHECK(b.name() == "affine_1");
  CHECK(named.name() == "mine");
  CHECK(c.name() == "affine_2");
  CHECK(conv.name() == "conv2d");
  CHECK(conv_1.name() == "conv2d_1");

  nn::reset_names();
  CHECK(Affine().name() == "affine");
}

TEST_CASE("Module: variables are named <module>/<name> and kept in creation order") {
  nn::reset_names();
  Affine layer;
  CHECK_FALSE(layer.built());
  CHECK(layer.weights().empty());
  CHECK(layer.get_weights().empty());

  layer(ones({2, 3}));
  CHECK(layer.built());
  CHECK(names_of(layer.weights()) == std::vector<std::string>{"affine/scale", "affine/shift", "affine/steps"});
  CHECK(names_of(layer.trainable_variables()) == std::vector<std::string>{"affine/scale", "affine/shift"});
  CHECK(layer.weights()[0].shape() == Shape{3});
  CHECK(layer.weights()[2].shape() == Shape{});
  CHECK_FALSE(layer.weights()[2].trainable());

  SUBCASE("weights() hands out the module's own variables, not copies") {
    layer.weights()[1].assign(full({3}, 5.0));
    CHECK(layer.shift.value().to_vector() == std::vector<double>{5, 5, 5});
    CHECK(layer.weights()[1].id() == layer.shift.id());
  }
}

TEST_CASE("Module: build runs once, on the first call, with the input's shape") {
  Affine layer;
  const Tensor y = layer(ones({4, 2}));
  CHECK(layer.builds == 1);
  CHECK(layer.built_for == Shape{4, 2});
  CHECK(y.shape() == Shape{4, 2});
  layer(ones({7, 2}));
  CHECK(layer.builds == 1);
  CHECK(layer.weights().size() == 3);
}

TEST_CASE("Module: a failed build leaves no weights behind and can be retried") {
  Picky layer;
  CHECK_THROWS_AS(layer(ones({2})), Error);
  CHECK_FALSE(layer.built());
  CHECK(layer.weights().empty());
  layer(ones({1, 2}));
  CHECK(layer.built());
  CHECK(layer.weights().size() == 1);
}

TEST_CASE("Module: add_weight refuses a name it has already") {
  class Twice : public nn::Module {
   public:
    Twice() : nn::Module("twice") {}

   protected:
    void build(const Shape&) override {
      add_weight("w", zeros({1}));
      add_weight("w", zeros({1}));
    }
    Tensor call(const Tensor& x) override { return x; }
  };
  Twice layer;
  CHECK_THROWS_WITH_AS(layer(ones({1})), doctest::Contains("already has a weight named 'w'"), Error);
}

TEST_CASE("Module: an input of another dtype is an error naming the layer") {
  Affine layer("aff");
  CHECK_THROWS_WITH_AS(layer(ones({2, 2}, DType::float64)),
                       doctest::Contains("aff: input is 2x2 float64, but the layer computes in float32"), Error);
  Affine wide("wide", DType::float64);
  CHECK(wide(ones({2, 2}, DType::float64)).dtype() == DType::float64);
  CHECK(wide.weights()[0].dtype() == DType::float64);
  CHECK_THROWS_AS(Affine("bad", DType::int64), Error);
}

TEST_CASE("Module: get_weights and set_weights") {
  Affine layer("aff");
  layer(ones({1, 2}));

  SUBCASE("round trip") {
    const std::vector<Tensor> before = layer.get_weights();
    REQUIRE(before.size() == 3);
    layer.set_weights(before);
    const std::vector<Tensor> after = layer.get_weights();
    for (size_t i = 0; i < before.size(); ++i) CHECK(after[i].to_vector() == before[i].to_vector());
  }

  SUBCASE("new values, in weights() order; earlier get_weights results keep their values") {
    const std::vector<Tensor> old = layer.get_weights();
    const std::vector<double> old_scale = old[0].to_vector();
    layer.set_weights({Tensor({2, 3}, {2}), Tensor({-1, 1}, {2}), Tensor::scalar(7)});
    CHECK(layer.scale.value().to_vector() == std::vector<double>{2, 3});
    CHECK(layer.shift.value().to_vector() == std::vector<double>{-1, 1});
    CHECK(layer.steps.value().item() == 7);
    CHECK(old[0].to_vector() == old_scale);
    CHECK(layer(Tensor({1, 1}, {1, 2})).to_vector() == std::vector<double>{1, 4});
  }

  SUBCASE("errors name the layer, the variable and the shapes, and change nothing") {
    const std::vector<double> scale = layer.scale.value().to_vector();
    CHECK_THROWS_WITH_AS(layer.set_weights({zeros({2})}),
                         doctest::Contains("aff: set_weights got 1 tensors, but the layer has 3 weights"), Error);
    CHECK_THROWS_WITH_AS(layer.set_weights({zeros({2}), zeros({3}), zeros({})}),
                         doctest::Contains("aff: set_weights: weight 1 (aff/shift) is 2 float32, got 3 float32"),
                         Error);
    CHECK_THROWS_WITH_AS(layer.set_weights({zeros({2}), zeros({2}), zeros({}, DType::float64)}),
                         doctest::Contains("weight 2 (aff/steps) is scalar float32, got scalar float64"), Error);
    CHECK_THROWS_WITH_AS(layer.set_weights({zeros({2}), Tensor{}, zeros({})}),
                         doctest::Contains("weight 1 (aff/shift) is 2 float32, got an undefined tensor"), Error);
    CHECK(layer.scale.value().to_vector() == scale);  // the first, valid, tensor was not assigned either
  }

  SUBCASE("before the first call the layer has no weights yet") {
    Affine fresh("fresh");
    CHECK_THROWS_WITH_AS(fresh.set_weights({zeros({2})}), doctest::Contains("it is built on its first call"), Error);
  }
}

TEST_CASE("Module: a seed fixes the initial weights") {
  Affine a("a", DType::float32, 11), b("b", DType::float32, 11), c("c", DType::float32, 12);
  for (Affine* layer : {&a, &b, &c}) (*layer)(ones({1, 4}));
  CHECK(a.scale.value().to_vector() == b.scale.value().to_vector());
  CHECK(a.scale.value().to_vector() != c.scale.value().to_vector());

  nn::set_seed(99);
  Affine d;
  d(ones({1, 4}));
  nn::set_seed(99);
  Affine e;
  e(ones({1, 4}));
  CHECK(d.scale.value().to_vector() == e.scale.value().to_vector());
}

TEST_CASE("Module: tracked sub-modules' weights follow the module's own") {
  nn::reset_names();
  Stack stack;
  CHECK(stack.weights().empty());
  const Tensor y = stack(ones({1, 2}));
  CHECK(y.shape() == Shape{1, 2});
  CHECK(names_of(stack.weights()) == std::vector<std::string>{"stack/gain", "affine/scale", "affine/shift",
                                                              "affine/steps", "affine_1/scale", "affine_1/shift",
                                                              "affine_1/steps"});
  CHECK(stack.trainable_variables().size() == 5);
  CHECK(stack.get_weights().size() == 7);

  std::vector<Tensor> values = stack.get_weights();
  values[4] = full({2}, 3.0);  // affine_1/scale
  stack.set_weights(values);
  CHECK(stack.second.scale.value().to_vector() == std::vector<double>{3, 3});

  SUBCASE("tracking a module twice, or itself, is an error") {
    class Self : public nn::Module {
     public:
      Self() : nn::Module("self") {}
      void track_self() { track(*this); }
      void track_twice(Module& other) {
        track(other);
        track(other);
      }

     protected:
      Tensor call(const Tensor& x) override { return x; }
    };
    Self self;
    Affine other("other");
    CHECK_THROWS_WITH_AS(self.track_self(), doctest::Contains("the module itself"), Error);
    CHECK_THROWS_WITH_AS(self.track_twice(other), doctest::Contains("'other' is tracked already"), Error);
  }
}

TEST_CASE("Module: the tape differentiates through a module, sub-modules included") {
  Stack stack;
  const Tensor x({1, 2}, {1, 2});
  stack(x);
  stack.set_weights({Tensor::scalar(2), Tensor({3, 4}, {2}), Tensor({0, 0}, {2}), Tensor::scalar(0),
                     Tensor({5, 6}, {2}), Tensor({1, 1}, {2}), Tensor::scalar(0)});
  GradientTape tape;
  const Tensor y = sum(stack(x));  // gain * ((x * s1 + b1) * s2 + b2)
  const std::vector<Tensor> grads = tape.gradient(y, stack.trainable_variables());
  REQUIRE(grads.size() == 5);
  // y = 2 * ((1*3)*5 + 1 + (2*4)*6 + 1) = 2 * 65 = 130
  CHECK(y.item() == 130);
  CHECK(grads[0].item() == 65);                                              // d/gain
  CHECK(grads[1].to_vector() == std::vector<double>{2 * 1 * 5, 2 * 2 * 6});  // d/s1 = gain * x * s2
  CHECK(grads[2].to_vector() == std::vector<double>{10, 12});                // d/b1 = gain * s2
  CHECK(grads[3].to_vector() == std::vector<double>{2 * 3, 2 * 8});          // d/s2 = gain * (x * s1 + b1)
  CHECK(grads[4].to_vector() == std::vector<double>{2, 2});                  // d/b2 = gain
}

namespace {

// A file name in the temp folder, removed at scope exit.
struct TempFile {
  std::string path =
      (std::filesystem::temp_directory_path() / ("tapegrad-test-module-" + std::to_string(::getpid()) + ".safetensors"))
          .string();
  ~TempFile() { std::filesystem::remove(path); }
};

std::vector<std::string> names_of(const NamedTensors& named) {
  std::vector<std::string> names;
  for (const auto& [name, value] : named) names.push_back(name);
  return names;
}

}  // namespace

TEST_CASE("Module: named_weights are paths from the module, trainable and non-trainable") {
  nn::reset_names();
  Stack stack;
  stack(ones({1, 2}));
  CHECK(names_of(stack.named_weights()) ==
        std::vector<std::string>{"stack/gain", "stack/affine/scale", "stack/affine/shift", "stack/affine/steps",
                                 "stack/affine_1/scale", "stack/affine_1/shift", "stack/affine_1/steps"});
}

TEST_CASE("Module: save_weights then load_weights into a model not called yet") {
  TempFile file;
  nn::reset_names();
  Stack trained;
  const Tensor x({1, 2}, {1, 2});
  trained(x);
  trained.set_weights({Tensor::scalar(2), Tensor({3, 4}, {2}), Tensor({0.5, 0}, {2}), Tensor::scalar(9),
                       Tensor({5, 6}, {2}), Tensor({1, 1}, {2}), Tensor::scalar(0)});
  trained.save_weights(file.path);

  nn::reset_names();
  Stack fresh;  // same names, other initial values, not built
  fresh.load_weights(file.path);
  CHECK(fresh.weights().empty());
  CHECK(fresh(x).to_vector() == trained(x).to_vector());  // the first call already uses the file's values
  const std::vector<Tensor> a = trained.get_weights(), b = fresh.get_weights();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].to_vector() == b[i].to_vector());

  SUBCASE("into a built model, at once") {
    nn::reset_names();
    Stack built;
    built(ones({1, 2}));
    built.load_weights(file.path);
    CHECK(built.first.steps.value().item() == 9);
  }
  SUBCASE("float64 values load into a float32 model") {
    NamedTensors as_double = trained.named_weights();
    for (auto& [name, value] : as_double) value = value.to(DType::float64);
    fresh.load_named_weights(as_double);
    CHECK(fresh.first.scale.value().dtype() == DType::float32);
    CHECK(fresh.first.scale.value().to_vector() == std::vector<double>{3, 4});
  }
}

TEST_CASE("Module: load_weights is strict: one error lists every missing, unexpected and mis-shaped name") {
  nn::reset_names();
  Stack stack;
  stack(ones({1, 2}));
  NamedTensors named = stack.named_weights();
  named.erase(named.begin());                         // stack/gain missing
  named[0].second = zeros({3});                       // stack/affine/scale mis-shaped
  named.emplace_back("stack/extra", zeros({1}));      // unexpected
  named[2].second = Tensor::scalar(1, DType::int64);  // stack/affine/steps: int64 does not convert
  const std::vector<double> before = stack.second.scale.value().to_vector();
  CHECK_THROWS_WITH_AS(stack.load_named_weights(named),
                       "stack: load_weights: the model and the weights given differ; missing: stack/gain (scalar "
                       "float32); unexpected: stack/extra (1 float32); mis-shaped: stack/affine/scale (file: 3 "
                       "float32, model: 2 float32), stack/affine/steps (file: scalar int64, model: scalar float32)",
                       Error);
  CHECK(stack.second.scale.value().to_vector() == before);  // nothing assigned

  SUBCASE("before the build, the first call reports what the build found") {
    nn::reset_names();
    Stack fresh;
    fresh.load_named_weights(named);
    CHECK_THROWS_WITH_AS(fresh(ones({1, 2})), doctest::Contains("missing: stack/gain (scalar float32)"), Error);
    CHECK(fresh(ones({1, 2})).shape() == Shape{1, 2});  // the load is over: later calls run
  }
  SUBCASE("a model not built has nothing to save") {
    TempFile file;
    Stack fresh;
    CHECK_THROWS_WITH_AS(fresh.save_weights(file.path), doctest::Contains("the model is not built yet"), Error);
  }
  SUBCASE("a file that is not there") {
    CHECK_THROWS_WITH_AS(stack.load_weights("/nonexistent/w.safetensors"),
                         "/nonexistent/w.safetensors: cannot open: No such file or directory", Error);
  }
}

namespace {

// Remembers the training flag of each call, and calls its child (if any) without one.
class Probe : public nn::Module {
 public:
  explicit Probe(Probe* child = nullptr, std::optional<bool> child_training = std::nullopt)
      : nn::Module("probe"), child_(child), child_training_(child_training) {}
  std::vector<bool> seen;

 protected:
  Tensor call(const Tensor& x) override {
    seen.push_back(training());
    return child_ != nullptr ? (*child_)(x, child_training_) : x;
  }
  bool checks_input_dtype() const override { return false; }

 private:
  Probe* child_;
  std::optional<bool> child_training_;
};

}  // namespace

TEST_CASE("Module: the training flag, as Keras's training argument") {
  nn::reset_names();
  Probe inner;
  Probe outer(&inner);
  const Tensor x = ones({1});
  SUBCASE("called from outside any module: inference unless told") {
    outer(x);
    outer(x, false);
    outer(x, true);
    CHECK(outer.seen == std::vector<bool>{false, false, true});
    CHECK(inner.seen == std::vector<bool>{false, false, true});  // inherited from the caller
  }
  SUBCASE("an explicit flag wins over the caller's") {
    Probe forced(&inner, false);
    forced(x, true);
    CHECK(forced.seen == std::vector<bool>{true});
    CHECK(inner.seen == std::vector<bool>{false});
  }
  SUBCASE("through Sequential, to every layer") {
    nn::Sequential net;
    auto& first = net.add<Probe>();
    auto& second = net.add<Probe>();
    net(x, true);
    net(x);
    CHECK(first.seen == std::vector<bool>{true, false});
    CHECK(second.seen == std::vector<bool>{true, false});
  }
  SUBCASE("the flag ends with the call, and with an error") {
    outer(x, true);
    Probe after;
    after(x);
    CHECK(after.seen == std::vector<bool>{false});
    class Failing : public nn::Module {
     public:
      Failing() : nn::Module("failing") {}

     protected:
      Tensor call(const Tensor&) override { fail("failing: on purpose"); }
    };
    Failing failing;
    CHECK_THROWS_AS(failing(x, true), Error);
    after(x);
    CHECK(after.seen == std::vector<bool>{false, false});
  }
}

namespace {

// Two Affine layers held as plain members, never tracked by hand: called in `call`, they are
// tracked in call order (second first).
class Untracked : public nn::Module {
 public:
  explicit Untracked(std::string name = {}) : nn::Module("untracked", std::move(name)) {}
  Affine first, second;

 protected:
  Tensor call(const Tensor& x) override { return first(second(x)); }
};

// An Untracked inside another module: nested paths.
class Outer : public nn::Module {
 public:
  Outer() : nn::Module("outer"), block("block_1") {}
  Untracked block;
  Affine head{"head"};

 protected:
  Tensor call(const Tensor& x) override { return head(block(x)); }
};

}  // namespace

TEST_CASE("Module: sub-modules called inside call are tracked on that call, in call order, with nested paths") {
  nn::reset_names();
  Outer model;
  CHECK(model.weights().empty());
  CHECK(model.submodules().empty());
  model(ones({2, 3}));
  CHECK(model.submodules() == std::vector<const nn::Module*>{&model.block, &model.head});
  CHECK(model.block.submodules() == std::vector<const nn::Module*>{&model.block.second, &model.block.first});
  CHECK(names_of(model.named_weights()) ==
        std::vector<std::string>{"outer/block_1/affine_1/scale", "outer/block_1/affine_1/shift",
                                 "outer/block_1/affine_1/steps", "outer/block_1/affine/scale",
                                 "outer/block_1/affine/shift", "outer/block_1/affine/steps", "outer/head/scale",
                                 "outer/head/shift", "outer/head/steps"});
  CHECK(model.trainable_variables().size() == 6);
  CHECK(model.non_trainable_variables().size() == 3);
  CHECK(names_of(model.non_trainable_variables()) ==
        std::vector<std::string>{"affine_1/steps", "affine/steps", "head/steps"});
  // Later calls track nothing more.
  model(ones({2, 3}));
  CHECK(model.weights().size() == 9);

  SUBCASE("the tape and the optimizer see them") {
    GradientTape tape;
    const Tensor loss = sum(model(ones({2, 3})));
    const std::vector<Tensor> grads = tape.gradient(loss, model.trainable_variables());
    for (const Tensor& g : grads) CHECK(g.defined());
  }
  SUBCASE("summary lists the sub-modules with their output shapes and counts") {
    const std::string text = model.summary();
    MESSAGE(text);
    CHECK(text.find("Model: \"outer\"") != std::string::npos);
    CHECK(text.find("block_1 (untracked)") != std::string::npos);
    CHECK(text.find("head (affine)") != std::string::npos);
    CHECK(text.find("(None, 3)") != std::string::npos);
    CHECK(text.find("Total params: 21\n") != std::string::npos);
    CHECK(text.find("Trainable params: 18\n") != std::string::npos);
    CHECK(text.find("Non-trainable params: 3\n") != std::string::npos);
  }
  SUBCASE("save_weights and load_weights into a model not called yet") {
    TempFile file;
    model.save_weights(file.path);
    nn::reset_names();
    Outer fresh;
    fresh.load_weights(file.path);
    const Tensor x({1, 2, 3, 4, 5, 6}, {2, 3});
    CHECK(fresh(x).to_vector() == model(x).to_vector());
    const std::vector<Tensor> a = model.get_weights(), b = fresh.get_weights();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].to_vector() == b[i].to_vector());
  }
}

TEST_CASE("Module: a tracked sub-module destroyed first leaves its parent") {
  nn::reset_names();
  class Caller : public nn::Module {
   public:
    explicit Caller(Affine& child) : nn::Module("caller"), child_(child) {}

   protected:
    Tensor call(const Tensor& x) override { return child_(x); }

   private:
    Affine& child_;
  };
  auto child = std::make_unique<Affine>("temporary");
  Caller caller(*child);
  caller(ones({1, 2}));
  CHECK(caller.weights().size() == 3);
  child.reset();
  CHECK(caller.weights().empty());
  CHECK(caller.submodules().empty());
  {
    // And a parent destroyed first leaves its sub-modules usable.
    Affine survivor("survivor");
    {
      Caller short_lived(survivor);
      short_lived(ones({1, 2}));
    }
    CHECK(survivor(ones({1, 2})).shape() == Shape{1, 2});
  }
}
