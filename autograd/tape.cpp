#include <tapegrad/autograd/tape.hpp>

#include "autograd/detail/tape_printing.hpp"
#include "autograd/ops/record.hpp"

#include <tapegrad/autograd/ops.hpp>

#include <algorithm>
#include <bit>

namespace tapegrad {

namespace {

std::vector<GradientTape*>& tape_stack() {
  thread_local std::vector<GradientTape*> stack;
  return stack;
}

Grads identity_backward(const BackwardArgs& args) { return {args.grad_if_needed(0)}; }

// The StopRecording scopes alive on this thread: a tape that ends inside one leaves its list.
std::vector<StopRecording*>& active_pauses() {
  thread_local std::vector<StopRecording*> pauses;
  return pauses;
}

// Tensor and variable ids to the tape's node numbers: open addressing with linear probing
// (a slot stamped with an older generation is empty). Faster than a node-based hash set on every op.
class IdIndex {
 public:
  IdIndex() : slots_(16) {}
  int32_t find(uint64_t id) const {
    for (size_t i = hash(id);; i = (i + 1) & mask()) {
      if (empty(slots_[i])) return -1;
      if (slots_[i].id == id) return slots_[i].node;
    }
  }
  void insert(uint64_t id, int32_t node) { slot(id) = node; }
  // The node of `id`, inserted as `node` when absent: one probe for both.
  int32_t find_or_insert(uint64_t id, int32_t node) {
    int32_t& found = slot(id);
    if (found < 0) found = node;
    return found;
  }
  // Forgets every id in O(1): slots of an older generation count as empty.
  void clear() {
    count_ = 0;
    if (++generation_ == 0) {  // wrapped: old stamps could look current again
      std::fill(slots_.begin(), slots_.end(), Slot{});
      generation_ = 1;
    }
  }

 private:
  struct Slot {
    uint64_t id = 0;
    int32_t node = -1;
    uint32_t generation = 0;
  };
  bool empty(const Slot& s) const { return s.generation != generation_; }
  // The node of `id`'s slot, claimed for it (node -1) when absent.
  int32_t& slot(uint64_t id) {
    if (2 * (count_ + 1) > slots_.size()) grow();
    size_t i = hash(id);
    while (!empty(slots_[i]) && slots_[i].id != id) i = (i + 1) & mask();
    if (empty(slots_[i])) {
      slots_[i] = {id, -1, generation_};
      ++count_;
    }
    return slots_[i].node;
  }
  size_t mask() const { return slots_.size() - 1; }
  size_t hash(uint64_t id) const { return static_cast<size_t>((id * 0x9e3779b97f4a7c15ULL) >> 17) & mask(); }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    const uint32_t old_generation = generation_;
    slots_.assign(2 * old.size(), Slot{});
    generation_ = 1;
    count_ = 0;
    for (const Slot& s : old) {
      if (s.generation == old_generation) insert(s.id, s.node);
    }
  }
  std::vector<Slot> slots_;
  size_t count_ = 0;
  uint32_t generation_ = 1;
};

}  // namespace

// What a tape tracks. A node is a tensor the tape knows (watched, or an entry's output) or a
// watched variable; entries name their inputs and output by node, so the backward sweep indexes
// vectors instead of hashing ids.
struct detail::TapeStorage {
  struct Node {
    int32_t producer = -1;     // the entry that made it, or -1
    int32_t watch_order = -1;  // its place among watches, or -1 when not watched
  };
  std::vector<TapeEntry> entries;
  std::vector<Node> nodes;
  IdIndex index;
  std::vector<uint64_t> watched_ids;                     // in watch order (ids are never reused: nothing is kept alive)
  std::vector<std::pair<uint64_t, std::string>> labels;  // printout names given to watch()
  // Scratch of `gradient`, kept to reuse its memory: per node, its gradient so far and whether it
  // is a source or depends on one; per entry, whether it lies on a path from a source.
  struct NodeState {
    Tensor grad;
    bool is_source = false;
    bool reaches_source = false;
  };
  std::vector<NodeState> sweep;
  std::vector<char> on_path;

  void clear() {
    entries.clear();
    nodes.clear();
    index.clear();
    watched_ids.clear();
    labels.clear();
  }
};

