#include <tapegrad/autograd/safetensors.hpp>

#include <tapegrad/autograd/error.hpp>

#include "autograd/detail/atomic_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <set>

namespace tapegrad {

static_assert(std::endian::native == std::endian::little, "safetensors stores little-endian bytes, as this host does");

namespace {

using Json = nlohmann::ordered_json;

// The longest header a file may declare (Hugging Face's reader has the same limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// The dtypes tapegrad reads, with their element sizes; the other dtypes of the format are named so
// that a file holding them gets "unsupported" rather than "unknown".
struct FileDType {
  std::string_view name;
  size_t size;
};
constexpr FileDType kReadable[] = {{"F32", 4}, {"F64", 8}, {"I64", 8}, {"F16", 2}, {"BF16", 2}};
constexpr std::string_view kUnsupported[] = {"BOOL", "U8",  "I8",      "I16",     "U16",     "I32",
                                             "U32",  "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4"};

std::string_view file_dtype(DType dtype) {
  switch (dtype) {
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::int64: return "I64";
  }
  return "F32";
}

uint64_t read_le64(const std::byte* bytes) {
  uint64_t value = 0;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

// IEEE half to float: normal, subnormal, zero, infinity and NaN.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  uint32_t bits = 0;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa != 0) {  // subnormal: normalize
    uint32_t e = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mantissa & 0x3FFu) << 13);
  } else {
    bits = sign;
  }
  return std::bit_cast<float>(bits);
}

// One tensor's entry in the header, checked.
struct Entry {
  std::string name;
  std::string_view dtype;  // one of kReadable's names
  size_t element_size = 0;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// The header's JSON, with each top-level name counted so that a name given twice is found (a JSON
// object keeps only the last of equal keys).
Json parse_header(std::string_view text, std::string_view file) {
  std::string duplicate;
  std::set<std::string, std::less<>> names;
  const Json::parser_callback_t note_names = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      const auto& name = parsed.get_ref<const std::string&>();
      if (!names.insert(name).second && duplicate.empty()) duplicate = name;
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text.begin(), text.end(), note_names);
  } catch (const Json::exception& e) {
    fail("{}: the header is not valid JSON: {}", file, e.what());
  }
  if (!duplicate.empty()) fail("{}: tensor '{}': the name appears twice in the header", file, duplicate);
  if (!header.is_object()) fail("{}: the header is JSON but not an object (got {})", file, header.type_name());
  return header;
}

Metadata parse_metadata(const Json& json, std::string_view file) {
  if (!json.is_object()) fail("{}: __metadata__ must be an object of strings, got {}", file, json.type_name());
  Metadata metadata;
  for (const auto& [key, value] : json.items()) {
    if (!value.is_string()) fail("{}: __metadata__ '{}' must be a string, got {}", file, key, value.type_name());
    metadata[key] = value.get<std::string>();
  }
  return metadata;
}

Entry parse_entry(const std::string& name, const Json& info, std::string_view file) {
  Entry entry;
  entry.name = name;
  if (!info.is_object()) fail("{}: tensor '{}': expected an object with dtype, shape and data_offsets", file, name);
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(key)) fail("{}: tensor '{}': no \"{}\" in the header", file, name, key);
  }
  const Json& dtype = info["dtype"];
  if (!dtype.is_string()) fail("{}: tensor '{}': dtype must be a string, got {}", file, name, dtype.type_name());
  const auto& dtype_text = dtype.get_ref<const std::string&>();
  const auto readable = std::ranges::find(kReadable, std::string_view(dtype_text), &FileDType::name);
  if (readable == std::end(kReadable)) {
    const bool known = std::ranges::find(kUnsupported, std::string_view(dtype_text)) != std::end(kUnsupported);
    fail("{}: tensor '{}': {} dtype '{}': tapegrad reads F32, F64, I64, F16 and BF16", file, name,
         known ? "unsupported" : "unknown", dtype_text);
  }
  entry.dtype = readable->name;
  entry.element_size = readable->size;

  const Json& shape = info["shape"];
  if (!shape.is_array()) fail("{}: tensor '{}': shape must be an array, got {}", file, name, shape.type_name());
  if (shape.size() > static_cast<size_t>(Shape::kMaxRank)) {
    fail("{}: tensor '{}': rank {} is more than the {} dimensions tapegrad supports", file, name, shape.size(),
         Shape::kMaxRank);
  }
  uint64_t bytes = entry.element_size;
  bool overflow = false;
  for (const Json& dim : shape) {
    if (!dim.is_number_unsigned() || dim.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      fail("{}: tensor '{}': shape {} has a dimension that is not a non-negative integer", file, name, shape.dump());
    }
    const uint64_t size = dim.get<uint64_t>();
    entry.shape.push_back(static_cast<int64_t>(size));
    overflow = overflow || __builtin_mul_overflow(bytes, size, &bytes);
  }
  if (overflow) fail("{}: tensor '{}': shape {} is too large (its byte size overflows)", file, name, shape.dump());

  const Json& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail("{}: tensor '{}': data_offsets must be two non-negative integers [begin, end], got {}", file, name,
         offsets.dump());
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.end < entry.begin) {
    fail("{}: tensor '{}': data_offsets [{}, {}] end before they begin", file, name, entry.begin, entry.end);
  }
  if (entry.end - entry.begin != bytes) {
    fail("{}: tensor '{}': {} {} takes {} bytes, but data_offsets [{}, {}] hold {}", file, name, entry.dtype,
         shape.dump(), bytes, entry.begin, entry.end, entry.end - entry.begin);
  }
  return entry;
}

