// safetensors: the format, byte for byte; every malformed header an Error naming the file and the
// tensor; F16 and BF16 read as float32; the atomic save, proved with a child killed mid-save and a child
// whose file size limit makes the write fail; the Checkpoint's parts.

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/autograd/safetensors.hpp>
#include <tapegrad/autograd/tensor.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace tapegrad;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / fmt::format("tapegrad-test-safetensors-{}-{}", ::getpid(), counter++);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // The names of the files in the folder.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) names.push_back(entry.path().filename().string());
    return names;
  }

 private:
  fs::path path_;
};

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& error) {
    return error.what();
  }
  FAIL("expected a tapegrad::Error");
  return {};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::byte> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  if (!chars.empty()) std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

// A file from a header text and a buffer of `buffer_bytes` bytes (each byte its index).
std::vector<std::byte> file_of(const std::string& header, size_t buffer_bytes) {
  std::vector<std::byte> bytes(8);
  const uint64_t length = header.size();
  std::memcpy(bytes.data(), &length, 8);
  for (char c : header) bytes.push_back(static_cast<std::byte>(c));
  for (size_t i = 0; i < buffer_bytes; ++i) bytes.push_back(static_cast<std::byte>(i));
  return bytes;
}

// Same bits, same shape, same dtype.
bool identical(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const size_t bytes = static_cast<size_t>(a.numel()) * dtype_size(a.dtype());
  return bytes == 0 || std::memcmp(a.raw_data(), b.raw_data(), bytes) == 0;
}

NamedTensors sample() {
  return {{"w", Tensor({1.5, -2.25, 3.0, 0.1, 1e-30, -0.0}, Shape{2, 3})},
          {"b", Tensor({0.1, 0.2}, Shape{2}, DType::float64)},
          {"step", Tensor::scalar(7, DType::int64)},
          {"empty", zeros(Shape{0, 4})},
          {"labels", Tensor({-1, 0, 9007199254740993.0}, Shape{3}, DType::int64)}};
}

}  // namespace

TEST_CASE("safetensors: save then load gives the same names, order, dtypes, shapes, bits and metadata") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const NamedTensors tensors = sample();
  save(path, tensors, {{"epoch", "3"}, {"format", "pt"}});
  const SafetensorsFile file = load_file(path);
  REQUIRE(file.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    CHECK(file.tensors[i].first == tensors[i].first);
    CHECK_MESSAGE(identical(file.tensors[i].second, tensors[i].second), tensors[i].first);
  }
  CHECK(file.metadata == Metadata{{"epoch", "3"}, {"format", "pt"}});
  CHECK(load(path).size() == tensors.size());
  CHECK(dir.listing() == std::vector<std::string>{"model.safetensors"});  // no temporary file left

  SUBCASE("the bytes are what save writes to memory, and parse back the same") {
    const std::vector<std::byte> bytes = to_safetensors(tensors, {{"epoch", "3"}, {"format", "pt"}});
    CHECK(read_bytes(path) == bytes);
    CHECK(parse_safetensors(bytes).tensors.size() == tensors.size());
  }
  SUBCASE("saving again replaces the file") {
    save(path, {{"x", ones(Shape{4})}});
    const NamedTensors again = load(path);
    REQUIRE(again.size() == 1);
    CHECK(again[0].first == "x");
    CHECK(dir.listing() == std::vector<std::string>{"model.safetensors"});
  }
}

TEST_CASE("safetensors: the layout is the specification's") {
  const std::vector<std::byte> bytes =
      to_safetensors({{"a", Tensor({1, 2}, Shape{2})}, {"i", Tensor::scalar(5, DType::int64)}}, {{"k", "v"}});
  uint64_t length = 0;
  std::memcpy(&length, bytes.data(), 8);
  CHECK(length % 8 == 0);  // the buffer starts 8-byte aligned
  const std::string header(reinterpret_cast<const char*>(bytes.data() + 8), length);
  CHECK(header.rfind(R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("i":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})",
                     0) == 0);
  CHECK(header.find_first_not_of(' ', header.find_last_of('}') + 1) == std::string::npos);  // padded with spaces
  REQUIRE(bytes.size() == 8 + length + 16);
  float first = 0;
  int64_t five = 0;
  std::memcpy(&first, bytes.data() + 8 + length, 4);
  std::memcpy(&five, bytes.data() + 8 + length + 8, 8);
  CHECK(first == 1.0f);
  CHECK(five == 5);
}