namespace {

// Storage of finished tapes, for the next tape of the thread: once warm, a tape allocates nothing.
constexpr size_t kPooledStorage = 8;
thread_local bool pool_destroyed = false;  // trivially destructible: readable during thread exit

struct StoragePool {
  std::vector<detail::TapeStorage*> free;
  ~StoragePool() {
    for (detail::TapeStorage* storage : free) delete storage;
    pool_destroyed = true;
  }
};

StoragePool* storage_pool() {
  if (pool_destroyed) return nullptr;
  thread_local StoragePool pool;
  return &pool;
}

detail::TapeStorage* take_storage() {
  StoragePool* pool = storage_pool();
  if (pool == nullptr || pool->free.empty()) return new detail::TapeStorage();
  detail::TapeStorage* storage = pool->free.back();
  pool->free.pop_back();
  return storage;
}

}  // namespace

void detail::RecycleTapeStorage::operator()(TapeStorage* storage) const {
  storage->clear();
  StoragePool* pool = storage_pool();
  if (pool != nullptr && pool->free.size() < kPooledStorage) {
    pool->free.push_back(storage);
  } else {
    delete storage;
  }
}

std::span<GradientTape* const> active_tapes() { return tape_stack(); }

bool any_tape_tracks(const Tensor& tensor) {
  return std::ranges::any_of(tape_stack(), [&](const GradientTape* tape) {
    return tape->recording() && detail::TapeInternals::tracks(*tape, tensor.id());
  });
}

GradientTape::GradientTape(TapeOptions options) : options_(options), storage_(take_storage()) {
  tape_stack().push_back(this);
}

GradientTape::~GradientTape() {
  auto& stack = tape_stack();
  stack.erase(std::find(stack.begin(), stack.end(), this));
  for (StopRecording* pause : active_pauses()) std::erase(pause->paused_, this);
}

const std::vector<TapeEntry>& GradientTape::entries() const { return storage_->entries; }

int32_t GradientTape::node(uint64_t id) const { return storage_->index.find(id); }

int32_t detail::TapeInternals::node(const GradientTape& tape, uint64_t id) { return tape.node(id); }

int32_t GradientTape::add_node(uint64_t id) {
  const auto next = static_cast<int32_t>(storage_->nodes.size());
  const int32_t n = storage_->index.find_or_insert(id, next);
  if (n == next) storage_->nodes.emplace_back();
  return n;
}

bool GradientTape::watches(uint64_t id) const {
  const int32_t n = node(id);
  return n >= 0 && storage_->nodes[static_cast<size_t>(n)].watch_order >= 0;
}

std::unordered_set<uint64_t> GradientTape::watched() const {
  return {storage_->watched_ids.begin(), storage_->watched_ids.end()};
}

std::string GradientTape::label(uint64_t id) const {
  for (const auto& [labelled, name] : storage_->labels) {
    if (labelled == id) return name;
  }
  if (!watches(id)) return {};
  return fmt::format("watched#{}", storage_->nodes[static_cast<size_t>(node(id))].watch_order);
}

int64_t GradientTape::producer(uint64_t id) const {
  const int32_t n = node(id);
  return n < 0 ? -1 : storage_->nodes[static_cast<size_t>(n)].producer;
}

void GradientTape::watch(const Tensor& tensor, std::string_view name) {
  if (!is_floating(tensor.dtype())) return;  // integer tensors have no gradient and are never watched
  const int32_t n = add_node(tensor.id());
  auto& watch_order = storage_->nodes[static_cast<size_t>(n)].watch_order;
  if (watch_order >= 0) return;
  watch_order = static_cast<int32_t>(storage_->watched_ids.size());
  storage_->watched_ids.push_back(tensor.id());
  if (!name.empty()) storage_->labels.emplace_back(tensor.id(), name);
}

void GradientTape::watch(const Variable& variable) {
  if (!is_floating(variable.dtype())) return;
  const int32_t n = add_node(variable.id());
  auto& watch_order = storage_->nodes[static_cast<size_t>(n)].watch_order;
  if (watch_order >= 0) return;
  watch_order = static_cast<int32_t>(storage_->watched_ids.size());
  storage_->watched_ids.push_back(variable.id());
  storage_->labels.emplace_back(variable.id(), variable.name());
}