Tensor make_tensor(const Entry& entry, const std::byte* data) {
  const Shape shape{std::span<const int64_t>(entry.shape)};
  const auto count = static_cast<size_t>(shape.numel());
  if (entry.dtype == "F32" || entry.dtype == "F64" || entry.dtype == "I64") {
    const DType dtype = entry.dtype == "F32" ? DType::float32 : entry.dtype == "F64" ? DType::float64 : DType::int64;
    Tensor tensor = Tensor::empty(shape, dtype);
    if (count > 0) std::memcpy(tensor.mutable_raw_data(), data, count * dtype_size(dtype));
    return tensor;
  }
  Tensor tensor = Tensor::empty(shape, DType::float32);
  float* out = tensor.mutable_data<float>();
  const bool half = entry.dtype == "F16";
  for (size_t i = 0; i < count; ++i) {
    uint16_t bits = 0;
    std::memcpy(&bits, data + 2 * i, sizeof bits);
    out[i] = half ? half_to_float(bits) : std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
  }
  return tensor;
}

void check_names(const NamedTensors& tensors, std::string_view file) {
  std::set<std::string_view> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty()) fail("save: {}: a tensor has an empty name", file);
    if (name == "__metadata__") fail("save: {}: '__metadata__' is reserved for the metadata, not a tensor name", file);
    if (!seen.insert(name).second) fail("save: {}: tensor '{}': the name is given twice", file, name);
    if (!tensor.defined()) fail("save: {}: tensor '{}' is undefined", file, name);
  }
}

// The header, padded with spaces to a multiple of 8 bytes so that the buffer starts aligned (as
// Hugging Face's writer does).
std::string make_header(const NamedTensors& tensors, const Metadata& metadata, std::string_view file) {
  check_names(tensors, file);
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * dtype_size(tensor.dtype());
    Json shape = Json::array();
    for (int64_t dim : tensor.shape().dims()) shape.push_back(dim);
    header[name] = {
        {"dtype", file_dtype(tensor.dtype())}, {"shape", std::move(shape)}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {  // a name or metadata that is not valid UTF-8
    fail("save: {}: {}", file, e.what());
  }
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  return text;
}

// Calls write(bytes) for the length prefix, the header, then each tensor's elements.
template <typename Write>
void write_parts(const NamedTensors& tensors, const Metadata& metadata, std::string_view file, Write&& write) {
  const std::string header = make_header(tensors, metadata, file);
  const uint64_t length = header.size();
  std::byte prefix[8];
  std::memcpy(prefix, &length, sizeof prefix);
  write(std::span<const std::byte>(prefix));
  write(std::as_bytes(std::span(header)));
  for (const auto& [name, tensor] : tensors) {
    const size_t bytes = static_cast<size_t>(tensor.numel()) * dtype_size(tensor.dtype());
    write(std::span(static_cast<const std::byte*>(tensor.raw_data()), bytes));
  }
}

// A file mapped read-only for the length of a load.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0) fail("{}: cannot read its size: {}", path, std::strerror(errno));
    if (!S_ISREG(info.st_mode)) fail("{}: not a regular file, expected a safetensors file", path);
    size_ = static_cast<size_t>(info.st_size);
    if (size_ == 0) return;
    // MAP_POPULATE maps the whole (cached) file at once instead of one page fault at a time.
    void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd_, 0);
    if (data == MAP_FAILED) fail("{}: cannot map: {}", path, std::strerror(errno));
    data_ = static_cast<const std::byte*>(data);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  int fd_ = -1;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, std::string_view name) {
  if (bytes.size() < 8) {
    fail("{}: truncated: {} bytes, expected at least 8 (the header's length)", name, bytes.size());
  }
  const uint64_t header_length = read_le64(bytes.data());
  if (header_length > bytes.size() - 8) {
    fail("{}: the header's length is {} bytes, but the file has only {} bytes after the length", name, header_length,
         bytes.size() - 8);
  }
  if (header_length > kMaxHeaderBytes) {
    fail("{}: the header's length is {} bytes, more than the limit of {}", name, header_length, kMaxHeaderBytes);
  }
  const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  const Json header = parse_header(std::string_view(header_begin, header_length), name);
  const std::span<const std::byte> buffer = bytes.subspan(8 + header_length);

  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [key, info] : header.items()) {
    if (key == "__metadata__") {
      file.metadata = parse_metadata(info, name);
      continue;
    }
    Entry entry = parse_entry(key, info, name);
    if (entry.end > buffer.size()) {
      fail("{}: tensor '{}': data_offsets [{}, {}] go past the end of the buffer ({} bytes)", name, key, entry.begin,
           entry.end, buffer.size());
    }
    entries.push_back(std::move(entry));
  }
  // File order: by offset (ties, which only empty tensors can make, in header order).
  std::ranges::stable_sort(entries, [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
    if (entry.begin < covered) {
      fail("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", name, entry.name, entry.begin,
           entry.end, previous->name, previous->begin, previous->end);
    }
    if (entry.begin > covered) {
      fail("{}: tensor '{}': bytes {} to {} of the buffer, before it, belong to no tensor", name, entry.name, covered,
           entry.begin);
    }
    covered = entry.end;
    if (entry.end > entry.begin) previous = &entry;
  }
  if (covered != buffer.size()) {
    fail("{}: the last {} bytes of the buffer (from byte {}) belong to no tensor", name, buffer.size() - covered,
         covered);
  }
  // Everything is checked and inside the buffer: only now is memory allocated for the tensors.
  file.tensors.reserve(entries.size());
  for (const Entry& entry : entries) {
    file.tensors.emplace_back(entry.name, make_tensor(entry, buffer.data() + entry.begin));
  }
  return file;
}

