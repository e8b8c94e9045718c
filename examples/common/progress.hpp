#pragma once

// A progress bar for a training epoch, as Keras's: batches done of the total, the running loss and
// examples per second. In a terminal it redraws one line with '\r' (at most ten times a second);
// in a log file (meson test, a pipe) it prints a few whole lines instead, so the log stays short.

#include "args.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace examples {

/// How a ProgressBar shows itself.
enum class ProgressStyle {
  bar,    ///< one line redrawn with '\r' (for a terminal)
  lines,  ///< a line at each quarter of the epoch (for logs)
  none,   ///< nothing
};

/// `bar` when `file` is a terminal, else `lines`.
inline ProgressStyle progress_style_for(std::FILE* file) {
  return ::isatty(::fileno(file)) ? ProgressStyle::bar : ProgressStyle::lines;
}

/// The style `--progress`'s value names (bar, lines or none), or a UsageError naming the flag.
inline ProgressStyle parse_progress_style(std::string_view flag, std::string_view text) {
  require(text == "bar" || text == "lines" || text == "none", "{} must be bar, lines or none, got '{}'", flag, text);
  return text == "bar" ? ProgressStyle::bar : text == "lines" ? ProgressStyle::lines : ProgressStyle::none;
}

/// The progress of one epoch: `update` after each batch, `finish` after the last.
///   ProgressBar progress(fmt::format("epoch {}/{}", epoch, epochs), batches.size(), style);
///   for (...) { ...; progress.update(batch_size, loss); }
///   progress.finish();
class ProgressBar {
 public:
  /// A bar labelled `label` ("epoch 3/10") for `total` batches, drawn on `out` in `style`.
  ProgressBar(std::string label, int64_t total, ProgressStyle style, std::FILE* out = stdout)
      : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), style_(style), out_(out) {}
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  /// Ends the line if `finish` was not called (an exception left the epoch).
  ~ProgressBar() {
    if (style_ == ProgressStyle::bar && drawn_ && !finished_) std::fputc('\n', out_);
  }

  /// One more batch of `examples` examples done, whose mean loss was `loss`.
  void update(int64_t examples, double loss) {
    ++done_;
    examples_ += examples;
    loss_sum_ += loss * static_cast<double>(examples);
    const auto now = Clock::now();
    if (style_ == ProgressStyle::bar) {
      if (done_ == total_ || now - last_draw_ >= std::chrono::milliseconds(100)) draw(now, '\r');
    } else if (style_ == ProgressStyle::lines) {
      // Batches total/4, total/2, 3 total/4 and total (each once, even for fewer than 4 batches).
      const int64_t quarter_before = (done_ - 1) * 4 / total_;
      const int64_t quarter_now = done_ * 4 / total_;
      if (quarter_now > quarter_before) draw(now, '\n');
    }
  }

  /// Ends the bar's line (in a terminal the last drawing stays on screen).
  void finish() {
    if (finished_) return;
    finished_ = true;
    if (style_ == ProgressStyle::bar) {
      if (done_ < total_ || !drawn_) draw(Clock::now(), '\r');
      std::fputc('\n', out_);
      std::fflush(out_);
    }
  }

  /// The mean loss over the examples so far (each batch weighted by its size).
  double mean_loss() const { return examples_ > 0 ? loss_sum_ / static_cast<double>(examples_) : 0.0; }
  /// Seconds since the bar was made.
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;

  void draw(Clock::time_point now, char how) {
    constexpr int64_t kWidth = 24;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double per_second = elapsed > 0 ? static_cast<double>(examples_) / elapsed : 0.0;
    std::string line = fmt::format("{} ", label_);
    if (style_ == ProgressStyle::bar) {
      const int64_t filled = done_ * kWidth / total_;
      line += '[' + std::string(static_cast<size_t>(filled), '=') + (filled < kWidth ? ">" : "") +
              std::string(static_cast<size_t>(std::max<int64_t>(kWidth - filled - 1, 0)), ' ') + "] ";
    }
    const int digits = static_cast<int>(fmt::formatted_size("{}", total_));
    line += fmt::format("{:>{}}/{} batches  loss {:.4f}  {:.0f} examples/s", done_, digits, total_, mean_loss(),
                        per_second);
    if (done_ < total_ && done_ > 0) {
      line += fmt::format("  ETA {:.0f} s", elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_));
    }
    if (how == '\r') {
      // "\033[K" clears what a longer previous drawing left at the end of the line.
      fmt::print(out_, "\r{}\033[K", line);
    } else {
      fmt::print(out_, "{}\n", line);
    }
    std::fflush(out_);
    drawn_ = true;
    last_draw_ = now;
  }

  std::string label_;
  int64_t total_;
  ProgressStyle style_;
  std::FILE* out_;
  int64_t done_ = 0;
  int64_t examples_ = 0;
  double loss_sum_ = 0.0;
  bool drawn_ = false;
  bool finished_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
};

}  // namespace examples
