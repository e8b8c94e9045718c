#include <tapegrad/data/idx.hpp>

#include "helpers.hpp"

#include <doctest/doctest.h>

using namespace tapegrad::data;
using namespace tapegrad::data::testing;

namespace {

// The header of an IDX file: 00 00 type rank, then each dimension as a big-endian uint32.
std::vector<uint8_t> idx_header(uint8_t type, std::vector<uint32_t> dims) {
  std::vector<uint8_t> bytes{0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t dim : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(dim >> shift));
  }
  return bytes;
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("write_idx writes the IDX layout byte for byte") {
  TempDir dir;
  IdxArray array{{1, 2, 3, 4, 5, 6}, {2, 3}, IdxType::u8};
  write_idx(dir.file("plain"), array, false);
  CHECK(read_bytes(dir.file("plain")) == std::vector<uint8_t>{0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6});

  write_idx(dir.file("big-dims"), IdxArray{{}, {0x01020304, 0}, IdxType::i8}, false);
  CHECK(read_bytes(dir.file("big-dims")) == std::vector<uint8_t>{0, 0, 9, 2, 1, 2, 3, 4, 0, 0, 0, 0});

  write_idx(dir.file("packed.gz"), array, true);
  const std::vector<uint8_t> packed = read_bytes(dir.file("packed.gz"));
  REQUIRE(packed.size() >= 2);
  CHECK(packed[0] == 0x1f);
  CHECK(packed[1] == 0x8b);
}

TEST_CASE("read_idx reads plain and gzip files back exactly") {
  TempDir dir;
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 3 * 28 * 28; ++i) pixels.push_back(static_cast<uint8_t>((i * 31) % 256));
  const IdxArray images{pixels, {3, 28, 28}, IdxType::u8};
  const IdxArray labels{{9, 0, 255}, {3}, IdxType::u8};
  const IdxArray signed_bytes{{0x80, 0x7f, 0x00, 0xff}, {2, 1, 2}, IdxType::i8};
  const IdxArray empty{{}, {0, 28, 28}, IdxType::u8};
  const IdxArray scalar{{42}, {}, IdxType::u8};

  for (bool gzip : {false, true}) {
    CAPTURE(gzip);
    for (const IdxArray* array : {&images, &labels, &signed_bytes, &empty, &scalar}) {
      const std::string path = dir.file(gzip ? "array.gz" : "array");
      write_idx(path, *array, gzip);
      const IdxArray back = read_idx(path);
      CHECK(back.bytes == array->bytes);
      CHECK(back.dims == array->dims);
      CHECK(back.type == array->type);
      CHECK(back.numel() == array->numel());
    }
  }
}

TEST_CASE("read_idx reads a file written by hand, plain and compressed, and tells them apart by content") {
  TempDir dir;
  const std::vector<uint8_t> file = concat(idx_header(0x08, {2, 2}), {10, 20, 30, 40});
  // The names say nothing: the gzip magic 1f 8b decides.
  write_bytes(dir.file("plain.gz"), file);
  write_gzip_bytes(dir.file("packed.idx"), file);
  for (const char* name : {"plain.gz", "packed.idx"}) {
    CAPTURE(name);
    const IdxArray array = read_idx(dir.file(name));
    CHECK(array.dims == std::vector<int64_t>{2, 2});
    CHECK(array.bytes == std::vector<uint8_t>{10, 20, 30, 40});
    CHECK(array.type == IdxType::u8);
  }
}

TEST_CASE("malformed IDX files are errors naming the file and the fault") {
  TempDir dir;
  const std::vector<uint8_t> good = concat(idx_header(0x08, {2, 3}), {1, 2, 3, 4, 5, 6});

  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    const char* expected;
  };
  const std::vector<Case> cases{
      {"empty", {}, "empty file"},
      {"bad-magic", {0x1a, 0x2b, 0x08, 0x01, 0, 0, 0, 0}, "bad magic: expected 00 00 <type> <rank>, got 1a 2b 08 01"},
      {"float-type", concat(idx_header(0x0D, {2}), {0, 0, 0, 0, 0, 0, 0, 0}),
       "unsupported type byte 0x0d (float32): expected 0x08 (unsigned byte) or 0x09 (signed byte)"},
      {"unknown-type", idx_header(0x07, {1}), "unsupported type byte 0x07 (not an IDX type)"},
      {"short-magic", {0, 0, 8}, "truncated header: expected a 4-byte magic number, got 3 bytes"},
      {"short-dims",
       {0, 0, 8, 3, 0, 0, 0, 2, 0, 0},
       "truncated header: expected 3 dimensions (12 bytes) after the magic, got 6 bytes"},
      {"short-data", std::vector<uint8_t>(good.begin(), good.end() - 2),
       "truncated: expected 6 bytes of data (2x3), got 4"},
      {"trailing", concat(good, {7, 8, 9}),
       "trailing data: 3 bytes after the 6 bytes of data that the header (2x3) announces"},
      {"oversized", idx_header(0x08, {0xffffffff, 0xffffffff, 2}),
       "oversized: the header's dims 4294967295x4294967295x2"},
  };
  for (const Case& c : cases) {
    for (bool gzip : {false, true}) {
      const std::string path = dir.file(fmt::format("{}{}", c.name, gzip ? ".gz" : ""));
      CAPTURE(path);
      if (gzip) write_gzip_bytes(path, c.bytes);
      else write_bytes(path, c.bytes);
      const std::string message = error_of([&] { read_idx(path); });
      CHECK_MESSAGE(contains(message, path + ": "), message);
      CHECK_MESSAGE(contains(message, c.expected), message);
    }
  }
}

