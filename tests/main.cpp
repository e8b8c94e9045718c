// doctest's main, built once (the test_main library) and linked into every test executable. A run in
// which a test case called tapegrad::testing::skip and none failed exits with 77: meson counts it as
// skipped, not passed.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "tests/skip.hpp"

#include <atomic>
#include <string>

namespace tapegrad::testing {

namespace {
std::atomic<bool> g_skipped{false};
}  // namespace

void skip(std::string_view reason) {
  g_skipped.store(true);
  MESSAGE("skipped: " << std::string(reason));
}

bool skipped() { return g_skipped.load(); }

}  // namespace tapegrad::testing

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit() || result != 0) return result;
  constexpr int kMesonSkip = 77;
  return tapegrad::testing::skipped() ? kMesonSkip : 0;
}