TEST_CASE("safetensors: F16 and BF16 load as float32") {
  // F16: 1, -2, 0.5, 65504 (the largest), 2^-24 (the smallest subnormal), -0, +inf.
  const uint16_t halves[] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000, 0x7C00};
  // BF16: 1, -2.5, 3.140625 (pi rounded), 1e38-ish.
  const uint16_t brains[] = {0x3F80, 0xC020, 0x4049, 0x7E96};
  std::string header = R"({"h":{"dtype":"F16","shape":[7],"data_offsets":[0,14]},)"
                       R"("b":{"dtype":"BF16","shape":[2,2],"data_offsets":[14,22]}})";
  std::vector<std::byte> bytes = file_of(header, 0);
  for (uint16_t h : halves) {
    bytes.push_back(static_cast<std::byte>(h & 0xFF));
    bytes.push_back(static_cast<std::byte>(h >> 8));
  }
  for (uint16_t b : brains) {
    bytes.push_back(static_cast<std::byte>(b & 0xFF));
    bytes.push_back(static_cast<std::byte>(b >> 8));
  }
  const NamedTensors tensors = parse_safetensors(bytes).tensors;
  REQUIRE(tensors.size() == 2);
  const Tensor& h = tensors[0].second;
  CHECK(h.dtype() == DType::float32);
  CHECK(h.to_vector() == std::vector<double>{1, -2, 0.5, 65504, std::ldexp(1.0, -24), -0.0, INFINITY});
  CHECK(std::signbit(h.flat(5)));
  const Tensor& b = tensors[1].second;
  CHECK(b.dtype() == DType::float32);
  CHECK(b.shape() == Shape{2, 2});
  CHECK(b.to_vector() == std::vector<double>{1, -2.5, 3.140625, std::bit_cast<float>(uint32_t{0x7E960000})});
}

