// broadcast, all_reduce and the checks before them. Every collective is non-blocking MPI waited on
// by detail::wait, which hears of other ranks' failures. Tensors travel as flat buffers, one per
// dtype and bucket: LeNet's ten gradients are one message each way.
//
// all_reduce is deterministic by construction: rank 0 gathers every rank's buffer (moving bytes, no
// arithmetic), adds them element by element in rank order, and broadcasts the result. MPI_Allreduce
// leaves the order of its additions to the library (it depends on the algorithm, the message size
// and the number of processes), so its float results may differ in the last bits between ranks and
// runs; this costs a gather and a broadcast instead, which for a few processes is no slower.

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/distributed/distributed.hpp>
#include <tapegrad/distributed/optimizer.hpp>

#include "distributed/detail/mpi.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace tapegrad::distributed {
namespace {

constexpr std::array<DType, 3> kDTypes = {DType::float32, DType::float64, DType::int64};

size_t dtype_slot(DType dtype) {
  for (size_t i = 0; i < kDTypes.size(); ++i) {
    if (kDTypes[i] == dtype) return i;
  }
  fail("distributed: tensors of dtype {} cannot be sent; float32, float64 or int64 expected", dtype_name(dtype));
}

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::float32: return MPI_FLOAT;
    case DType::float64: return MPI_DOUBLE;
    default: return MPI_INT64_T;
  }
}

// The text of every rank, in rank order (lengths first, then the texts).
std::vector<std::string> all_gather_text(const std::string& mine, std::string_view what) {
  const MPI_Comm comm = detail::communicator(what);
  int size = 0;
  MPI_Comm_size(comm, &size);
  const int64_t length = static_cast<int64_t>(mine.size());
  std::vector<int64_t> lengths(static_cast<size_t>(size));
  MPI_Request request = MPI_REQUEST_NULL;
  detail::check(MPI_Iallgather(&length, 1, MPI_INT64_T, lengths.data(), 1, MPI_INT64_T, comm, &request), what);
  detail::wait(request, what);
  std::vector<int> counts(static_cast<size_t>(size)), offsets(static_cast<size_t>(size));
  int64_t total = 0;
  for (int r = 0; r < size; ++r) {
    if (total + lengths[static_cast<size_t>(r)] > std::numeric_limits<int>::max()) {
      fail("{}: the descriptions of the processes' tensors exceed 2 GiB", what);
    }
    offsets[static_cast<size_t>(r)] = static_cast<int>(total);
    counts[static_cast<size_t>(r)] = static_cast<int>(lengths[static_cast<size_t>(r)]);
    total += lengths[static_cast<size_t>(r)];
  }
  std::string all(static_cast<size_t>(total), '\0');
  detail::check(MPI_Iallgatherv(mine.data(), static_cast<int>(mine.size()), MPI_CHAR, all.data(), counts.data(),
                                offsets.data(), MPI_CHAR, comm, &request),
                what);
  detail::wait(request, what);
  detail::stats().messages += 2;
  detail::stats().bytes += 8 + length;
  std::vector<std::string> texts;
  for (int r = 0; r < size; ++r) {
    texts.push_back(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(r)]),
                               static_cast<size_t>(counts[static_cast<size_t>(r)])));
  }
  return texts;
}

