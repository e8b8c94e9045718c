// Census rows: layers (nn), optimizers (optim), data files and batches (data).

#include "census.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <map>

using namespace tapegrad;
using census::exempt;
using census::row;
using census::value_row;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// `n` 2x2 images of bytes 7 with labels 0, 1, ..., as IDX arrays.
data::IdxArray idx_images(int64_t n) {
  return {std::vector<uint8_t>(static_cast<size_t>(n * 4), 7), {n, 2, 2}, data::IdxType::u8};
}
data::IdxArray idx_labels(int64_t n) {
  data::IdxArray labels{{}, {n}, data::IdxType::u8};
  for (int64_t i = 0; i < n; ++i) labels.bytes.push_back(static_cast<uint8_t>(i % 10));
  return labels;
}

// A data set of `n` examples of 2 features each, labelled 0, 1, ...
data::Dataset tiny(int64_t n) {
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(i);
  return data::Dataset::from_tensor_slices(ones({n, 2}), Tensor(std::span<const int64_t>(labels), Shape{n}));
}

// The number of elements one epoch of `dataset` gives.
int64_t count_elements(data::Dataset dataset) {
  int64_t n = 0;
  for (const data::Batch& batch : dataset) n += batch.features.defined() ? 1 : 0;
  return n;
}

