// A test that cannot run on this machine says so, and its meson test reports SKIP, not a pass.
#pragma once

#include <string_view>

namespace tapegrad::testing {

/// Marks the running test case as skipped, with `reason` in doctest's output. When the run ends with
/// no failure, main() exits with 77, meson's code for a skipped test: give such a test case a meson
/// test of its own (doctest::skip() keeps it out of its executable's plain run), so the skip never
/// hides the passes of other test cases. The caller returns from the test case after this.
void skip(std::string_view reason);

/// Whether a test case of this run called skip().
bool skipped();

}  // namespace tapegrad::testing
