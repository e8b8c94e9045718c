#include "autograd/detail/atomic_file.hpp"

#include <tapegrad/autograd/error.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace tapegrad::detail {

AtomicFile::AtomicFile(const std::string& path, const char* caller) : path_(path), caller_(caller) {
  static std::atomic<uint64_t> counter{0};
  for (int attempt = 0; fd_ < 0; ++attempt) {
    temp_ = fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter++);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0 && (errno != EEXIST || attempt > 100)) fail_errno("cannot create a temporary file");
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::write(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t done = ::write(fd_, bytes.data(), std::min(bytes.size(), size_t{1} << 30));
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) fail_errno("write failed");
    bytes = bytes.subspan(static_cast<size_t>(done));
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail_errno("flushing to disk failed");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno("closing failed");
  if (::rename(temp_.c_str(), path_.c_str()) != 0) fail_errno("renaming the temporary file failed");
  committed_ = true;
  // NOTE: the folder is not flushed after the rename (it would double a small save's time: a LeNet
  // checkpoint took 13 ms instead of 8). The file's data is on disk before the rename, so after a
  // power loss the name holds the old file or the new one, whole; at worst the old one.
}

void AtomicFile::fail_errno(const char* what) const {
  fail("{}: {}: {}: {}", caller_, path_, what, std::strerror(errno));
}

}  // namespace tapegrad::detail
