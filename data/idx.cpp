#include <tapegrad/data/idx.hpp>

#include <tapegrad/autograd/error.hpp>

#include <fmt/format.h>
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

// An open IDX file being read: plain or gzip, zlib tells them apart by the magic 1f 8b.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    std::error_code error;
    const auto status = std::filesystem::status(path, error);
    if (!std::filesystem::exists(status)) fail("{}: file not found", path);
    if (std::filesystem::is_directory(status)) fail("{}: is a directory, expected an IDX file", path);
    errno = 0;
    file_.reset(gzopen(path.c_str(), "rb"));
    if (!file_) fail("{}: cannot open: {}", path, errno != 0 ? std::strerror(errno) : "out of memory");
    gzbuffer(file_.get(), 1 << 17);
  }

  // Reads up to `count` bytes into `out`; fewer only at the end of the data. Corrupt gzip data is
  // an error; a gzip stream cut short reads as a short count, explained by `why_short()`.
  // NOTE: zlib skips bytes after the last gzip member silently (gzip(1) warns "trailing garbage
  // ignored"); trailing bytes inside the decompressed data are found by read_idx.
  size_t read(uint8_t* out, size_t count) {
    size_t done = 0;
    while (done < count) {
      const auto piece = static_cast<unsigned>(std::min(count - done, kChunk));
      const int got = gzread(file_.get(), out + done, piece);
      if (got < 0) fail("{}: corrupt gzip data: {}", path_, zlib_message());
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    int code = Z_OK;
    gzerror(file_.get(), &code);
    if (code == Z_BUF_ERROR) cut_short_ = true;
    return done;
  }

  // The bytes left before the end of the file.
  int64_t count_rest() {
    std::vector<uint8_t> sink(1 << 16);
    int64_t total = 0;
    for (;;) {
      const size_t got = read(sink.data(), sink.size());
      total += static_cast<int64_t>(got);
      if (got < sink.size()) return total;
    }
  }

  bool compressed() { return gzdirect(file_.get()) == 0; }
  // zlib's description of the last error, without the file name it puts in front.
  std::string zlib_message() {
    int code = Z_OK;
    std::string_view message = gzerror(file_.get(), &code);
    if (message.starts_with(path_ + ": ")) message.remove_prefix(path_.size() + 2);
    return std::string(message);
  }
  // Said of a short read: why the data ended early.
  std::string_view why_short() const { return cut_short_ ? " (the gzip stream ends early)" : ""; }

 private:
  std::string path_;
  GzFile file_;
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

IdxArray read_idx(const std::string& path) {
  Reader reader(path);

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
  array.bytes.reserve(std::min(total, size_t{1} << 28));
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