TEST_CASE("safetensors: every malformed file is an Error naming the file and the tensor, never a crash") {
  struct Case {
    const char* what;
    std::vector<std::byte> bytes;
    std::string expected;  // part of the message
  };
  const auto f32 = [](const std::string& shape, const std::string& offsets) {
    return fmt::format(R"({{"dtype":"F32","shape":{},"data_offsets":{}}})", shape, offsets);
  };
  std::vector<std::byte> huge_length(8, std::byte{0xFF});
  std::vector<std::byte> past_end = file_of("{}", 0);
  past_end[0] = std::byte{3};
  const std::vector<Case> cases = {
      {"empty", {}, "truncated: 0 bytes, expected at least 8"},
      {"short", std::vector<std::byte>(5), "truncated: 5 bytes"},
      {"header length past the file", past_end, "the header's length is 3 bytes, but the file has only 2"},
      {"header length 2^64 - 1", huge_length, "the header's length is 18446744073709551615 bytes"},
      {"not JSON", file_of("{\"a\":", 0), "the header is not valid JSON"},
      {"JSON, not an object", file_of("[1,2]", 0), "not an object (got array)"},
      {"entry not an object", file_of(R"({"t":3})", 0), "tensor 't': expected an object"},
      {"no dtype", file_of(R"({"t":{"shape":[],"data_offsets":[0,4]}})", 4), "tensor 't': no \"dtype\""},
      {"unknown dtype", file_of(R"({"t":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4),
       "tensor 't': unknown dtype 'F33'"},
      {"unsupported dtype", file_of(R"({"t":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})", 4),
       "tensor 't': unsupported dtype 'I32'"},
      {"negative dimension", file_of(R"({"t":)" + f32("[-1]", "[0,4]") + "}", 4),
       "tensor 't': shape [-1] has a dimension that is not a non-negative integer"},
      {"fractional dimension", file_of(R"({"t":)" + f32("[1.5]", "[0,4]") + "}", 4), "not a non-negative integer"},
      {"shape not an array", file_of(R"({"t":)" + f32("4", "[0,16]") + "}", 16), "shape must be an array"},
      {"rank 9", file_of(R"({"t":)" + f32("[1,1,1,1,1,1,1,1,1]", "[0,4]") + "}", 4), "rank 9 is more than"},
      {"byte size overflows", file_of(R"({"t":)" + f32("[4294967296,4294967296]", "[0,0]") + "}", 0),
       "tensor 't': shape [4294967296,4294967296] is too large"},
      {"size and offsets disagree", file_of(R"({"t":)" + f32("[2]", "[0,4]") + "}", 4),
       "tensor 't': F32 [2] takes 8 bytes, but data_offsets [0, 4] hold 4"},
      {"offsets reversed", file_of(R"({"t":)" + f32("[0]", "[4,0]") + "}", 4), "end before they begin"},
      {"offsets not two numbers", file_of(R"({"t":)" + f32("[1]", "[0]") + "}", 4), "data_offsets must be two"},
      {"a huge tensor the file does not hold",
       file_of(R"({"big":)" + f32("[1099511627776]", "[0,4398046511104]") + "}", 16),
       "tensor 'big': data_offsets [0, 4398046511104] go past the end of the buffer (16 bytes)"},
      {"overlap",
       file_of(R"({"a":)" + f32("[2]", "[0,8]") + R"(,"b":)" + f32("[2]", "[4,12]") + R"(,"c":)" +
                   f32("[1]", "[12,16]") + "}",
               16),
       "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"},
      {"a gap", file_of(R"({"a":)" + f32("[1]", "[0,4]") + R"(,"b":)" + f32("[1]", "[8,12]") + "}", 12),
       "tensor 'b': bytes 4 to 8 of the buffer, before it, belong to no tensor"},
      {"bytes after the last tensor", file_of(R"({"a":)" + f32("[1]", "[0,4]") + "}", 7),
       "the last 3 bytes of the buffer (from byte 4) belong to no tensor"},
      {"duplicate names", file_of(R"({"a":)" + f32("[1]", "[0,4]") + R"(,"a":)" + f32("[1]", "[4,8]") + "}", 8),
       "tensor 'a': the name appears twice"},
      {"metadata not strings", file_of(R"({"__metadata__":{"epoch":3}})", 0), "__metadata__ 'epoch' must be a string"},
      {"metadata not an object", file_of(R"({"__metadata__":[]})", 0), "__metadata__ must be an object"},
      {"invalid UTF-8", file_of("{\"\xff\":1}", 0), "not valid JSON"},
      {"deep nesting", file_of(std::string(100000, '[') + std::string(100000, ']'), 0), "not an object"},
  };
  for (const Case& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    const std::string message = error_of([&] { parse_safetensors(c.bytes, "bad.safetensors"); });
    CHECK_MESSAGE(message.rfind("bad.safetensors: ", 0) == 0, message);
    CHECK_MESSAGE(contains(message, c.expected), message);
  }
}

TEST_CASE("safetensors: a file with no tensors, and a path that is no file") {
  CHECK(parse_safetensors(file_of("{}", 0)).tensors.empty());
  TempDir dir;
  const std::string missing = dir.file("missing.safetensors");
  CHECK(contains(error_of([&] { load(missing); }), missing + ": cannot open: No such file or directory"));
  CHECK(error_of([&] { load(dir.file("")); }) == dir.file("") + ": not a regular file, expected a safetensors file");
  const std::string empty = dir.file("empty.safetensors");
  std::ofstream(empty).close();
  CHECK(error_of([&] { load(empty); }) == empty + ": truncated: 0 bytes, expected at least 8 (the header's length)");
}

TEST_CASE("safetensors: save checks its names and leaves the old file when it cannot write") {
  TempDir dir;
  const std::string path = dir.file("a.safetensors");
  save(path, {{"kept", ones(Shape{2})}});
  CHECK(contains(error_of([&] { save(path, {{"", ones(Shape{1})}}); }), "a tensor has an empty name"));
  CHECK(contains(error_of([&] {
                   save(path, {{"x", ones(Shape{1})}, {"x", ones(Shape{1})}});
                 }),
                 "tensor 'x': the name is given twice"));
  CHECK(contains(error_of([&] { save(path, {{"__metadata__", ones(Shape{1})}}); }), "reserved"));
  CHECK(contains(error_of([&] { save(path, {{"u", Tensor()}}); }), "tensor 'u' is undefined"));
  const std::string nowhere = dir.file("no/such/folder/a.safetensors");
  CHECK(error_of([&] {
          save(nowhere, {{"x", ones(Shape{1})}});
        }) == "save: " + nowhere + ": cannot create a temporary file: No such file or directory");
  REQUIRE(load(path).size() == 1);
  CHECK(load(path)[0].first == "kept");
  CHECK(dir.listing() == std::vector<std::string>{"a.safetensors"});
}

TEST_CASE("safetensors: a save killed midway (SIGKILL) leaves the previous file loadable") {
  TempDir dir;
  const std::string path = dir.file("big.safetensors");
  save(path, {{"old", full(Shape{1000}, 3.0)}});
  const Tensor big = full(Shape{64, 1024, 1024}, 1.0);  // 256 MiB
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    try {
      save(path, {{"new", big}});
    } catch (...) {
    }
    ::_exit(0);
  }
  // Kill the child once its temporary file has some data in it, before the rename.
  bool seen_partial = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!seen_partial && std::chrono::steady_clock::now() < deadline) {
    for (const std::string& name : dir.listing()) {
      std::error_code error;
      if (contains(name, ".tmp-") && fs::file_size(dir.file(name), error) > (1u << 20) && !error) seen_partial = true;
    }
    if (!seen_partial) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE_MESSAGE(seen_partial, "the child's temporary file never appeared");
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
  const NamedTensors after = load(path);
  REQUIRE(after.size() == 1);
  CHECK(after[0].first == "old");
  CHECK(identical(after[0].second, full(Shape{1000}, 3.0)));
}

