#include <tapegrad/data/idx.hpp>

#include <tapegrad/autograd/error.hpp>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace tapegrad::data {

namespace {

struct GzClose {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzClose>;

// gzread and gzwrite take an unsigned count; move data in pieces well below its limit.
constexpr size_t kChunk = size_t{1} << 20;

// The dimensions as "60000x28x28" ("scalar" for none).
std::string dims_text(const std::vector<int64_t>& dims) {
  if (dims.empty()) return "scalar";
  return fmt::format("{}", fmt::join(dims, "x"));
}

std::string_view type_name(uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "not an IDX type";
  }
}

// IDX bytes being read, plain or gzip (told apart by the magic 1f 8b), from memory: the file's bytes
// for read_idx, any bytes for parse_idx (and the fuzzer).
class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, std::string_view name) : input_(bytes), name_(name) {
    gzip_ = bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
    if (!gzip_) return;
    // 16 + MAX_WBITS: a gzip header and trailer (with its CRC-32 and length checked) around the data.
    if (inflateInit2(&stream_, 16 + MAX_WBITS) != Z_OK) fail("{}: cannot start decompressing: out of memory", name_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() {
    if (gzip_) inflateEnd(&stream_);
  }

  // Reads up to `count` bytes into `out`; fewer only at the end of the data. Corrupt gzip data is
  // an error; a gzip stream cut short reads as a short count, explained by `why_short()`.
  // NOTE: as gzip(1) and zlib's gzread, a gzip member followed by another is read on; bytes after the
  // last gzip member that are not one are skipped silently (gzip(1) warns "trailing garbage ignored").
  size_t read(uint8_t* out, size_t count) {
    if (!gzip_) {
      const size_t done = std::min(count, input_.size() - position_);
      if (done > 0) std::memcpy(out, input_.data() + position_, done);
      position_ += done;
      return done;
    }
    size_t done = 0;
    while (done < count && !finished_) {
      const size_t input_left = input_.size() - position_;
      stream_.next_in = const_cast<Bytef*>(input_.data() + position_);
      stream_.avail_in = static_cast<uInt>(std::min(input_left, kChunk));
      stream_.next_out = out + done;
      stream_.avail_out = static_cast<uInt>(std::min(count - done, kChunk));
      const uInt in_before = stream_.avail_in, out_before = stream_.avail_out;
      const int code = inflate(&stream_, Z_NO_FLUSH);
      position_ += in_before - stream_.avail_in;
      done += out_before - stream_.avail_out;
      if (code == Z_STREAM_END) {
        const bool another =
            input_.size() - position_ >= 2 && input_[position_] == 0x1f && input_[position_ + 1] == 0x8b;
        if (another) {
          inflateReset(&stream_);
        } else {
          finished_ = true;
        }
      } else if ((code == Z_OK || code == Z_BUF_ERROR) && position_ == input_.size() && stream_.avail_out > 0) {
        cut_short_ = true;  // the input ended inside the stream
        finished_ = true;
      } else if (code != Z_OK) {  // Z_BUF_ERROR with input left cannot progress either
        fail("{}: corrupt gzip data: {}", name_, stream_.msg != nullptr ? stream_.msg : zError(code));
      }
    }
    return done;
  }

  // The bytes left before the end of the data.
  int64_t count_rest() {
    std::vector<uint8_t> sink(1 << 16);
    int64_t total = 0;
    for (;;) {
      const size_t got = read(sink.data(), sink.size());
      total += static_cast<int64_t>(got);
      if (got < sink.size()) return total;
    }
  }

  bool compressed() const { return gzip_; }
  // Said of a short read: why the data ended early.
  std::string_view why_short() const { return cut_short_ ? " (the gzip stream ends early)" : ""; }

 private:
  std::span<const uint8_t> input_;
  std::string_view name_;
  size_t position_ = 0;
  bool gzip_ = false;
  z_stream stream_{};
  bool finished_ = false;
  bool cut_short_ = false;
};

uint32_t big_endian_u32(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) | uint32_t{bytes[3]};
}

}  // namespace

int64_t IdxArray::numel() const {
  int64_t count = 1;
  for (int64_t dim : dims) {
    if (dim <= 0) return dim == 0 ? 0 : -1;
    count = count > INT64_MAX / dim ? INT64_MAX : count * dim;
  }
  return count;
}