std::vector<std::byte> to_safetensors(const NamedTensors& tensors, const Metadata& metadata) {
  std::vector<std::byte> bytes;
  write_parts(tensors, metadata, "<memory>",
              [&](std::span<const std::byte> part) { bytes.insert(bytes.end(), part.begin(), part.end()); });
  return bytes;
}

void save(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  check_names(tensors, path);  // before a temporary file is made
  detail::AtomicFile file(path, "save");
  write_parts(tensors, metadata, path, [&](std::span<const std::byte> part) { file.write(part); });
  file.commit();
}

SafetensorsFile load_file(const std::string& path) {
  const MappedFile file(path);
  return parse_safetensors(file.bytes(), path);
}

NamedTensors load(const std::string& path) { return load_file(path).tensors; }

void Checkpoint::set(const std::string& part, const NamedTensors& tensors) {
  if (part.empty() || part.find('/') != std::string::npos) {
    fail("Checkpoint::set: part name '{}' must be non-empty and without '/'", part);
  }
  const auto found = std::ranges::find(parts_, part, &std::pair<std::string, NamedTensors>::first);
  if (found != parts_.end()) {
    found->second = tensors;
  } else {
    parts_.emplace_back(part, tensors);
  }
}

NamedTensors Checkpoint::get(std::string_view part) const {
  const auto found = std::ranges::find(parts_, part, &std::pair<std::string, NamedTensors>::first);
  if (found == parts_.end()) fail("Checkpoint: no part '{}'", part);
  return found->second;
}

bool Checkpoint::has(std::string_view part) const {
  return std::ranges::find(parts_, part, &std::pair<std::string, NamedTensors>::first) != parts_.end();
}

void Checkpoint::save(const std::string& path) const {
  NamedTensors all;
  for (const auto& [part, tensors] : parts_) {
    for (const auto& [name, tensor] : tensors) all.emplace_back(fmt::format("{}/{}", part, name), tensor);
  }
  tapegrad::save(path, all, metadata);
}

Checkpoint Checkpoint::load(const std::string& path) {
  SafetensorsFile file = load_file(path);
  Checkpoint checkpoint;
  checkpoint.metadata = std::move(file.metadata);
  for (auto& [name, tensor] : file.tensors) {
    const size_t slash = name.find('/');
    if (slash == std::string::npos || slash == 0) {
      fail("{}: tensor '{}' belongs to no part of a checkpoint (expected '<part>/<name>')", path, name);
    }
    const std::string part = name.substr(0, slash);
    auto found = std::ranges::find(checkpoint.parts_, part, &std::pair<std::string, NamedTensors>::first);
    if (found == checkpoint.parts_.end()) {
      checkpoint.parts_.emplace_back(part, NamedTensors{});
      found = checkpoint.parts_.end() - 1;
    }
    found->second.emplace_back(name.substr(slash + 1), std::move(tensor));
  }
  return checkpoint;
}

}  // namespace tapegrad
