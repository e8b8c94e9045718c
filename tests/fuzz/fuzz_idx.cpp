// libFuzzer target: tapegrad's IDX reader (plain and gzip) on arbitrary bytes. Any input either parses
// or is a tapegrad::Error; a crash, a sanitizer report, a hang or a huge allocation is a bug.

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/data/idx.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const tapegrad::data::IdxArray array = tapegrad::data::parse_idx(std::span(data, size), "fuzz.idx");
    (void)array.numel();
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
