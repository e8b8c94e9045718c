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

// A data set of `n` 2x2 images with labels 0, 1, ...
data::Dataset tiny(int64_t n);

// The same, kept for the life of the test (Batches refers to its data set).
const data::Dataset& kept(int64_t n) {
  static std::map<int64_t, data::Dataset> sets;
  auto found = sets.find(n);
  if (found == sets.end()) found = sets.emplace(n, tiny(n)).first;
  return found->second;
}

data::Dataset tiny(int64_t n) {
  data::Dataset d;
  d.images.dims = {n, 2, 2};
  d.images.bytes.assign(static_cast<size_t>(n * 4), 7);
  d.labels.dims = {n};
  for (int64_t i = 0; i < n; ++i) d.labels.bytes.push_back(static_cast<uint8_t>(i % 10));
  return d;
}

const bool registered = census::add({
    // ---- Layers
    row("nn::Conv2D::Conv2D", "layers", "c: filters must be at least 1, got 0",
        [] {
          nn::Conv2D(0, {3, 3}, {.name = "c"});
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
    row("nn::Module::operator()", "overflow", "conv2d: kernel 2x2 dilated by",
        [] {
          nn::Conv2D(1, {2, 2}, {.dilation_rate = {INT64_MAX, INT64_MAX}, .name = "c"})(ones({1, 5, 5, 1}));
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
    value_row("nn::Sequential::summary", "layers", "an empty model's summary shows 0 parameters",
              [] { return nn::Sequential("s").summary().find('0') != std::string::npos; }),
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
    row("optim::SGD::SGD", "nan", "SGD: learning rate must be a finite number, got nan",
        [] { (void)optim::SGD(kNaN); }),
    row("optim::Adam::Adam", "optimizers", "Adam: beta_1 must be in [0, 1), got 1",
        [] { optim::Adam(0.1, {.beta_1 = 1}); }),
    row("optim::Adam::Adam", "nan", "Adam: epsilon must be a finite number >= 0, got nan",
        [] { optim::Adam(0.1, {.epsilon = kNaN}); }),
    row("optim::Optimizer::set_learning_rate", "nan", "SGD: learning rate must be a finite number, got inf",
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
        [] { data::write_fashion_mnist("/proc/no-such-folder/x", data::Split::train, tiny(2), false); }),
    row("data::fashion_mnist_file_name", "data files", "fashion_mnist_file_name: part is ",
        [] { data::fashion_mnist_file_name(data::Split::train, "pictures"); }),
    row("data::Dataset::take", "shapes", "Dataset::take: n is -1, expected n >= 0", [] { tiny(2).take(-1); }),
    row("data::Batches::Batches", "shapes", "Batches: batch size is 0, expected at least 1",
        [] { data::Batches(kept(2), 0, std::nullopt); }),
    row("data::Batches::Batches", "shapes", "Batches: 2 images but 3 labels",
        [] {
          data::Dataset d = tiny(2);
          d.labels = tiny(3).labels;
          data::Batches(d, 1, std::nullopt);
        }),
    row("data::Batches::Batches", "data files", "Batches: images have dims 2x2, expected (N, H, W)",
        [] {
          data::Dataset d = tiny(2);
          d.images.dims = {2, 2};
          data::Batches(d, 1, std::nullopt);
        }),
    row("data::Batches::set_epoch", "shapes", "Batches::set_epoch: epoch is -1, expected at least 0",
        [] { data::Batches(kept(2), 1, std::nullopt).set_epoch(-1); }),
    row("data::Batches::load_state", "checkpoints", "Batches::load_state: the state needs 'epoch' and 'position'",
        [] { data::Batches(kept(2), 1, std::nullopt).load_state({}); }),
    value_row("data::Batches::next", "empty", "an empty data set gives no batch",
              [] {
                data::Batches b(kept(0), 4, std::nullopt);
                return !b.next().has_value() && b.size() == 0;
              }),
    value_row("data::Batches::size", "empty", "drop_last with fewer examples than a batch: 0 batches",
              [] { return data::Batches(kept(3), 4, std::nullopt, true).size() == 0; }),
    value_row("data::Batches::examples", "empty", "drop_last keeps only whole batches' examples",
              [] { return data::Batches(kept(5), 2, std::nullopt, true).examples() == 4; }),
    value_row("data::Batches::begin", "empty", "iterating an empty data set runs no step",
              [] {
                data::Batches b(kept(0), 4, std::nullopt);
                int steps = 0;
                for (const data::Batch& batch : b) steps += batch.images.defined() ? 1 : 0;
                return steps == 0;
              }),
});

const bool exempted = census::add(std::vector<census::Exemption>{
    exempt("nn::Module::name", "an accessor"),
    exempt("nn::Module::dtype", "an accessor"),
    exempt("nn::Module::built", "an accessor"),
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
    exempt("data::split_name", "names each Split"),
    exempt("data::class_names", "no input: the ten class names"),
    exempt("data::default_fashion_mnist_directory", "no input"),
    exempt("data::Dataset::size", "an accessor"),
    exempt("data::IdxArray::numel", "any dims: -1 or INT64_MAX say negative or overflowing, documented"),
    exempt("data::Batches::batch_size", "an accessor"),
    exempt("data::Batches::epoch", "an accessor"),
    exempt("data::Batches::state", "an accessor"),
    exempt("data::Batches::end", "a sentinel"),
    exempt("data::Batches::Iterator::Iterator", "made by Batches::begin only"),
    exempt("data::Batches::Iterator::operator*", "an iterator of a range-for over Batches"),
    exempt("data::Batches::Iterator::operator->", "an iterator of a range-for over Batches"),
    exempt("data::Batches::Iterator::operator++", "an iterator of a range-for over Batches"),
    exempt("data::Batches::Iterator::operator==", "an iterator of a range-for over Batches"),
});

}  // namespace
