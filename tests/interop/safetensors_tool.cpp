// The tapegrad side of the NumPy interoperability test (numpy_safetensors.py):
//   safetensors_tool write FILE   writes known tensors and metadata with tapegrad::save
//   safetensors_tool dump FILE    loads FILE with tapegrad::load_file and prints, one line each,
//                                 name, dtype, shape and values (exactly: %.17g), then the metadata

#include <tapegrad/tapegrad.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <string_view>

using namespace tapegrad;

namespace {

void write(const std::string& path) {
  const NamedTensors tensors{
      {"dense/kernel", Tensor({0.5, -1.25, 3.0, 1e-3, -0.0, 65504.0}, Shape{2, 3})},
      {"dense/bias", Tensor({0.1, -0.2}, Shape{2}, DType::float64)},
      {"optimizer/iterations", Tensor::scalar(12, DType::int64)},
      {"labels", Tensor({-3, 0, 4503599627370497.0}, Shape{3}, DType::int64)},
      {"empty", zeros(Shape{0, 5})},
      {"cube", arange(24).reshaped(Shape{2, 3, 4})},
  };
  save(path, tensors, {{"epoch", "7"}, {"note", "written by tapegrad"}});
}

void dump(const std::string& path) {
  const SafetensorsFile file = load_file(path);
  for (const auto& [name, tensor] : file.tensors) {
    std::string values;
    for (int64_t i = 0; i < tensor.numel(); ++i) {
      if (i > 0) values += ',';
      values += tensor.dtype() == DType::int64 ? fmt::format("{}", tensor.data<int64_t>()[i])
                                               : fmt::format("{:.17g}", tensor.flat(i));
    }
    std::printf("tensor\t%s\t%s\t%s\t%s\n", name.c_str(), std::string(dtype_name(tensor.dtype())).c_str(),
                fmt::format("{}", fmt::join(tensor.shape().dims(), ",")).c_str(), values.c_str());
  }
  for (const auto& [key, value] : file.metadata) std::printf("metadata\t%s\t%s\n", key.c_str(), value.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: safetensors_tool write|dump FILE\n");
    return 2;
  }
  try {
    const std::string_view command = argv[1];
    if (command == "write") {
      write(argv[2]);
    } else if (command == "dump") {
      dump(argv[2]);
    } else {
      std::fprintf(stderr, "safetensors_tool: unknown command '%s'\n", argv[1]);
      return 2;
    }
  } catch (const Error& error) {
    std::fprintf(stderr, "safetensors_tool: %s\n", error.what());
    return 1;
  }
  return 0;
}