// Splits text into lines.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find('\n', start), text.size());
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Every rank gives a setting (a line: the root of a broadcast) and a list of lines (one per item: a
// variable); an Error on every rank, the same everywhere, when a rank's differ from rank 0's, naming
// the first difference.
void check_same_everywhere(const std::string& setting, const std::vector<std::string>& items, std::string_view noun,
                           std::string_view what) {
  std::string mine = setting + "\n";
  for (const std::string& item : items) mine += item + "\n";
  const std::vector<std::string> texts = all_gather_text(mine, what);
  std::vector<std::string> first = lines_of(texts[0]);
  const std::string first_setting = first.front();
  first.erase(first.begin());
  for (size_t r = 1; r < texts.size(); ++r) {
    if (texts[r] == texts[0]) continue;
    std::vector<std::string> other = lines_of(texts[r]);
    if (other.front() != first_setting) {
      fail("{}: rank {} has {}, rank 0 has {}; every process must call it alike", what, r, other.front(),
           first_setting);
    }
    other.erase(other.begin());
    if (other.size() != first.size()) {
      fail("{}: rank {} has {} {}s, rank 0 has {}; every process must give the same {}s (shapes, dtypes, order)", what,
           r, other.size(), noun, first.size(), noun);
    }
    for (size_t i = 0; i < first.size(); ++i) {
      if (other[i] != first[i]) {
        fail("{}: {} {} is {} on rank {} but {} on rank 0; every process must give the same {}s (shapes, dtypes, "
             "order)",
             what, noun, i, other[i], r, first[i], noun);
      }
    }
  }
}

std::string describe(const Variable& variable) {
  return fmt::format("'{}' {} {}", variable.name(), variable.shape(), dtype_name(variable.dtype()));
}

// The tensors of one dtype, end to end in a flat buffer, in list order.
struct Group {
  DType dtype = DType::float32;
  std::vector<size_t> members;  // positions in the list
  int64_t numel = 0;
};

std::array<Group, 3> group_by_dtype(const std::vector<Tensor>& tensors) {
  std::array<Group, 3> groups;
  for (size_t i = 0; i < kDTypes.size(); ++i) groups[i].dtype = kDTypes[i];
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i].defined()) continue;
    Group& group = groups[dtype_slot(tensors[i].dtype())];
    group.members.push_back(i);
    group.numel += tensors[i].numel();
  }
  return groups;
}

// The buffers the tensors travel in, kept from call to call (only init's thread calls MPI).
// NOTE: fresh buffers made an all-reduce of LeNet's gradients (247 KB) take 26 ms instead of 0.3 ms:
// glibc maps a block that large anew each time, and Open MPI's shared-memory transport then pays
// for new pages on both sides at every message.
struct Buffers {
  std::vector<std::byte> flat;      // this process's tensors of one dtype, end to end
  std::vector<std::byte> gathered;  // rank 0: every rank's bucket
};

Buffers& buffers() {
  static Buffers kept;
  return kept;
}

std::vector<std::byte>& pack(const Group& group, const std::vector<Tensor>& tensors) {
  const size_t element = dtype_size(group.dtype);
  std::vector<std::byte>& flat = buffers().flat;
  flat.resize(static_cast<size_t>(group.numel) * element);
  size_t offset = 0;
  for (const size_t i : group.members) {
    const size_t bytes = static_cast<size_t>(tensors[i].numel()) * element;
    if (bytes > 0) std::memcpy(flat.data() + offset, tensors[i].raw_data(), bytes);
    offset += bytes;
  }
  return flat;
}

// New tensors of `like`'s shapes holding `flat`'s elements, put at their positions in `out`.
void unpack(const Group& group, const std::vector<std::byte>& flat, const std::vector<Tensor>& like,
            std::vector<Tensor>& out) {
  const size_t element = dtype_size(group.dtype);
  size_t offset = 0;
  for (const size_t i : group.members) {
    Tensor tensor = Tensor::empty(like[i].shape(), group.dtype);
    const size_t bytes = static_cast<size_t>(like[i].numel()) * element;
    if (bytes > 0) std::memcpy(tensor.mutable_raw_data(), flat.data() + offset, bytes);
    offset += bytes;
    out[i] = std::move(tensor);
  }
}

int64_t bucket_elements(const AllReduceOptions& options, DType dtype, std::string_view what) {
  if (options.bucket_bytes < 8 || options.bucket_bytes > (int64_t{1} << 30)) {
    fail("{}: bucket_bytes must be in [8, 2^30], got {}", what, options.bucket_bytes);
  }
  return options.bucket_bytes / static_cast<int64_t>(dtype_size(dtype));
}

// result = the sum of the `size` blocks of `count` elements in `gathered`, in rank order; / size for
// the mean.
template <typename T>
void add_in_rank_order(const T* gathered, int64_t count, int size, bool mean, T* result) {
  for (int64_t i = 0; i < count; ++i) result[i] = gathered[i];
  for (int r = 1; r < size; ++r) {
    const T* block = gathered + static_cast<int64_t>(r) * count;
    for (int64_t i = 0; i < count; ++i) result[i] += block[i];
  }
  if (mean) {
    const T n = static_cast<T>(size);
    for (int64_t i = 0; i < count; ++i) result[i] /= n;
  }
}