const bool registered = census::add({
    // ---- Layers
    row("nn::Conv2D::Conv2D", "layers", "c: filters must be at least 1, got 0",
        [] {
          nn::Conv2D(0, {3, 3}, {.name = "c"});
        }),
    row("nn::Conv2D::Conv2D", "enum", "c: activation 5 is not an Activation; expected linear, relu or sigmoid",
        [] {
          nn::Conv2D(1, 3, {.activation = static_cast<Activation>(5), .name = "c"});
        }),
    row("nn::Dense::Dense", "enum", "d: activation 5 is not an Activation; expected linear, relu or sigmoid",
        [] {
          nn::Dense(1, {.activation = static_cast<Activation>(5), .name = "d"});
        }),
    row("nn::Conv2D::Conv2D", "layers", "c: kernel_size must be at least 1x1, got 0x3",
        [] {
          nn::Conv2D(1, {0, 3}, {.name = "c"});
        }),
    row("nn::Conv2D::Conv2D", "layers", "c: strides 1x1 and dilation_rate 0x1; expected each at least 1",
        [] {
          nn::Conv2D(1, {3, 3}, {.dilation_rate = {0, 1}, .name = "c"});
        }),
    row("nn::Conv2D::Conv2D", "dtypes", "c: a layer's dtype must be float32 or float64, got int64",
        [] {
          nn::Conv2D(1, {3, 3}, {.dtype = DType::int64, .name = "c"});
        }),
    row("nn::Conv2D::kernel", "layers", "c: the kernel is made on the layer's first call",
        [] {
          nn::Conv2D(1, {3, 3}, {.name = "c"}).kernel();
        }),
    row("nn::Conv2D::bias", "layers", "c: the layer has no bias (use_bias is false)",
        [] {
          nn::Conv2D(1, {3, 3}, {.use_bias = false, .name = "c"}).bias();
        }),
    row("nn::Module::operator()", "shapes", "c: input is 5x5, expected rank 4",
        [] {
          nn::Conv2D(1, {3, 3}, {.name = "c"})(ones({5, 5}));
        }),
    row("nn::Module::operator()", "undefined", "c: called with an undefined tensor",
        [] {
          nn::Conv2D(1, {3, 3}, {.name = "c"})(Tensor());
        }),
    row("nn::Module::operator()", "dtypes", "c: input is 1x5x5x1 float64, but the layer computes in float32",
        [] {
          nn::Conv2D(1, {3, 3}, {.name = "c"})(ones({1, 5, 5, 1}, DType::float64));
        }),
    row("nn::Module::operator()", "overflow", "conv2d_bias_activation: kernel 2x2 dilated by",
        [] {
          nn::Conv2D(1, {2, 2}, {.dilation_rate = {INT64_MAX, INT64_MAX}, .name = "c"})(ones({1, 5, 5, 1}));
        }),
    row("nn::Module::operator()", "overflow", "conv2d: kernel 2x2 dilated by",
        [] {
          nn::Conv2D(1, {2, 2}, {.dilation_rate = {INT64_MAX, INT64_MAX}, .use_bias = false, .name = "c"})(
              ones({1, 5, 5, 1}));
        }),
    row("nn::Module::operator()", "shapes", "c: input 1x5x5x2 has 2 channels, but the layer was built for 1",
        [] {
          nn::Conv2D layer(1, {3, 3}, {.name = "c"});
          layer(ones({1, 5, 5, 1}));
          layer(ones({1, 5, 5, 2}));
        }),
    row("nn::Dense::Dense", "layers", "d: units must be at least 1, got 0", [] { nn::Dense(0, {.name = "d"}); }),
    row("nn::Dense::kernel", "layers", "d: the kernel is made on the layer's first call",
        [] { nn::Dense(2, {.name = "d"}).kernel(); }),
    row("nn::Dense::bias", "layers", "d: the bias is made on the layer's first call",
        [] { nn::Dense(2, {.name = "d"}).bias(); }),
    row("nn::Module::operator()", "shapes", "d: input is 2x3x4, expected rank 2 (batch, features)",
        [] {
          nn::Dense(2, {.name = "d"})(ones({2, 3, 4}));
        }),
    row("nn::Flatten::Flatten", "shapes", "f: input is a scalar, expected at least rank 1",
        [] { nn::Flatten("f")(Tensor::scalar(1)); }),
    row("nn::ReLU::ReLU", "dtypes", "relu: expected a float32 or float64 tensor, got int64",
        [] { nn::ReLU("r")(ones({2}, DType::int64)); }),
    row("nn::Sigmoid::Sigmoid", "undefined", "s: called with an undefined tensor", [] { nn::Sigmoid("s")(Tensor()); }),
    row("nn::Tanh::Tanh", "dtypes", "tanh: expected a float32 or float64 tensor, got int64",
        [] { nn::Tanh("t")(ones({2}, DType::int64)); }),
    row("nn::MaxPool2D::MaxPool2D", "layers", "m: pool_size 0x2 and strides 0x2; expected each at least 1",
        [] {
          nn::MaxPool2D({0, 2}, {.name = "m"})(ones({1, 4, 4, 1}));
        }),
    row("nn::AvgPool2D::AvgPool2D", "shapes", "a: input is 4x4, expected rank 4",
        [] {
          nn::AvgPool2D(2, {.name = "a"})(ones({4, 4}));
        }),
    row("nn::Module::set_weights", "layers", "d: set_weights got 1 tensors, but the layer has 2 weights",
        [] {
          nn::Dense layer(2, {.name = "d"});
          layer(ones({1, 3}));
          layer.set_weights({ones({3, 2})});
        }),
    row("nn::Module::set_weights", "shapes", "d: set_weights: weight 0 (d/kernel) is 3x2 float32, got 2x3",
        [] {
          nn::Dense layer(2, {.name = "d"});
          layer(ones({1, 3}));
          layer.set_weights({ones({2, 3}), ones({2})});
        }),
    row("nn::Module::save_weights", "checkpoints", "d: save_weights: ",
        [] {
          nn::Dense layer(2, {.name = "d"});
          layer.save_weights(census::scratch("unbuilt.safetensors"));
        }),
    row("nn::Module::load_weights", "checkpoints", "/nonexistent-folder/w.safetensors: ",
        [] { nn::Dense(2, {.name = "d"}).load_weights("/nonexistent-folder/w.safetensors"); }),
    row("nn::Module::load_named_weights", "checkpoints", "d: load_weights: the model and ",
        [] {
          nn::Dense layer(2, {.name = "d"});
          layer(ones({1, 3}));
          layer.load_named_weights({{"d/kernel", ones({3, 2})}});
        }),
    row("nn::Sequential::add", "layers", "s: add: got no layer (a null pointer)",
        [] { nn::Sequential("s").add(std::unique_ptr<nn::Module>()); }),
    row("nn::Sequential::layer", "layers", "s: layer 0 asked for, but the model has 0 layers",
        [] { nn::Sequential("s").layer(0); }),
    row("nn::Sequential::output_shape", "layers", "s: layer 3 asked for, but the model has 0 layers",
        [] { nn::Sequential("s").output_shape(3); }),
    row("nn::Sequential::Sequential", "shapes", "d: input is 1x4x4x1, expected rank 2",
        [] {
          nn::Sequential model("s");
          model.add<nn::Dense>(2, nn::DenseOptions{.name = "d"});
          model(ones({1, 4, 4, 1}));
        }),
    value_row("nn::Module::summary", "layers", "an empty model's summary shows 0 parameters",
              [] { return nn::Sequential("s").summary().find("Total params: 0") != std::string::npos; }),
    value_row("nn::Module::summary", "layers", "before the first call, shapes and counts show as \"?\"",
              [] {
                nn::Sequential model("s");
                model.add<nn::Dense>(2, nn::DenseOptions{.name = "d"});
                return model.summary().find('?') != std::string::npos;
              }),
    value_row("nn::Module::set_trainable", "layers",
              "a model frozen before its first call lists no trainable variables once built",
              [] {
                nn::Sequential model("s");
                model.add<nn::Dense>(2, nn::DenseOptions{.name = "d"});
                model.set_trainable(false);
                model(ones({1, 3}));
                return model.trainable_variables().empty() && model.non_trainable_variables().size() == 2;
              }),
    value_row("nn::Module::output_shape", "layers", "nothing before the first call",
              [] { return !nn::Dense(2, {.name = "d"}).output_shape().has_value(); }),
    value_row("nn::Module::output_shape", "layers", "a failed first call leaves no output shape",
              [] {
                nn::Dense layer(2, {.name = "d"});
                try {
                  layer(ones({2, 3, 4}));
                } catch (const Error&) {
                }
                return !layer.output_shape().has_value() && !layer.built();
              }),
    value_row("nn::Module::named_variables", "layers", "a layer not built yet has no named variables",
              [] { return nn::Dense(2, {.name = "d"}).named_variables().empty(); }),
    value_row("nn::Module::non_trainable_variables", "layers",
              "BatchNormalization's moving statistics, and nothing else, once built",
              [] {
                nn::BatchNormalization layer({.name = "bn"});
                const bool before = layer.non_trainable_variables().empty();
                layer(ones({2, 3}));
                const std::vector<Variable> fixed = layer.non_trainable_variables();
                return before && fixed.size() == 2 && fixed[0].name() == "bn/moving_mean" && !fixed[0].trainable();
              }),
    value_row("nn::Module::submodules", "layers", "a layer without sub-modules lists none",
              [] { return nn::Dense(2, {.name = "d"}).submodules().empty(); }),
    // ---- Newer layers: Add, Dropout, BatchNormalization, GlobalAveragePooling2D
    row("nn::Add::operator()", "shapes", "add: got 1 inputs; expected a list of at least 2 tensors",
        [] { nn::Add("add")({ones({2})}); }),
    row("nn::Add::operator()", "shapes", "add: input 1 is 3 float32 but input 0 is 2 float32; expected one shape",
        [] { nn::Add("add")({ones({2}), ones({3})}); }),
    row("nn::Add::operator()", "dtypes", "add: input 1 is 2 float64 but input 0 is 2 float32",
        [] { nn::Add("add")({ones({2}), ones({2}, DType::float64)}); }),
    row("nn::Add::operator()", "undefined", "add: input 1 is undefined", [] { nn::Add("add")({ones({2}), Tensor()}); }),
    row("nn::Add::Add", "layers", "add: called with one tensor 2x2; Add takes a list of at least 2",
        [] {
          nn::Sequential model("s");
          model.add<nn::Add>("add");
          model(ones({2, 2}));
        }),
    row("nn::Dropout::Dropout", "layers", "drop: rate is 1; expected 0 <= rate < 1", [] { nn::Dropout(1, 1, "drop"); }),
    row("nn::Dropout::Dropout", "nan", "drop: rate is nan; expected 0 <= rate < 1",
        [] { nn::Dropout(kNaN, 1, "drop"); }),
    row("nn::Dropout::Dropout", "layers", "drop: rate is -0.5; expected 0 <= rate < 1",
        [] { nn::Dropout(-0.5, 1, "drop"); }),
    row("nn::Dropout::Dropout", "dtypes", "drop: input is 2 int64, expected float32 or float64",
        [] { nn::Dropout(0.5, 1, "drop")(ones({2}, DType::int64), true); }),
    row("nn::BatchNormalization::BatchNormalization", "layers", "bn: momentum is 1.5; expected 0 <= momentum <= 1",
        [] { nn::BatchNormalization({.momentum = 1.5, .name = "bn"}); }),
    row("nn::BatchNormalization::BatchNormalization", "nan", "bn: epsilon is nan; expected a finite epsilon > 0",
        [] { nn::BatchNormalization({.epsilon = kNaN, .name = "bn"}); }),
    row("nn::BatchNormalization::BatchNormalization", "layers", "bn: epsilon is 0; expected a finite epsilon > 0",
        [] { nn::BatchNormalization({.epsilon = 0, .name = "bn"}); }),
    row("nn::BatchNormalization::BatchNormalization", "dtypes",
        "bn: a layer's dtype must be float32 or float64, got int64",
        [] { nn::BatchNormalization({.dtype = DType::int64, .name = "bn"}); }),
    row("nn::BatchNormalization::BatchNormalization", "shapes",
        "bn: axis is 1 for input 2x3x3x4; only the last axis (-1 or 3) is supported",
        [] { nn::BatchNormalization({.axis = 1, .name = "bn"})(ones({2, 3, 3, 4})); }),
    row("nn::BatchNormalization::BatchNormalization", "shapes", "bn: input is 4, expected at least rank 2",
        [] { nn::BatchNormalization({.name = "bn"})(ones({4}), true); }),
    row("nn::BatchNormalization::BatchNormalization", "shapes",
        "bn: input 2x5 has 5 channels, but the layer was built for 3",
        [] {
          nn::BatchNormalization layer({.name = "bn"});
          layer(ones({2, 3}));
          layer(ones({2, 5}));
        }),
    row("nn::BatchNormalization::BatchNormalization", "empty",
        "bn: input is 0x3; expected at least one example and one channel",
        [] { nn::BatchNormalization({.name = "bn"})(ones({0, 3}), true); }),
    row("nn::BatchNormalization::gamma", "layers", "bn: the layer has no gamma (scale is false)",
        [] { nn::BatchNormalization({.scale = false, .name = "bn"}).gamma(); }),
    row("nn::BatchNormalization::gamma", "layers", "bn: gamma is made on the layer's first call",
        [] { nn::BatchNormalization({.name = "bn"}).gamma(); }),
    row("nn::BatchNormalization::beta", "layers", "bn: the layer has no beta (center is false)",
        [] { nn::BatchNormalization({.center = false, .name = "bn"}).beta(); }),
    row("nn::BatchNormalization::moving_mean", "layers", "bn: moving_mean is made on the layer's first call",
        [] { nn::BatchNormalization({.name = "bn"}).moving_mean(); }),
    row("nn::BatchNormalization::moving_variance", "layers", "bn: moving_variance is made on the layer's first call",
        [] { nn::BatchNormalization({.name = "bn"}).moving_variance(); }),
    row("nn::GlobalAveragePooling2D::GlobalAveragePooling2D", "shapes",
        "gap: input is 2x3x4, expected rank 4 (batch, height, width, channels)",
        [] { nn::GlobalAveragePooling2D({.name = "gap"})(ones({2, 3, 4})); }),
    row("nn::GlobalAveragePooling2D::GlobalAveragePooling2D", "empty",
        "gap: input is 1x0x3x2, expected rank 4 (batch, height, width, channels) with at least one pixel",
        [] { nn::GlobalAveragePooling2D({.name = "gap"})(ones({1, 0, 3, 2})); }),
    row("nn::GlobalAveragePooling2D::GlobalAveragePooling2D", "dtypes", "gap: input is 1x2x2x1 int64",
        [] { nn::GlobalAveragePooling2D({.name = "gap"})(ones({1, 2, 2, 1}, DType::int64)); }),
    // ---- Metrics
    row("nn::Mean::update_state", "undefined", "loss.update_state: values is an undefined tensor",
        [] { nn::Mean("loss").update_state(Tensor()); }),
    row("nn::Mean::update_state", "nan", "loss.update_state: sample_weight must be finite and >= 0, got nan",
        [] { nn::Mean("loss").update_state(ones({2}), kNaN); }),
    row("nn::Mean::update_state", "shapes", "loss.update_state: sample_weight 3 does not broadcast to the values' shape 2",
        [] { nn::Mean("loss").update_state(ones({2}), ones({3})); }),
    row("nn::Mean::update_state", "shapes", "loss.update_state: sample_weight must be finite and >= 0, got -1",
        [] { nn::Mean("loss").update_state(ones({2}), Tensor({1.0, -1.0}, Shape{2})); }),
    row("nn::Mean::operator()", "shapes", "loss.update_state: sample_weight must be finite and >= 0, got -2",
        [] { nn::Mean("loss")(ones({2}), -2); }),
    value_row("nn::Mean::update_state", "shapes", "a rejected update adds nothing: the mean of the good ones stays",
              [] {
                nn::Mean mean("loss");
                mean.update_state(Tensor({2.0}, Shape{1}));
                try {
                  mean.update_state(Tensor({5.0, 7.0}, Shape{2}), Tensor({1.0, kNaN}, Shape{2}));
                } catch (const Error&) {
                }
                return mean.result() == 2.0 && mean.count() == 1.0;
              }),
    value_row("nn::Mean::result", "empty", "0 before the first update (Keras's divide_no_nan), and for weight 0",
              [] {
                nn::Mean mean("loss");
                const bool fresh = mean.result() == 0.0;
                mean.update_state(ones({2}), 0.0);
                return fresh && mean.result() == 0.0 && mean.total() == 0.0;
              }),
    value_row("nn::Mean::update_state", "empty", "an empty tensor adds nothing", [] {
      nn::Mean mean("loss");
      mean.update_state(ones({0}));
      return mean.count() == 0.0 && mean.result() == 0.0;
    }),
    row("nn::SparseCategoricalAccuracy::update_state", "shapes",
        "acc.update_state: y_true is 3 for y_pred 2x4; expected labels of shape 2",
        [] { nn::SparseCategoricalAccuracy("acc").update_state(ones({3}), ones({2, 4})); }),
    row("nn::SparseCategoricalAccuracy::update_state", "dtypes",
        "acc.update_state: y_pred is 2x4 int64; expected float scores",
        [] { nn::SparseCategoricalAccuracy("acc").update_state(ones({2}), ones({2, 4}, DType::int64)); }),
    row("nn::SparseCategoricalAccuracy::update_state", "empty", "acc.update_state: y_pred 2x0 has no classes",
        [] { nn::SparseCategoricalAccuracy("acc").update_state(ones({2}), ones({2, 0})); }),
    row("nn::SparseCategoricalAccuracy::update_state", "undefined", "acc.update_state: y_true is an undefined tensor",
        [] { nn::SparseCategoricalAccuracy("acc").update_state(Tensor(), ones({2, 4})); }),
    row("nn::SparseCategoricalAccuracy::update_state", "shapes",
        "acc.update_state: y_true holds 7 at 1; expected class labels, whole numbers 0 to 3",
        [] {
          nn::SparseCategoricalAccuracy("acc").update_state(Tensor({0.0, 7.0}, Shape{2}, DType::int64), ones({2, 4}));
        }),
    row("nn::SparseCategoricalAccuracy::operator()", "nan",
        "acc.update_state: y_true holds nan at 0; expected class labels, whole numbers 0 to 3",
        [] { nn::SparseCategoricalAccuracy("acc")(Tensor({kNaN}, Shape{1}), ones({1, 4})); }),
    value_row("nn::SparseCategoricalAccuracy::result", "empty", "0 before the first update, and after a reset",
              [] {
                nn::SparseCategoricalAccuracy accuracy("acc");
                const bool fresh = accuracy.result() == 0.0;
                accuracy.update_state(Tensor({1.0}, Shape{1}, DType::int64), Tensor({0.0, 1.0}, Shape{1, 2}));
                const bool one = accuracy.result() == 1.0;
                accuracy.reset_state();
                return fresh && one && accuracy.result() == 0.0 && accuracy.count() == 0;
              }),
    value_row("nn::SparseCategoricalAccuracy::update_state", "empty", "an empty batch adds nothing",
              [] {
                nn::SparseCategoricalAccuracy accuracy("acc");
                accuracy.update_state(ones({0}, DType::int64), ones({0, 3}));
                return accuracy.count() == 0 && accuracy.result() == 0.0;
              }),
    value_row("nn::Metric::result", "nan", "a NaN value makes the mean NaN: never masked",
              [] {
                nn::Mean mean("loss");
                mean.update_state(Tensor({1.0, kNaN}, Shape{2}));
                const nn::Metric& metric = mean;
                return std::isnan(metric.result());
              }),
    value_row("nn::Metric::reset_state", "empty", "a reset clears everything: result() is 0 again",
              [] {
                nn::Mean mean("loss");
                mean.update_state(Tensor({3.0}, Shape{1}));
                nn::Metric& metric = mean;
                metric.reset_state();
                return metric.result() == 0.0 && mean.count() == 0.0;
              }),
    value_row("nn::Module::count_params", "layers", "a layer not built yet has 0 parameters",
              [] { return nn::Dense(2, {.name = "d"}).count_params() == 0; }),
    value_row("nn::Module::weights", "layers", "a layer not built yet has no weights",
              [] { return nn::Dense(2, {.name = "d"}).weights().empty(); }),
    value_row("nn::Module::get_weights", "layers", "a layer not built yet has no weight values",
              [] { return nn::Dense(2, {.name = "d"}).get_weights().empty(); }),
    value_row("nn::Module::trainable_variables", "layers", "a layer not built yet has no trainable variables",
              [] { return nn::Dense(2, {.name = "d"}).trainable_variables().empty(); }),
    value_row("nn::Module::named_weights", "layers", "a layer not built yet has no named weights",
              [] { return nn::Dense(2, {.name = "d"}).named_weights().empty(); }),
    row("nn::RandomNormal::RandomNormal", "nan", "RandomNormal: mean nan and stddev 0.05; expected finite numbers",
        [] { (void)nn::RandomNormal(kNaN); }),
    row("nn::RandomUniform::RandomUniform", "shapes", "RandomUniform: low 1 and high 0",
        [] { (void)nn::RandomUniform(1, 0); }),
    row("nn::TruncatedNormal::TruncatedNormal", "shapes", "TruncatedNormal: mean 0 and stddev -1",
        [] { (void)nn::TruncatedNormal(0, -1); }),
    row("nn::Constant::Constant", "nan", "Constant: value nan; expected a finite number",
        [] { (void)nn::Constant(kNaN); }),
    row("nn::Initializer::make", "dtypes", "initializer Zeros: expected float32 or float64, got int64",
        [] {
          Generator g(1);
          nn::Zeros().make({2}, DType::int64, g);
        }),
    row("nn::GlorotUniform::GlorotUniform", "empty", "initializer GlorotUniform: fans must be positive",
        [] {
          Generator g(1);
          nn::GlorotUniform().make({0, 3}, DType::float32, g);
        }),
    row("nn::GlorotNormal::GlorotNormal", "empty", "initializer GlorotNormal: fans must be positive",
        [] {
          Generator g(1);
          nn::GlorotNormal().make({3, 0}, DType::float32, g);
        }),
    row("nn::HeNormal::HeNormal", "empty", "initializer HeNormal: fans must be positive",
        [] {
          Generator g(1);
          nn::HeNormal().make({0, 0}, DType::float32, g);
        }),
    value_row("nn::compute_fans", "empty", "an empty shape has fans 0 (the initializers reject them)",
              [] {
                return nn::compute_fans({0, 3}).in == 0;
              }),
    // ---- Optimizers
    row("optim::SGD::SGD", "optimizers", "SGD: momentum must be in [0, 1], got 2",
        [] { optim::SGD(0.1, {.momentum = 2}); }),
    row("optim::SGD::SGD", "optimizers", "SGD: nesterov needs a momentum > 0",
        [] { optim::SGD(0.1, {.nesterov = true}); }),
    row("optim::SGD::SGD", "nan", "SGD: learning rate must be a finite number >= 0, got nan",
        [] { (void)optim::SGD(kNaN); }),
    row("optim::Adam::Adam", "optimizers", "Adam: beta_1 must be in [0, 1), got 1",
        [] { optim::Adam(0.1, {.beta_1 = 1}); }),
    row("optim::Adam::Adam", "nan", "Adam: epsilon must be a finite number >= 0, got nan",
        [] { optim::Adam(0.1, {.epsilon = kNaN}); }),
    row("optim::Optimizer::set_learning_rate", "nan", "SGD: learning rate must be a finite number >= 0, got inf",
        [] { optim::SGD(0.1).set_learning_rate(std::numeric_limits<double>::infinity()); }),
    row("optim::Optimizer::apply_gradients", "optimizers",
        "SGD.apply_gradients: 1 gradients for 2 variables; expected one gradient per variable",
        [] { optim::SGD(0.1).apply_gradients({ones({2})}, {Variable(ones({2})), Variable(ones({2}))}); }),
    row("optim::Optimizer::apply_gradients", "shapes",
        "SGD.apply_gradients: gradient 0 is 3 float32, but variable 'w' is 2",
        [] { optim::SGD(0.1).apply_gradients({ones({3})}, {Variable(ones({2}), "w")}); }),
    row("optim::Optimizer::apply_gradients", "undefined", "SGD.apply_gradients: variable 0 is an empty handle",
        [] { optim::SGD(0.1).apply_gradients({ones({2})}, {Variable()}); }),
    row("optim::Optimizer::load_state", "checkpoints", "SGD.load_state: the state is not a SGD optimizer's",
        [] {
          optim::SGD(0.1).load_state({{"bogus", ones({2})}});
        }),
    row("optim::Optimizer::get_slot", "undefined", "Variable: used an empty variable handle",
        [] { optim::SGD(0.1, {.momentum = 0.9}).get_slot(Variable(), "momentum"); }),
    value_row("optim::Optimizer::state", "optimizers", "a new optimizer's state holds its iteration count 0",
              [] {
                const NamedTensors state = optim::SGD(0.1).state();
                return !state.empty();
              }),
    // ---- Learning-rate schedules
    row("optim::PiecewiseConstantDecay::PiecewiseConstantDecay", "optimizers",
        "PiecewiseConstantDecay: boundaries must increase strictly, got [10, 5]",
        [] { optim::PiecewiseConstantDecay({10, 5}, {0.1, 0.01, 0.001}); }),
    row("optim::PiecewiseConstantDecay::PiecewiseConstantDecay", "optimizers",
        "PiecewiseConstantDecay: 2 boundaries need 3 values, got 2",
        [] { optim::PiecewiseConstantDecay({10, 20}, {0.1, 0.01}); }),
    row("optim::PiecewiseConstantDecay::PiecewiseConstantDecay", "nan",
        "PiecewiseConstantDecay: each value must be a finite number >= 0, got nan",
        [] { optim::PiecewiseConstantDecay({10}, {0.1, kNaN}); }),
    row("optim::PiecewiseConstantDecay::PiecewiseConstantDecay", "empty",
        "PiecewiseConstantDecay: 0 boundaries need 1 values, got 0", [] { optim::PiecewiseConstantDecay({}, {}); }),
    row("optim::ExponentialDecay::ExponentialDecay", "optimizers",
        "ExponentialDecay: decay_steps must be a finite number > 0, got 0",
        [] { optim::ExponentialDecay(0.1, 0, 0.5); }),
    row("optim::ExponentialDecay::ExponentialDecay", "optimizers",
        "ExponentialDecay: decay_rate must be a finite number >= 0, got -0.5",
        [] { optim::ExponentialDecay(0.1, 100, -0.5); }),
    row("optim::ExponentialDecay::ExponentialDecay", "nan",
        "ExponentialDecay: initial_learning_rate must be a finite number >= 0, got nan",
        [] { optim::ExponentialDecay(kNaN, 100, 0.5); }),
    row("optim::CosineDecay::CosineDecay", "optimizers", "CosineDecay: decay_steps must be a finite number > 0, got -10",
        [] { optim::CosineDecay(0.1, -10); }),
    row("optim::CosineDecay::CosineDecay", "optimizers", "CosineDecay: alpha must be in [0, 1], got 2",
        [] { optim::CosineDecay(0.1, 100, {.alpha = 2}); }),
    row("optim::CosineDecay::CosineDecay", "optimizers",
        "CosineDecay: warmup_steps must be a finite number >= 0, got -5",
        [] { optim::CosineDecay(0.1, 100, {.warmup_target = 1.0, .warmup_steps = -5}); }),
    row("optim::CosineDecay::CosineDecay", "nan", "CosineDecay: warmup_target must be a finite number >= 0, got inf",
        [] { optim::CosineDecay(0.1, 100, {.warmup_target = std::numeric_limits<double>::infinity()}); }),
    row("optim::LearningRateSchedule::operator()", "optimizers",
        "ExponentialDecay: step is -1, expected a step >= 0",
        [] { (void)optim::ExponentialDecay(0.1, 10, 0.5)(-1); }),
    row("optim::LearningRateSchedule::operator()", "optimizers", "CosineDecay: step is -5, expected a step >= 0",
        [] { (void)optim::CosineDecay(0.0, 10, {.warmup_target = 1.0, .warmup_steps = 10})(-5); }),
    row("optim::LearningRateSchedule::operator()", "optimizers",
        "PiecewiseConstantDecay: step is -1, expected a step >= 0",
        [] { (void)optim::PiecewiseConstantDecay({10}, {0.1, 0.01})(-1); }),
    value_row("optim::LearningRateSchedule::operator()", "overflow",
              "a step far past the end keeps the last rate: CosineDecay's alpha, the last piece's value",
              [] {
                return optim::CosineDecay(1.0, 10, {.alpha = 0.5})(INT64_MAX) == 0.5 &&
                       optim::PiecewiseConstantDecay({10}, {0.1, 0.01})(INT64_MAX) == 0.01;
              }),
    row("optim::LearningRate::LearningRate", "undefined",
        "LearningRate: the schedule is a null pointer; expected a LearningRateSchedule",
        [] { (void)optim::SGD(std::shared_ptr<const optim::LearningRateSchedule>()); }),
    row("optim::LearningRate::LearningRate", "nan", "SGD: learning rate must be a finite number >= 0, got nan",
        [] { (void)optim::SGD(optim::LearningRate(kNaN)); }),
    value_row("optim::LearningRate::operator()", "optimizers", "a constant rate is the same at every step",
              [] {
                const optim::LearningRate rate(0.25);
                return rate(0) == 0.25 && rate(INT64_MAX) == 0.25 && rate.schedule() == nullptr;
              }),
    row("optim::Optimizer::set_learning_rate", "optimizers", "SGD: learning rate must be a finite number >= 0, got -0.1",
        [] { optim::SGD(0.1).set_learning_rate(-0.1); }),
    row("optim::Optimizer::set_gradient_aggregator", "optimizers",
        "SGD.apply_gradients: the gradient aggregator returned 0 gradients for 1",
        [] {
          optim::SGD sgd(0.1);
          sgd.set_gradient_aggregator([](const std::vector<Tensor>&, const std::vector<Variable>&) {
            return std::vector<Tensor>{};
          });
          sgd.apply_gradients({ones({2})}, {Variable(ones({2}), "w")});
        }),
    row("optim::Optimizer::set_gradient_aggregator", "shapes",
        "SGD.apply_gradients: the gradient aggregator changed gradient 0 of variable 'w' from 2 float32 to 3 float32",
        [] {
          optim::SGD sgd(0.1);
          sgd.set_gradient_aggregator([](const std::vector<Tensor>&, const std::vector<Variable>&) {
            return std::vector<Tensor>{ones({3})};
          });
          sgd.apply_gradients({ones({2})}, {Variable(ones({2}), "w")});
        }),
    value_row("optim::Optimizer::set_gradient_aggregator", "optimizers",
              "an empty function removes the aggregator: the gradients are applied as given",
              [] {
                optim::SGD sgd(0.5);
                sgd.set_gradient_aggregator([](const std::vector<Tensor>& g, const std::vector<Variable>&) { return g; });
                const bool set = sgd.has_gradient_aggregator();
                sgd.set_gradient_aggregator({});
                Variable w(ones({1}), "w");
                sgd.apply_gradients({ones({1})}, {w});
                return set && !sgd.has_gradient_aggregator() && w.value().item() == 0.5;
              }),
    row("optim::Optimizer::apply_gradients", "optimizers",
        "SGD.apply_gradients: the learning rate is -0.1 (a schedule at iteration 0)",
        [] {
          struct Negative : optim::LearningRateSchedule {
            double operator()(int64_t) const override { return -0.1; }
            std::string name() const override { return "a schedule"; }
          };
          optim::SGD(Negative()).apply_gradients({ones({1})}, {Variable(ones({1}), "w")});
        }),
    // ---- Data files and batches
    row("data::read_idx", "data files", "/nonexistent-folder/x.idx: file not found",
        [] { data::read_idx("/nonexistent-folder/x.idx"); }),
    row("data::read_idx", "data files", "",
        [] {
          const std::string path = census::scratch("bad.idx");
          write_bytes(path, std::string("\x00\x00\x08\x01\x00\x00\x00\x05xy", 10));
          try {
            data::read_idx(path);
          } catch (const Error& e) {
            if (std::string(e.what()).rfind(path + ": truncated", 0) == 0) throw;
            throw Error("unexpected: " + std::string(e.what()));
          }
        }),
    row("data::parse_idx", "data files", "mem: bad magic",
        [] {
          const uint8_t bytes[] = {1, 2, 3, 4};
          data::parse_idx(bytes, "mem");
        }),
    row("data::parse_idx", "overflow", "mem: oversized",
        [] {
          const uint8_t bytes[] = {0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
          data::parse_idx(bytes, "mem");
        }),
    row("data::write_idx", "data files", "write_idx: /nonexistent-folder/x.idx: cannot open for writing",
        [] {
          data::write_idx("/nonexistent-folder/x.idx", data::IdxArray{{1}, {1}, data::IdxType::u8}, false);
        }),
    row("data::write_idx", "shapes", "write_idx: ",
        [] { data::write_idx(census::scratch("w.idx"), data::IdxArray{{1, 2}, {5}, data::IdxType::u8}, false); }),
    row("data::load_fashion_mnist", "data files", "load_fashion_mnist: /nonexistent-folder: directory not found",
        [] { data::load_fashion_mnist("/nonexistent-folder", data::Split::train); }),
    row("data::write_fashion_mnist", "data files", "write_fashion_mnist: ",
        [] { data::write_fashion_mnist("/proc/no-such-folder/x", data::Split::train, idx_images(2), idx_labels(2), false); }),
    row("data::fashion_mnist_file_name", "data files", "fashion_mnist_file_name: part is ",
        [] { data::fashion_mnist_file_name(data::Split::train, "pictures"); }),
    row("data::Dataset::take", "shapes", "Dataset::take: n is -1, expected n >= 0", [] { tiny(2).take(-1); }),
    // ---- Data sets: making one, reading it, its state
    row("data::Dataset::from_tensor_slices", "shapes",
        "Dataset::from_tensor_slices: features 2x2 and labels 3 differ in their first dimension",
        [] { data::Dataset::from_tensor_slices(ones({2, 2}), ones({3})); }),
    row("data::Dataset::from_tensor_slices", "shapes",
        "Dataset::from_tensor_slices: features is a scalar; expected at least one dimension",
        [] { data::Dataset::from_tensor_slices(Tensor::scalar(1)); }),
    row("data::Dataset::from_tensor_slices", "shapes",
        "Dataset::from_tensor_slices: labels is a scalar; expected at least one dimension",
        [] { data::Dataset::from_tensor_slices(ones({2, 2}), Tensor::scalar(1)); }),
    row("data::Dataset::from_tensor_slices", "undefined", "Dataset::from_tensor_slices: features is an undefined tensor",
        [] { data::Dataset::from_tensor_slices(Tensor()); }),
    row("data::Dataset::from_tensor_slices", "undefined", "Dataset::from_tensor_slices: labels is an undefined tensor",
        [] { data::Dataset::from_tensor_slices(ones({2, 2}), Tensor()); }),
    row("data::Dataset::from_idx", "shapes", "Dataset::from_idx: 2 images but 3 labels",
        [] { data::Dataset::from_idx(idx_images(2), idx_labels(3)); }),
    row("data::Dataset::from_idx", "shapes", "Dataset::from_idx: labels have dims 2x1, expected (N)",
        [] {
          data::IdxArray labels = idx_labels(2);
          labels.dims = {2, 1};
          data::Dataset::from_idx(idx_images(2), labels);
        }),
    row("data::Dataset::from_idx", "data files", "Dataset::from_idx: 7 image bytes and 2 label bytes for dims 2x2x2",
        [] {
          data::IdxArray images = idx_images(2);
          images.bytes.pop_back();
          data::Dataset::from_idx(images, idx_labels(2));
        }),
    row("data::Dataset::from_idx", "dtypes", "Dataset::from_idx: images and labels must be unsigned bytes",
        [] {
          data::IdxArray images = idx_images(2);
          images.type = data::IdxType::i8;
          data::Dataset::from_idx(images, idx_labels(2));
        }),
    row("data::Dataset::from_idx", "shapes", "Dataset::from_idx: images have dims 0x-3",
        [] {
          data::IdxArray images{{}, {0, -3}, data::IdxType::u8};
          data::Dataset::from_idx(images, idx_labels(0));
        }),
    row("data::Dataset::shuffle", "data files", "Dataset::shuffle: the data set is shuffled already (seed 1)",
        [] { tiny(4).shuffle(1).shuffle(2); }),
    row("data::Dataset::shuffle", "data files", "Dataset::shuffle: the data set is batched already: shuffle before batch",
        [] { tiny(4).batch(2).shuffle(1); }),
    row("data::Dataset::batch", "shapes", "Dataset::batch: batch size is 0, expected at least 1",
        [] { tiny(2).batch(0); }),
    row("data::Dataset::batch", "shapes", "Dataset::batch: batch size is -4, expected at least 1",
        [] { tiny(2).batch(-4, true); }),
    row("data::Dataset::batch", "data files", "Dataset::batch: the data set is batched already (batch size 2)",
        [] { tiny(4).batch(2).batch(2); }),
    row("data::Dataset::shard", "shapes", "Dataset::shard: index is 2, expected 0 to 1 for 2 shards",
        [] { tiny(4).batch(2).shard(2, 2); }),
    row("data::Dataset::shard", "shapes", "Dataset::shard: index is -1, expected 0 to 1 for 2 shards",
        [] { tiny(4).batch(2).shard(2, -1); }),
    row("data::Dataset::shard", "shapes", "Dataset::shard: num_shards is 0, expected at least 1",
        [] { tiny(4).batch(2).shard(0, 0); }),
    row("data::Dataset::shard", "data files", "Dataset::shard: the data set is not batched: call batch(...) first",
        [] { tiny(4).shard(2, 0); }),
    row("data::Dataset::take", "data files", "Dataset::take: call take before shuffle, batch and shard",
        [] { tiny(4).shuffle(1).take(2); }),
    row("data::Dataset::set_epoch", "shapes", "Dataset::set_epoch: epoch is -1, expected at least 0",
        [] { tiny(2).batch(1).set_epoch(-1); }),
    row("data::Dataset::set_epoch", "overflow", "Dataset::set_epoch: epoch is 9223372036854775807, expected 0 to",
        [] { tiny(2).set_epoch(INT64_MAX); }),
    row("data::Dataset::load_state", "checkpoints", "Dataset::load_state: the state needs 'epoch' and 'position'",
        [] { tiny(2).batch(1).load_state({}); }),
    row("data::Dataset::load_state", "checkpoints", "Dataset::load_state: 'epoch' must be an int64 scalar",
        [] { tiny(2).load_state({{"epoch", ones({2})}, {"position", Tensor::scalar(0, DType::int64)}}); }),
    row("data::Dataset::load_state", "checkpoints", "Dataset::load_state: unexpected entry 'where'",
        [] { tiny(2).load_state({{"where", Tensor::scalar(0, DType::int64)}}); }),
    row("data::Dataset::load_state", "checkpoints", "Dataset::load_state: position is 3, but an epoch has 2 examples",
        [] {
          tiny(2).load_state({{"epoch", Tensor::scalar(0, DType::int64)}, {"position", Tensor::scalar(3, DType::int64)}});
        }),
    row("data::Dataset::load_state", "checkpoints",
        "Dataset::load_state: position is 1, which is not at the start of a batch of 2",
        [] {
          tiny(4).batch(2).load_state(
              {{"epoch", Tensor::scalar(0, DType::int64)}, {"position", Tensor::scalar(1, DType::int64)}});
        }),
    row("data::Dataset::load_state", "overflow", "Dataset::load_state: epoch is -1, expected 0 to",
        [] {
          tiny(2).load_state({{"epoch", Tensor::scalar(-1, DType::int64)}, {"position", Tensor::scalar(0, DType::int64)}});
        }),
    value_row("data::Dataset::Dataset", "empty", "a default data set has no examples: no element, cardinality 0",
              [] {
                data::Dataset d;
                return !d.next().has_value() && d.cardinality() == 0 && d.num_examples() == 0;
              }),
    value_row("data::Dataset::next", "empty", "an empty data set gives no batch, epoch after epoch",
              [] {
                data::Dataset d = data::Dataset::from_tensor_slices(ones({0, 2})).batch(4);
                return !d.next().has_value() && !d.next().has_value() && d.epoch() == 2;
              }),
    value_row("data::Dataset::cardinality", "empty", "drop_remainder with fewer examples than a batch: 0 batches",
              [] { return tiny(3).batch(4, true).cardinality() == 0 && count_elements(tiny(3).batch(4, true)) == 0; }),
    value_row("data::Dataset::cardinality", "overflow", "batch(INT64_MAX) of 3 examples: 1 batch, not an overflow",
              [] { return tiny(3).batch(INT64_MAX).cardinality() == 1 && count_elements(tiny(3).batch(INT64_MAX)) == 1; }),
    value_row("data::Dataset::num_examples", "empty", "drop_remainder keeps only whole batches' examples",
              [] { return tiny(5).batch(2, true).num_examples() == 4 && tiny(5).batch(2).num_examples() == 5; }),
    value_row("data::Dataset::begin", "empty", "iterating an empty data set runs no step",
              [] { return count_elements(data::Dataset()) == 0 && count_elements(tiny(0).batch(2)) == 0; }),
    value_row("data::Dataset::shard", "empty", "more shards than examples in a batch: every shard steps, some with 0",
              [] {
                data::Dataset shard = tiny(3).batch(2).shard(3, 2);
                const std::optional<data::Batch> first = shard.next();
                const std::optional<data::Batch> last = shard.next();
                return first && first->indices.empty() && first->features.shape() == Shape{0, 2} && last &&
                       last->indices.empty() && !shard.next().has_value();
              }),
    value_row("data::Dataset::take", "empty", "take(n) with n beyond the size keeps every example",
              [] { return tiny(3).take(INT64_MAX).num_examples() == 3 && tiny(3).take(0).cardinality() == 0; }),
});

const bool exempted = census::add(std::vector<census::Exemption>{
    exempt("nn::Module::name", "an accessor"),
    exempt("nn::Module::dtype", "an accessor"),
    exempt("nn::Module::built", "an accessor"),
    exempt("nn::Module::trainable", "an accessor"),
    exempt("nn::Module::class_name", "an accessor"),
    exempt("nn::Conv2D::class_name", "an accessor"),
    exempt("nn::Conv2D::filters", "an accessor"),
    exempt("nn::Conv2D::kernel_size", "an accessor"),
    exempt("nn::Conv2D::options", "an accessor"),
    exempt("nn::Dense::class_name", "an accessor"),
    exempt("nn::Dense::units", "an accessor"),
    exempt("nn::Dense::options", "an accessor"),
    exempt("nn::Flatten::class_name", "an accessor"),
    exempt("nn::ReLU::class_name", "an accessor"),
    exempt("nn::Sigmoid::class_name", "an accessor"),
    exempt("nn::Tanh::class_name", "an accessor"),
    exempt("nn::MaxPool2D::class_name", "an accessor"),
    exempt("nn::MaxPool2D::options", "an accessor"),
    exempt("nn::AvgPool2D::class_name", "an accessor"),
    exempt("nn::AvgPool2D::options", "an accessor"),
    exempt("nn::Sequential::class_name", "an accessor"),
    exempt("nn::Sequential::size", "an accessor"),
    exempt("nn::Initializer::kind", "an accessor"),
    exempt("nn::Initializer::name", "an accessor"),
    exempt("nn::Zeros::Zeros", "makes a constant initializer"),
    exempt("nn::Ones::Ones", "makes a constant initializer"),
    exempt("nn::MaxPool2D::pool_size", "an accessor"),
    exempt("nn::AvgPool2D::pool_size", "an accessor"),
    exempt("nn::reset_names", "no input"),
    exempt("nn::set_seed", "every 64-bit seed is a seed"),
    exempt("nn::next_seed", "no input"),
    exempt("optim::SGD::options", "an accessor"),
    exempt("optim::Adam::options", "an accessor"),
    exempt("optim::Optimizer::learning_rate", "an accessor"),
    exempt("optim::Optimizer::iterations", "an accessor"),
    exempt("optim::Optimizer::name", "an accessor"),
    exempt("optim::Optimizer::hyper_parameters", "an accessor"),
    exempt("optim::Optimizer::has_gradient_aggregator", "an accessor"),
    exempt("optim::Optimizer::learning_rate_setting", "an accessor"),
    exempt("optim::LearningRate::schedule", "an accessor"),
    exempt("optim::LearningRateSchedule::name", "an accessor: the schedule's class name"),
    exempt("nn::Add::class_name", "an accessor"),
    exempt("nn::Dropout::class_name", "an accessor"),
    exempt("nn::Dropout::rate", "an accessor"),
    exempt("nn::BatchNormalization::class_name", "an accessor"),
    exempt("nn::BatchNormalization::options", "an accessor"),
    exempt("nn::GlobalAveragePooling2D::class_name", "an accessor"),
    exempt("nn::Metric::name", "an accessor"),
    exempt("nn::Mean::Mean", "any string is a name; it only labels the metric's errors"),
    exempt("nn::Mean::total", "an accessor"),
    exempt("nn::Mean::count", "an accessor"),
    exempt("nn::SparseCategoricalAccuracy::SparseCategoricalAccuracy", "any string is a name; it labels errors"),
    exempt("nn::SparseCategoricalAccuracy::correct", "an accessor"),
    exempt("nn::SparseCategoricalAccuracy::count", "an accessor"),
    exempt("data::split_name", "names each Split"),
    exempt("data::class_names", "no input: the ten class names"),
    exempt("data::default_fashion_mnist_directory", "no input"),
    exempt("data::IdxArray::numel", "any dims: -1 or INT64_MAX say negative or overflowing, documented"),
    exempt("data::Dataset::batch_size", "an accessor"),
    exempt("data::Dataset::epoch", "an accessor"),
    exempt("data::Dataset::has_labels", "an accessor"),
    exempt("data::Dataset::feature_shape", "an accessor: a default data set's is the scalar shape"),
    exempt("data::Dataset::state", "an accessor"),
    exempt("data::Dataset::end", "a sentinel"),
    exempt("data::Dataset::Iterator::Iterator", "made by Dataset::begin only"),
    exempt("data::Dataset::Iterator::operator*", "an iterator of a range-for over a Dataset"),
    exempt("data::Dataset::Iterator::operator->", "an iterator of a range-for over a Dataset"),
    exempt("data::Dataset::Iterator::operator++", "an iterator of a range-for over a Dataset"),
    exempt("data::Dataset::Iterator::operator==", "an iterator of a range-for over a Dataset"),
    exempt("data::get", "a Batch's element 0 or 1; any other index is a static_assert, at compile time"),
});

}  // namespace