void detail::TapeInternals::append(GradientTape& tape, const char* op, std::span<const TapeInput> inputs,
                                   const Tensor& output, BackwardFn backward, const Attrs& attrs, InputUse input_use) {
  SmallVector<int32_t, 3> input_nodes;
  bool tracked = false;
  for (const TapeInput& input : inputs) tracked |= input_nodes.emplace_back(tape.node(input.id)) >= 0;
  if (!tracked) return;
  // Built where it stays: a TapeEntry holds several small vectors, and moving one costs as much
  // as a small op.
  TapeEntry& entry = tape.storage_->entries.emplace_back(op, backward);
  entry.inputs.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = *inputs[i].tensor;
    entry.inputs.emplace_back(input_use == InputUse::values ? Tensor(t) : Tensor{}, inputs[i].id, input_nodes[i],
                              t.dtype(), t.shape());
  }
  entry.output = output.copy_of_own();  // see the contract in tape.hpp
  entry.output_node = tape.add_node(output.id());
  entry.attrs = attrs;
  tape.storage_->nodes[static_cast<size_t>(entry.output_node)].producer =
      static_cast<int32_t>(tape.storage_->entries.size() - 1);
}

void detail::TapeInternals::record_read(GradientTape& tape, const Variable& variable, const Tensor& value) {
  if (!tape.recording() || !is_floating(value.dtype())) return;  // integer variables are never watched
  if (!tape.watches(variable.id())) {
    if (!tape.options_.watch_accessed_variables || !variable.trainable()) return;
    tape.watch(variable);
  }
  if (tracks(tape, value.id())) return;  // this value was read already: one entry is enough
  const TapeInput input{&value, variable.id()};
  append(tape, "read_variable", {&input, 1}, value, identity_backward, {}, InputUse::shapes);
}

namespace {
// True when some tape of this thread records now (inside a backward sweep or a StopRecording, none
// does): ops check this before they gather what an entry needs.
bool any_recording() {
  return std::ranges::any_of(tape_stack(), [](const GradientTape* tape) { return tape->recording(); });
}

template <typename Tensors>
Tensor record_on_tapes(const char* op, const Tensors& inputs, Tensor output, BackwardFn backward, const Attrs& attrs,
                       InputUse input_use) {
  if (!is_floating(output.dtype()) || !any_recording()) return output;
  SmallVector<TapeInput, 3> list;
  for (const Tensor& t : inputs) list.push_back({&t, t.id()});
  for (GradientTape* tape : tape_stack()) {
    if (tape->recording()) {
      detail::TapeInternals::append(*tape, op, {list.data(), list.size()}, output, backward, attrs, input_use);
    }
  }
  return output;
}
}  // namespace

Tensor record(const char* op, InputList inputs, Tensor output, BackwardFn backward, const Attrs& attrs,
              InputUse input_use) {
  return record_on_tapes(op, inputs, std::move(output), backward, attrs, input_use);
}

Tensor record(const char* op, std::span<const Tensor> inputs, Tensor output, BackwardFn backward, const Attrs& attrs,
              InputUse input_use) {
  return record_on_tapes(op, inputs, std::move(output), backward, attrs, input_use);
}

void BackwardArgs::fail_not_kept(size_t i) const {
  fail("backward of {}: reads input {} ({} {}), but the op was recorded with InputUse::shapes, which keeps only "
       "its shape (record it with InputUse::values)",
       op, i, inputs[i].shape, dtype_name(inputs[i].dtype));
}

void GradientTape::begin_gradient(const char* caller) {
  if (used_ && !options_.persistent) {
    fail("GradientTape::{}: this tape is not persistent and has computed a gradient already "
         "(make it with persistent = true to call gradient more than once)",
         caller);
  }
  used_ = true;
}

namespace {
// Checked before a tape is used up, so that a call with bad arguments leaves it usable.
void check_target(const Tensor& target, const GradientOptions& options, const char* caller) {
  if (!is_floating(target.dtype())) {
    fail("GradientTape::{}: target is {} {}, expected a float tensor", caller, target.shape(),
         dtype_name(target.dtype()));
  }
  if (const auto& seed = options.output_gradients;
      seed && (seed->shape() != target.shape() || seed->dtype() != target.dtype())) {
    fail("GradientTape::{}: output_gradients is {} {}, expected the target's {} {}", caller, seed->shape(),
         dtype_name(seed->dtype()), target.shape(), dtype_name(target.dtype()));
  }
}
}  // namespace

std::vector<Tensor> GradientTape::gradient(const Tensor& target, std::span<const Source> sources,
                                           const GradientOptions& options) {
  check_target(target, options, "gradient");
  begin_gradient("gradient");
  std::vector<Tensor> results(sources.size());
  compute(target, sources, options, results);
  return results;
}