// Reduces `flat` (this rank's elements of one dtype) in place, bucket by bucket.
void reduce_flat(std::vector<std::byte>& flat, DType dtype, int64_t bucket, bool mean, MPI_Comm comm,
                 std::string_view what) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const size_t element = dtype_size(dtype);
  const int64_t numel = static_cast<int64_t>(flat.size() / element);
  std::vector<std::byte>& gathered = buffers().gathered;
  gathered.resize(rank == 0 ? static_cast<size_t>(std::min(bucket, numel)) * element * size : 0);
  for (int64_t begin = 0; begin < numel; begin += bucket) {
    const int64_t count = std::min(bucket, numel - begin);
    std::byte* chunk = flat.data() + static_cast<size_t>(begin) * element;
    MPI_Request request = MPI_REQUEST_NULL;
    // The chunk is sent from where it is; rank 0 writes the sum over it once the gather is done.
    detail::check(MPI_Igather(chunk, static_cast<int>(count), mpi_type(dtype), gathered.data(), static_cast<int>(count),
                              mpi_type(dtype), 0, comm, &request),
                  what);
    detail::wait(request, what);
    if (rank == 0) {
      dispatch(dtype, [&]<typename T>() {
        add_in_rank_order(reinterpret_cast<const T*>(gathered.data()), count, size, mean, reinterpret_cast<T*>(chunk));
      });
    }
    detail::check(MPI_Ibcast(chunk, static_cast<int>(count), mpi_type(dtype), 0, comm, &request), what);
    detail::wait(request, what);
    detail::stats().messages += 2;
    detail::stats().bytes += count * static_cast<int64_t>(element) * (rank == 0 ? size - 1 : 1);
  }
}

// What every rank tells the others before an all_reduce, to find a rank whose list differs.
struct Header {
  int64_t tensors = 0;
  int64_t defined = 0;
  std::array<int64_t, 3> values{};  // elements per dtype
  int64_t signature = 0;            // FNV-1a of each tensor's definedness, dtype and shape
};

Header header_of(const std::vector<Tensor>& tensors) {
  Header header;
  header.tensors = static_cast<int64_t>(tensors.size());
  uint64_t hash = 14695981039346656037ull;
  const auto mix = [&](int64_t value) {
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= static_cast<uint64_t>(value >> (8 * byte)) & 0xff;
      hash *= 1099511628211ull;
    }
  };
  for (const Tensor& tensor : tensors) {
    mix(tensor.defined() ? 1 : 0);
    if (!tensor.defined()) continue;
    ++header.defined;
    header.values[dtype_slot(tensor.dtype())] += tensor.numel();
    mix(static_cast<int64_t>(tensor.dtype()));
    mix(tensor.rank());
    for (const int64_t dim : tensor.shape().dims()) mix(dim);
  }
  header.signature = static_cast<int64_t>(hash);
  return header;
}

std::string describe(const Header& header) {
  return fmt::format("{} tensors ({} defined; {} float32, {} float64 and {} int64 elements)", header.tensors,
                     header.defined, header.values[0], header.values[1], header.values[2]);
}

}  // namespace

void check_variables(const std::vector<Variable>& variables, std::string_view what) {
  std::vector<std::string> items;
  for (size_t i = 0; i < variables.size(); ++i) {
    if (!variables[i].defined()) fail("{}: variable {} is an empty handle", what, i);
    items.push_back(describe(variables[i]));
  }
  check_same_everywhere("", items, "variable", what);
}

