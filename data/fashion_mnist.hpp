#pragma once

#include <tapegrad/data/dataset.hpp>
#include <tapegrad/data/idx.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tapegrad::data {

/// Which half of a data set: the training images or the held-out test images.
enum class Split { train, test };

/// "train" or "test".
std::string_view split_name(Split split);

/// Fashion-MNIST's ten classes, in label order: class_names()[label].
const std::array<std::string_view, 10>& class_names();

/// Where Debian's dataset-fashion-mnist package puts the data: /usr/share/datasets/fashion-mnist.
std::string default_fashion_mnist_directory();

/// The base file name of a split's images ("images") or labels ("labels") file, without ".gz":
/// "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte".
std::string fashion_mnist_file_name(Split split, std::string_view part);

/// Loads one split from `directory`, each file either gzip-compressed (name + ".gz", as Debian
/// ships them) or plain. Checks that images are Nx28x28 unsigned bytes, labels N unsigned bytes
/// below 10, and the counts agree; errors name the files. The data set keeps the bytes (47 MiB for
/// the training split) and its batches are float32 (B, 28, 28, 1) images in [0, 1] and int64 (B)
/// labels, converted a batch at a time (see Dataset::from_idx):
///   data::Dataset train = data::load_fashion_mnist(dir, data::Split::train).shuffle(seed).batch(256);
Dataset load_fashion_mnist(const std::string& directory, Split split);

/// Writes `images` ((N, 28, 28) bytes) and `labels` ((N) bytes) into `directory` under the split's
/// file names (".gz" added when `gzip`), so that load_fashion_mnist reads them back; for tests and
/// examples that make a small data set.
void write_fashion_mnist(const std::string& directory, Split split, const IdxArray& images, const IdxArray& labels,
                         bool gzip);

}  // namespace tapegrad::data
