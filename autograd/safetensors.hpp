#pragma once

// Tensors on disk in safetensors, the format PyTorch, JAX, NumPy and Hugging Face read:
//   8 bytes: N, the header's length, little-endian
//   N bytes: a JSON object {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
//            "__metadata__": {"key": "value"}} (metadata optional, string to string)
//   then the buffer: each tensor's elements, row-major and little-endian, at its data_offsets
//   (counted from the start of the buffer).

#include <tapegrad/autograd/tensor.hpp>

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tapegrad {

/// Tensors with their names, in order: what `save` writes and `load` returns.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
/// A safetensors file's `__metadata__`: free text, string to string.
using Metadata = std::map<std::string, std::string, std::less<>>;

/// What a safetensors file holds.
struct SafetensorsFile {
  /// The tensors, in the order of their data in the file. F32, F64 and I64 load as float32, float64
  /// and int64; F16 and BF16 are converted to float32.
  NamedTensors tensors;
  /// The `__metadata__`, empty when the file has none.
  Metadata metadata;
};

/// Writes `tensors` (float32 as F32, float64 as F64, int64 as I64) and `metadata` to `path`, atomically:
/// into a temporary file in the same folder, flushed to disk, then renamed over `path`. A failure
/// (full disk, no permission, a crash) leaves the file that was at `path` as it was, and is an Error
/// naming `path`. Names must be non-empty, unique and other than "__metadata__".
void save(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});
/// The tensors of the safetensors file at `path`, in file order. A malformed file is an Error that
/// names the file, the tensor and what is wrong.
NamedTensors load(const std::string& path);
/// The tensors and the metadata of the safetensors file at `path`.
SafetensorsFile load_file(const std::string& path);

/// Reads safetensors from memory, with every check `load_file` makes (it maps the file and calls
/// this); `name` stands for the file in errors. Never reads outside `bytes`.
SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, std::string_view name = "<memory>");
/// The bytes `save` would write.
std::vector<std::byte> to_safetensors(const NamedTensors& tensors, const Metadata& metadata = {});

/// A checkpoint: named parts (the model's weights, the optimizer's state, the data order...), each a
/// list of named tensors, kept in one safetensors file as "<part>/<name>", plus metadata:
///   Checkpoint checkpoint;
///   checkpoint.set("model", model.named_weights());
///   checkpoint.set("optimizer", optimizer.state());
///   checkpoint.save("run.safetensors");
///   ... Checkpoint::load("run.safetensors").get("model") ...
class Checkpoint {
 public:
  /// Sets part `part` (a name without '/') to `tensors`, replacing what it held.
  void set(const std::string& part, const NamedTensors& tensors);
  /// The tensors of part `part`, names without the "<part>/" prefix; an Error when it is absent.
  NamedTensors get(std::string_view part) const;
  /// True when the checkpoint has part `part`.
  bool has(std::string_view part) const;
  /// Free text kept with the tensors (epoch numbers, the optimizer's name, ...).
  Metadata metadata;

  /// Writes the checkpoint to `path` with `tapegrad::save` (atomically).
  void save(const std::string& path) const;
  /// Reads a checkpoint that `save` wrote.
  static Checkpoint load(const std::string& path);

 private:
  std::vector<std::pair<std::string, NamedTensors>> parts_;
};

}  // namespace tapegrad