TEST_CASE("safetensors: a write error (file size limit) is an Error naming the file; the old file stays") {
  TempDir dir;
  const std::string path = dir.file("limited.safetensors");
  save(path, {{"old", full(Shape{10}, 2.0)}});
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    ::signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG instead of killing
    const rlimit limit{1 << 16, 1 << 16};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    std::string message = "no error";
    try {
      save(path, {{"new", zeros(Shape{1 << 18})}});  // 1 MiB
    } catch (const Error& error) {
      message = error.what();
    }
    const ssize_t written = ::write(pipe_fds[1], message.data(), message.size());
    ::_exit(written == static_cast<ssize_t>(message.size()) ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string message;
  char buffer[512];
  for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) message.append(buffer, got);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  CHECK(message == "save: " + path + ": write failed: File too large");
  const NamedTensors after = load(path);
  REQUIRE(after.size() == 1);
  CHECK(identical(after[0].second, full(Shape{10}, 2.0)));
  CHECK(dir.listing() == std::vector<std::string>{"limited.safetensors"});  // the temporary file is removed
}

TEST_CASE("Checkpoint: parts under '<part>/' in one file") {
  TempDir dir;
  const std::string path = dir.file("run.safetensors");
  Checkpoint checkpoint;
  checkpoint.set("model", {{"dense/kernel", ones(Shape{2, 2})}, {"dense/bias", zeros(Shape{2})}});
  checkpoint.set("optimizer", {{"iterations", Tensor::scalar(4, DType::int64)}});
  checkpoint.metadata["epoch"] = "1";
  checkpoint.save(path);
  CHECK(load(path)[0].first == "model/dense/kernel");
  const Checkpoint loaded = Checkpoint::load(path);
  CHECK(loaded.has("model"));
  CHECK(!loaded.has("data"));
  CHECK(loaded.metadata.at("epoch") == "1");
  const NamedTensors model = loaded.get("model");
  REQUIRE(model.size() == 2);
  CHECK(model[1].first == "dense/bias");
  CHECK(loaded.get("optimizer")[0].second.item() == 4);
  CHECK(error_of([&] { (void)loaded.get("data"); }) == "Checkpoint: no part 'data'");
  CHECK(contains(error_of([&] { checkpoint.set("a/b", {}); }), "part name 'a/b'"));
  save(path, {{"loose", ones(Shape{1})}});
  CHECK(contains(error_of([&] { Checkpoint::load(path); }), "tensor 'loose' belongs to no part"));
}
