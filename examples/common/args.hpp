#pragma once

// A tiny command-line reader shared by the examples: flags are "--name value" or "--name=value".

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace examples {

/// A bad command line; the message is one line, printed before the usage (exit status 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Throws UsageError with the formatted message unless `ok`.
template <typename... T>
void require(bool ok, fmt::format_string<T...> format, T&&... values) {
  if (!ok) throw UsageError(fmt::format(format, std::forward<T>(values)...));
}

/// Walks the arguments flag by flag: `while (args.more()) { auto flag = args.flag(); ... args.value() ... }`.
class Args {
 public:
  /// The arguments after the program's name.
  Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}

  /// True while arguments remain.
  bool more() const { return next_ < args_.size(); }

  /// The next flag, e.g. "--epochs" (from "--epochs 10" or "--epochs=10").
  std::string_view flag() {
    const std::string_view arg = args_[next_++];
    require(arg.starts_with("--"), "unexpected argument '{}'", arg);
    const size_t equals = arg.find('=');
    flag_ = arg.substr(0, equals);
    inline_value_ = equals == std::string_view::npos ? std::nullopt : std::optional(arg.substr(equals + 1));
    return flag_;
  }

  /// The value of the flag just read.
  std::string_view value() {
    if (inline_value_) return *std::exchange(inline_value_, std::nullopt);
    require(more(), "{} needs a value", flag_);
    return args_[next_++];
  }

 private:
  std::vector<std::string_view> args_;
  size_t next_ = 0;
  std::string_view flag_;
  std::optional<std::string_view> inline_value_;
};

/// `text` as a number of type T (a whole number for an integer T; finite for a floating T), or a
/// UsageError naming `flag`.
template <typename T>
T parse(std::string_view flag, std::string_view text) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  bool ok = error == std::errc{} && end == text.data() + text.size();
  if constexpr (std::is_floating_point_v<T>) ok = ok && std::isfinite(value);
  require(ok, "{} expects {}, got '{}'", flag,
          std::is_floating_point_v<T> ? "a number"
          : std::is_signed_v<T>       ? "a whole number"
                                      : "a non-negative whole number",
          text);
  return value;
}

/// `text` as `count` comma-separated numbers ("1,-1"), or a UsageError naming `flag`.
inline std::vector<double> parse_doubles(std::string_view flag, std::string_view text, size_t count) {
  std::vector<double> values;
  for (size_t start = 0;;) {
    const size_t comma = text.find(',', start);
    values.push_back(parse<double>(flag, text.substr(start, comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  require(values.size() == count, "{} expects {} comma-separated numbers, got '{}'", flag, count, text);
  return values;
}

}  // namespace examples
