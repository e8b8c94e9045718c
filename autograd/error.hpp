#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace tapegrad {

/// The one exception tapegrad throws for bad input: its message names the op, the shapes and what
/// was expected, e.g. "corr2d: kernel 3x3 is larger than input 2x5".
class Error : public std::runtime_error {
 public:
  /// An error with a finished message.
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Throws `Error` with a message formatted by fmt.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tapegrad
