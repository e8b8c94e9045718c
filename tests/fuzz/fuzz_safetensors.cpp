// libFuzzer target: tapegrad's safetensors reader on arbitrary bytes. Any input either parses or is a
// tapegrad::Error; a crash, a sanitizer report, a hang or a huge allocation is a bug. `./dev fuzz`
// builds and runs it; tests/fuzz/replay.cpp runs its corpus and regressions in the test suite.

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const tapegrad::SafetensorsFile file =
        tapegrad::parse_safetensors(std::as_bytes(std::span(data, size)), "fuzz.safetensors");
    for (const auto& [name, tensor] : file.tensors) (void)tensor.numel();
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
