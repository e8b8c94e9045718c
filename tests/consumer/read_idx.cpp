// The data loaders from outside tapegrad (dependency 'tapegrad-data', which brings zlib): writes a
// small gzip-compressed IDX file, reads it back and checks it. Exits 1 with a message when wrong.

#include <tapegrad/data.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  const std::string path = std::string(argc > 1 ? argv[1] : ".") + "/consumer-test.idx.gz";
  tapegrad::data::IdxArray array;
  array.dims = {2, 3};
  array.bytes = {1, 2, 3, 4, 5, 6};
  tapegrad::data::write_idx(path, array, true);
  const tapegrad::data::IdxArray read = tapegrad::data::read_idx(path);
  std::remove(path.c_str());
  if (read.dims != array.dims || read.bytes != array.bytes) {
    std::fprintf(stderr, "read_idx: the IDX file read back differs from the one written\n");
    return 1;
  }
  std::printf("read_idx: 2x3 bytes written and read back\n");
  return 0;
}
