#pragma once

// A file replaced whole or not at all: what `save` (safetensors) and `save_html` write through.

#include <cstddef>
#include <span>
#include <string>

namespace tapegrad::detail {

/// A file written under a temporary name in the target's folder and renamed over the target by
/// `commit`; destroyed without a commit, it removes the temporary file and leaves the target alone.
class AtomicFile {
 public:
  /// Creates the temporary file beside `path`; errors name `caller` ("save: run.safetensors: ...").
  AtomicFile(const std::string& path, const char* caller);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  /// Removes the temporary file unless committed.
  ~AtomicFile();
  /// Appends `bytes`.
  void write(std::span<const std::byte> bytes);
  /// Flushes the data to disk and renames the file over the target.
  void commit();

 private:
  [[noreturn]] void fail_errno(const char* what) const;
  std::string path_, temp_;
  const char* caller_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace tapegrad::detail