IdxArray parse_idx(std::span<const uint8_t> bytes, std::string_view name) {
  const std::string path(name);
  Reader reader(bytes, name);

  std::array<uint8_t, 4> magic{};
  const size_t got_magic = reader.read(magic.data(), magic.size());
  if (got_magic == 0) fail("{}: empty file, expected an IDX header", path);
  if (got_magic < magic.size()) {
    fail("{}: truncated header: expected a 4-byte magic number, got {} bytes{}", path, got_magic, reader.why_short());
  }
  if (magic[0] != 0 || magic[1] != 0) {
    fail("{}: bad magic: expected 00 00 <type> <rank>, got {:02x}; not an IDX file", path, fmt::join(magic, " "));
  }
  const uint8_t type = magic[2];
  if (type != 0x08 && type != 0x09) {
    fail("{}: unsupported type byte 0x{:02x} ({}): expected 0x08 (unsigned byte) or 0x09 (signed byte)", path, type,
         type_name(type));
  }
  const int rank = magic[3];

  IdxArray array;
  array.type = static_cast<IdxType>(type);
  std::vector<uint8_t> header(static_cast<size_t>(rank) * 4);
  const size_t got_header = reader.read(header.data(), header.size());
  if (got_header < header.size()) {
    fail("{}: truncated header: expected {} dimensions ({} bytes) after the magic, got {} bytes{}", path, rank,
         header.size(), got_header, reader.why_short());
  }
  for (int axis = 0; axis < rank; ++axis) array.dims.push_back(big_endian_u32(header.data() + 4 * axis));
  const int64_t expected = array.numel();
  if (expected > kMaxIdxBytes) {
    fail("{}: oversized: the header's dims {} make more than the limit of {} bytes", path, dims_text(array.dims),
         kMaxIdxBytes);
  }

  // Grow the buffer as data arrives, so a header that lies about its size costs no memory.
  const auto total = static_cast<size_t>(expected);
  // NOTE: deflate expands at most 1032-fold, so the input bounds the data it can hold.
  const size_t most = bytes.size() > SIZE_MAX / 1032 ? SIZE_MAX : bytes.size() * 1032;
  array.bytes.reserve(std::min({total, most, size_t{1} << 28}));
  size_t filled = 0;
  while (filled < total) {
    const size_t piece = std::min(total - filled, kChunk);
    array.bytes.resize(filled + piece);
    const size_t got = reader.read(array.bytes.data() + filled, piece);
    filled += got;
    if (got < piece) {
      fail("{}: truncated: expected {} bytes of data ({}), got {}{}", path, total, dims_text(array.dims), filled,
           reader.why_short());
    }
  }
  const int64_t trailing = reader.count_rest();
  if (trailing > 0) {
    fail("{}: trailing data: {} bytes after the {} bytes of data that the header ({}) announces{}", path, trailing,
         total, dims_text(array.dims), reader.compressed() ? " (after decompression)" : "");
  }
  return array;
}

IdxArray read_idx(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) fail("{}: file not found", path);
  if (std::filesystem::is_directory(status)) fail("{}: is a directory, expected an IDX file", path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  std::vector<uint8_t> bytes;
  std::array<uint8_t, 1 << 16> piece{};
  for (;;) {
    const ssize_t got = ::read(fd, piece.data(), piece.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int read_error = errno;
      ::close(fd);
      fail("{}: cannot read: {}", path, std::strerror(read_error));
    }
    if (got == 0) break;
    bytes.insert(bytes.end(), piece.begin(), piece.begin() + got);
  }
  ::close(fd);
  return parse_idx(bytes, path);
}

void write_idx(const std::string& path, const IdxArray& array, bool gzip) {
  if (array.dims.size() > 255) fail("write_idx: {}: rank {} is more than IDX's 255", path, array.dims.size());
  for (int64_t dim : array.dims) {
    if (dim < 0 || dim > int64_t{UINT32_MAX}) fail("write_idx: {}: dimension {} does not fit IDX's uint32", path, dim);
  }
  if (array.numel() != static_cast<int64_t>(array.bytes.size())) {
    fail("write_idx: {}: dims {} hold {} elements but there are {} bytes", path, dims_text(array.dims), array.numel(),
         array.bytes.size());
  }
  std::vector<uint8_t> header{0, 0, static_cast<uint8_t>(array.type), static_cast<uint8_t>(array.dims.size())};
  for (int64_t dim : array.dims) {
    for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<uint8_t>(dim >> shift));
  }

  // "T" writes a plain file through the same calls.
  errno = 0;
  gzFile file = gzopen(path.c_str(), gzip ? "wb6" : "wbT");
  if (file == nullptr) fail("write_idx: {}: cannot open for writing: {}", path, std::strerror(errno));
  GzFile closer(file);
  auto write = [&](const uint8_t* bytes, size_t count) {
    for (size_t done = 0; done < count;) {
      const auto piece = static_cast<unsigned>(std::min(count - done, kChunk));
      if (gzwrite(file, bytes + done, piece) != static_cast<int>(piece)) {
        int code = Z_OK;
        fail("write_idx: {}: write failed: {}", path, gzerror(file, &code));
      }
      done += piece;
    }
  };
  write(header.data(), header.size());
  write(array.bytes.data(), array.bytes.size());
  closer.release();
  if (gzclose(file) != Z_OK) fail("write_idx: {}: write failed on close", path);
}

}  // namespace tapegrad::data