TEST_CASE("read_idx: the truncated message a learner sees for a cut-off download") {
  TempDir dir;
  const std::string path = dir.file("t10k-images-idx3-ubyte.gz");
  write_gzip_bytes(path, concat(idx_header(0x08, {10000, 28, 28}), std::vector<uint8_t>(1000, 0)));
  CHECK(error_of([&] { read_idx(path); }) ==
        path + ": truncated: expected 7840000 bytes of data (10000x28x28), got 1000");
}

TEST_CASE("read_idx: missing files, directories and broken gzip streams") {
  TempDir dir;
  SUBCASE("missing file") {
    const std::string path = dir.file("train-labels-idx1-ubyte.gz");
    CHECK(error_of([&] { read_idx(path); }) == path + ": file not found");
  }
  SUBCASE("a directory") {
    CHECK(error_of([&] { read_idx(dir.path().string()); }) ==
          dir.path().string() + ": is a directory, expected an IDX file");
  }
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 20000; ++i) pixels.push_back(static_cast<uint8_t>((i * 7919) % 251));
  const IdxArray array{pixels, {20000}, IdxType::u8};
  const std::string path = dir.file("images.gz");
  write_idx(path, array, true);
  std::vector<uint8_t> packed = read_bytes(path);
  REQUIRE(packed.size() > 200);
  SUBCASE("a gzip stream cut short") {
    packed.resize(packed.size() / 2);
    write_bytes(path, packed);
    const std::string message = error_of([&] { read_idx(path); });
    CHECK_MESSAGE(contains(message, path + ": truncated: expected 20000 bytes of data (20000), got "), message);
    CHECK_MESSAGE(contains(message, "(the gzip stream ends early)"), message);
  }
  SUBCASE("corrupt compressed bytes") {
    for (size_t i = 20; i < 60; ++i) packed[i] ^= 0x5a;
    write_bytes(path, packed);
    const std::string message = error_of([&] { read_idx(path); });
    CHECK_MESSAGE(contains(message, path + ": "), message);
    CHECK_MESSAGE((contains(message, "corrupt gzip data") || contains(message, "truncated")), message);
  }
  SUBCASE("a wrong checksum") {
    packed[packed.size() - 8] ^= 0xff;  // the CRC-32 of the gzip trailer
    write_bytes(path, packed);
    const std::string message = error_of([&] { read_idx(path); });
    CHECK_MESSAGE(contains(message, path + ": corrupt gzip data: incorrect data check"), message);
  }
}

TEST_CASE("write_idx rejects arrays whose bytes and dims disagree") {
  TempDir dir;
  const std::string path = dir.file("bad");
  CHECK(error_of([&] {
          write_idx(path, IdxArray{{1, 2, 3}, {2, 2}, IdxType::u8}, false);
        }) == "write_idx: " + path + ": dims 2x2 hold 4 elements but there are 3 bytes");
  CHECK(contains(error_of([&] {
                   write_idx(path, IdxArray{{}, {-1}, IdxType::u8}, false);
                 }),
                 "dimension -1 does not fit IDX's uint32"));
  CHECK(contains(error_of([&] {
                   write_idx(dir.file("no/such/dir/x"), IdxArray{{1}, {1}, IdxType::u8}, false);
                 }),
                 "cannot open for writing"));
}

TEST_CASE("IdxArray::numel: the product of the dims, saturating") {
  CHECK(IdxArray{{}, {}, IdxType::u8}.numel() == 1);
  CHECK(IdxArray{{}, {3, 0, 4}, IdxType::u8}.numel() == 0);
  CHECK(IdxArray{{}, {60000, 28, 28}, IdxType::u8}.numel() == 47040000);
  CHECK(IdxArray{{}, {0xffffffff, 0xffffffff, 0xffffffff}, IdxType::u8}.numel() == INT64_MAX);
  CHECK(IdxArray{{}, {0xffffffff, 0xffffffff, 0xffffffff, 0}, IdxType::u8}.numel() == 0);
}