void broadcast(const std::vector<Variable>& variables, int root) {
  constexpr std::string_view what = "broadcast";
  const MPI_Comm comm = detail::communicator(what);
  int size = 0;
  MPI_Comm_size(comm, &size);
  // The root is checked with the variables: a rank whose root differs is an Error everywhere.
  std::vector<std::string> items;
  for (size_t i = 0; i < variables.size(); ++i) {
    if (!variables[i].defined()) fail("{}: variable {} is an empty handle", what, i);
    items.push_back(describe(variables[i]));
  }
  check_same_everywhere(fmt::format("root {}", root), items, "variable", what);
  if (root < 0 || root >= size) fail("{}: root {} is not a rank of the {} processes", what, root, size);
  std::vector<Tensor> values;
  for (const Variable& variable : variables) values.push_back(variable.value());
  const AllReduceOptions options;
  std::vector<Tensor> received(values.size());
  for (const Group& group : group_by_dtype(values)) {
    if (group.members.empty()) continue;
    std::vector<std::byte>& flat = pack(group, values);
    const size_t element = dtype_size(group.dtype);
    const int64_t bucket = bucket_elements(options, group.dtype, what);
    for (int64_t begin = 0; begin < group.numel; begin += bucket) {
      const int64_t count = std::min(bucket, group.numel - begin);
      MPI_Request request = MPI_REQUEST_NULL;
      detail::check(MPI_Ibcast(flat.data() + static_cast<size_t>(begin) * element, static_cast<int>(count),
                               mpi_type(group.dtype), root, comm, &request),
                    what);
      detail::wait(request, what);
      detail::stats().messages += 1;
      detail::stats().bytes += count * static_cast<int64_t>(element);
    }
    unpack(group, flat, values, received);
  }
  for (size_t i = 0; i < variables.size(); ++i) {
    Variable variable = variables[i];
    variable.assign(received[i]);
  }
}

std::vector<Tensor> all_reduce(const std::vector<Tensor>& tensors, const AllReduceOptions& options) {
  constexpr std::string_view what = "all_reduce";
  const auto start = std::chrono::steady_clock::now();
  const MPI_Comm comm = detail::communicator(what);
  int size = 0;
  MPI_Comm_size(comm, &size);
  // One small message first: the lists must agree before their buffers travel.
  const Header mine = header_of(tensors);
  std::vector<Header> headers(static_cast<size_t>(size));
  MPI_Request request = MPI_REQUEST_NULL;
  static_assert(sizeof(Header) == 6 * sizeof(int64_t));
  detail::check(MPI_Iallgather(&mine, 6, MPI_INT64_T, headers.data(), 6, MPI_INT64_T, comm, &request), what);
  detail::wait(request, what);
  detail::stats().messages += 1;
  detail::stats().bytes += static_cast<int64_t>(sizeof(Header));
  for (size_t r = 1; r < headers.size(); ++r) {
    const Header& other = headers[r];
    const Header& first = headers[0];
    if (other.tensors != first.tensors || other.defined != first.defined || other.values != first.values) {
      fail("{}: rank {} gives {}, rank 0 gives {}; every process must give the same list of tensors", what, r,
           describe(other), describe(first));
    }
    if (other.signature != first.signature) {
      fail("{}: rank {} gives {} as rank 0 does, but their shapes, dtypes or undefined places differ; every "
           "process must give the same list of tensors",
           what, r, describe(other));
    }
  }
  const bool mean = options.op == ReduceOp::mean;
  if (mean && mine.values[2] > 0) fail("{}: the mean of int64 tensors; use ReduceOp::sum for them", what);

  std::vector<Tensor> reduced(tensors.size());
  for (const Group& group : group_by_dtype(tensors)) {
    if (group.members.empty()) continue;
    std::vector<std::byte>& flat = pack(group, tensors);
    reduce_flat(flat, group.dtype, bucket_elements(options, group.dtype, what), mean, comm, what);
    unpack(group, flat, tensors, reduced);
  }
  detail::stats().all_reduce_calls += 1;
  detail::stats().all_reduce_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return reduced;
}

optim::Optimizer::GradientAggregator gradient_aggregator(AllReduceOptions options) {
  auto checked = std::make_shared<bool>(false);
  return [options, checked](const std::vector<Tensor>& gradients, const std::vector<Variable>& variables) {
    if (!*checked) {
      check_variables(variables, "DistributedOptimizer");
      *checked = true;
    }
    return all_reduce(gradients, options);
  };
}

}  // namespace tapegrad::distributed