namespace {
// The default seed: ones of the target's shape. A training loop asks for the same small shape
// every step, so each thread keeps its last small seed of each dtype (tensors never change, so
// handing out the same one is safe).
Tensor ones_seed(const Tensor& target) {
  constexpr int64_t kMostCachedElements = 64;
  if (target.numel() > kMostCachedElements) return ones_like(target);
  thread_local Tensor cached[2];  // float32, float64
  Tensor& seed = cached[target.dtype() == DType::float64 ? 1 : 0];
  if (!seed.defined() || seed.shape() != target.shape()) seed = ones_like(target);
  return seed.copy_of_own();  // a thread_local: no other thread reaches it
}
}  // namespace

void GradientTape::compute(const Tensor& target, std::span<const Source> sources, const GradientOptions& options,
                           std::span<Tensor> results) {
  Tensor seed = options.output_gradients ? *options.output_gradients : ones_seed(target);

  // The ops of the backward sweep are recorded by outer tapes that watch them, never by this one.
  ++paused_;
  struct Resume {
    int& paused;
    ~Resume() { --paused; }
  } resume{paused_};

  detail::TapeStorage& s = *storage_;
  const size_t node_count = s.nodes.size();
  s.sweep.assign(node_count, {});
  SmallVector<int32_t, 1> source_nodes;
  for (const Source& source : sources) {
    const int32_t n = source_nodes.emplace_back(node(source.id()));
    if (n >= 0) s.sweep[n].is_source = s.sweep[n].reaches_source = true;
  }
  // Forward over the entries: which lie on a path from a source.
  s.on_path.assign(s.entries.size(), 0);
  for (size_t e = 0; e < s.entries.size(); ++e) {
    const TapeEntry& entry = s.entries[e];
    for (const EntryInput& input : entry.inputs) {
      if (input.node >= 0 && s.sweep[input.node].reaches_source) s.on_path[e] = 1;
    }
    if (s.on_path[e] != 0) s.sweep[entry.output_node].reaches_source = true;
  }

  // Backward: entries in reverse execution order are a topological order. No recursion.
  if (const int32_t t = node(target.id()); t >= 0) s.sweep[t].grad = std::move(seed);
  SmallVector<char, 4> needed;
  for (size_t e = s.entries.size(); e-- > 0;) {
    if (s.on_path[e] == 0) continue;
    const TapeEntry& entry = s.entries[e];
    Tensor& out_grad = s.sweep[entry.output_node].grad;
    if (!out_grad.defined()) continue;
    // A source's gradient stays for the results; any other is consumed here, and freed early.
    Tensor upstream = s.sweep[entry.output_node].is_source ? out_grad : std::move(out_grad);

    needed.clear();
    for (const EntryInput& input : entry.inputs) {
      needed.push_back(input.node >= 0 && s.sweep[input.node].reaches_source ? 1 : 0);
    }
    const BackwardArgs args{
        upstream, {entry.inputs.data(), entry.inputs.size()}, entry.output, {needed.data(), needed.size()}, entry.attrs,
        entry.op, options.trace ? nullptr : &upstream};  // a trace prints upstream afterwards
    Grads input_grads = entry.backward(args);
    if (input_grads.size() != entry.inputs.size()) {
      fail("GradientTape::gradient: the backward of {} returned {} gradients for {} inputs", entry.op,
           input_grads.size(), entry.inputs.size());
    }
    for (size_t i = 0; i < input_grads.size(); ++i) {
      Tensor& g = input_grads[i];
      const Shape& input_shape = entry.inputs[i].shape;
      if (needed[i] != 0 && g.defined() && g.shape() != input_shape) {
        g = sum_to(g, input_shape);  // the one place broadcasting is undone
      }
    }
    if (options.trace)
      options.trace(detail::trace_line(*this, e, upstream, input_grads, {needed.data(), needed.size()}));
    for (size_t i = 0; i < input_grads.size(); ++i) {
      Tensor& g = input_grads[i];
      if (needed[i] == 0 || !g.defined()) continue;
      Tensor& slot = s.sweep[entry.inputs[i].node].grad;
      slot = slot.defined() ? slot + g : std::move(g);  // the first gradient is handed over, not copied
    }
  }

  for (size_t i = 0; i < sources.size(); ++i) {
    const int32_t n = source_nodes[i];
    if (n >= 0 && s.sweep[n].grad.defined()) {
      // Handed over, unless the same source is listed again further on.
      const auto later = sources.subspan(i + 1);
      const bool again = std::ranges::any_of(later, [&](const Source& other) { return other.id() == sources[i].id(); });
      results[i] = again ? s.sweep[n].grad : std::move(s.sweep[n].grad);
    } else if (options.unconnected_gradients == UnconnectedGradients::zero) {
      results[i] = zeros(sources[i].shape(), sources[i].dtype());
    } else {
      results[i] = Tensor{};
    }
  }
  s.sweep.clear();
}

Tensor GradientTape::gradient(const Tensor& target, const Source& source, const GradientOptions& options) {
  check_target(target, options, "gradient");
  begin_gradient("gradient");
  Tensor result;
  compute(target, {&source, 1}, options, {&result, 1});
  return result;
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, std::initializer_list<Source> sources,
                                           const GradientOptions& options) {
  return gradient(target, std::span<const Source>(sources.begin(), sources.size()), options);
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<Variable>& sources,
                                           const GradientOptions& options) {
  std::vector<Source> list(sources.begin(), sources.end());
  return gradient(target, std::span<const Source>(list), options);
}

void GradientTape::reset() {
  storage_->clear();
  used_ = false;
}

namespace {
// A tensor of `shape` that is 1 at the flat positions `ones`, else 0.
Tensor indicator(const Shape& shape, DType dtype, std::span<const int64_t> ones) {
  std::vector<double> values(static_cast<size_t>(shape.numel()), 0.0);
  for (int64_t i : ones) values[static_cast<size_t>(i)] = 1.0;
  return Tensor(values, shape, dtype);
}

Tensor gradient_or_zeros(const Tensor& grad, const Source& source) {
  return grad.defined() ? grad : zeros(source.shape(), source.dtype());
}
}  // namespace

Tensor GradientTape::jacobian(const Tensor& target, const Source& source, UnconnectedGradients unconnected) {
  check_target(target, {}, "jacobian");
  begin_gradient("jacobian");
  std::vector<Tensor> rows;
  bool connected = false;
  for (int64_t i = 0; i < target.numel(); ++i) {
    GradientOptions seeded;
    seeded.output_gradients = indicator(target.shape(), target.dtype(), std::span<const int64_t>(&i, 1));
    Tensor row;
    compute(target, {&source, 1}, seeded, {&row, 1});
    connected = connected || row.defined();
    rows.push_back(reshape(gradient_or_zeros(row, source), Shape{source.shape().numel()}));
  }
  if (!connected && unconnected == UnconnectedGradients::none) return {};
  Shape shape = target.shape();
  for (int64_t d : source.shape().dims()) shape.push_back(d);
  if (rows.empty()) return zeros(shape, source.dtype());
  return reshape(stack(rows), shape);
}

Tensor GradientTape::batch_jacobian(const Tensor& target, const Source& source, UnconnectedGradients unconnected) {
  check_target(target, {}, "batch_jacobian");
  begin_gradient("batch_jacobian");
  const Shape& ts = target.shape();
  const Shape& ss = source.shape();
  if (ts.rank() < 1 || ss.rank() < 1 || ts[0] != ss[0]) {
    fail("GradientTape::batch_jacobian: target {} and source {}; expected one batch size on the first axis", ts, ss);
  }
  const int64_t batch = ts[0];
  const int64_t per_target = batch == 0 ? 0 : ts.numel() / batch, per_source = batch == 0 ? 0 : ss.numel() / batch;
  std::vector<Tensor> columns;
  bool connected = false;
  for (int64_t j = 0; j < per_target; ++j) {
    std::vector<int64_t> positions;
    for (int64_t b = 0; b < batch; ++b) positions.push_back(b * per_target + j);
    GradientOptions seeded;
    seeded.output_gradients = indicator(ts, target.dtype(), positions);
    Tensor grad;
    compute(target, {&source, 1}, seeded, {&grad, 1});
    connected = connected || grad.defined();
    columns.push_back(reshape(gradient_or_zeros(grad, source), Shape{batch, per_source}));
  }
  if (!connected && unconnected == UnconnectedGradients::none) return {};
  Shape shape{batch};
  for (int k = 1; k < ts.rank(); ++k) shape.push_back(ts[k]);
  for (int k = 1; k < ss.rank(); ++k) shape.push_back(ss[k]);
  if (columns.empty()) return zeros(shape, source.dtype());
  return reshape(stack(columns, 1), shape);
}

StopRecording::StopRecording() : paused_(tape_stack().begin(), tape_stack().end()) {
  for (GradientTape* tape : paused_) ++tape->paused_;
  active_pauses().push_back(this);
}

StopRecording::~StopRecording() {
  for (GradientTape* tape : paused_) --tape->paused_;
  auto& pauses = active_pauses();
  pauses.erase(std::find(pauses.begin(), pauses.end(), this));
}

}  // namespace tapegrad
