// Tapes and threads: what a tape allows across threads (it belongs to the thread that made it), and a
// stress test of what threads share: tensors (copies and reference counts), variables (reads on many
// threads, an assign ordered by a lock), the caching allocator (a block freed on another thread than the
// one that took it), each thread with tapes of its own, and small models trained on two threads at
// once. std::thread workers, with the kernels' OpenMP threads inside them. Kept short for the plain
// suite; `./dev tsan` runs it under ThreadSanitizer, where its races would show.

#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>
#include "autograd/ops/record.hpp"  // TapeEntry, for tape.entries()

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace tapegrad;

namespace {

// Runs f(i) on `count` std::threads at once and joins them; an exception in a worker fails the test
// case on the main thread (doctest's checks are not thread-safe, so workers only report).
void on_threads(int count, const std::function<void(int)>& f) {
  std::vector<std::string> errors(static_cast<size_t>(count));
  std::vector<std::thread> workers;
  for (int i = 0; i < count; ++i) {
    workers.emplace_back([&, i] {
      try {
        f(i);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(i)] = e.what();
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  for (int i = 0; i < count; ++i) {
    CAPTURE(i);
    CHECK(errors[static_cast<size_t>(i)] == "");
  }
}

// The message of the tapegrad::Error that f throws, or "" when it throws none.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// An error on any thread but the caller's, from a worker: fails the test case as on_threads does.
void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

bool same_bits(const Tensor& a, const Tensor& b) { return a.shape() == b.shape() && a.to_vector() == b.to_vector(); }

}  // namespace

TEST_CASE("GradientTape on another thread: each member is an error naming it; its own thread goes on") {
  const Tensor x({1, 2, 3}, {3});
  GradientTape tape;
  tape.watch(x);
  const Tensor y = sum(x * x);
  std::vector<std::pair<std::string, std::string>> messages;  // member, message
  std::thread other([&] {
    const auto add = [&](const std::string& member, const std::function<void()>& f) {
      messages.emplace_back(member, error_of(f));
    };
    add("watch", [&] { tape.watch(x); });
    add("gradient", [&] { (void)tape.gradient(y, x); });
    add("jacobian", [&] { (void)tape.jacobian(y, x); });
    add("batch_jacobian", [&] { (void)tape.batch_jacobian(reshape(x, {3, 1}), x); });
    add("reset", [&] { tape.reset(); });
    add("entries", [&] { (void)tape.entries(); });
    add("watches", [&] { (void)tape.watches(x.id()); });
    add("watched", [&] { (void)tape.watched(); });
    add("label", [&] { (void)tape.label(x.id()); });
    add("producer", [&] { (void)tape.producer(y.id()); });
    add("recording", [&] { (void)tape.recording(); });
  });
  other.join();
  REQUIRE(messages.size() == 11);
  for (const auto& tried : messages) {  // not a structured binding: CAPTURE's lambda cannot take one under OpenMP
    CAPTURE(tried.first);
    CHECK(tried.second.starts_with("GradientTape::" + tried.first +
                                   ": called on another thread than the one that made the tape"));
  }
  // Nothing was used up or changed: the tape's own thread differentiates as if no other thread had tried.
  CHECK(tape.entries().size() == 2);
  CHECK(tape.gradient(y, x).to_vector() == std::vector<double>{2, 4, 6});
}

TEST_CASE("GradientTape records only its own thread's ops, even on a tensor it watches") {
  const Tensor x({1, 2}, {2});
  GradientTape tape;
  tape.watch(x);
  Tensor from_other;
  std::thread other([&] { from_other = x * x; });  // the other thread has no tape: nothing is recorded
  other.join();
  CHECK(tape.entries().empty());
  CHECK_FALSE(tape.gradient(sum(from_other), x).defined());  // unconnected: the op is not on this tape
}

TEST_CASE("GradientTape destroyed on another thread: no crash; its thread stops recording on it, goes on") {
  const Tensor x({1, 2, 3}, {3});

  SUBCASE("the only tape") {
    auto tape = std::make_unique<GradientTape>();
    tape->watch(x);
    (void)sum(x * x);
    std::thread([t = std::move(tape)]() mutable { t.reset(); }).join();
    CHECK(active_tapes().empty());
    (void)sum(x * x);  // ops go on, recorded by no tape
    GradientTape next;
    next.watch(x);
    CHECK(next.gradient(sum(x * x * x), x).to_vector() == std::vector<double>{3, 12, 27});
  }

  SUBCASE("an inner tape, with an outer one recording and a StopRecording scope alive") {
    GradientTape outer;
    outer.watch(x);
    auto inner = std::make_unique<GradientTape>(TapeOptions{.persistent = true});
    inner->watch(x);
    {
      const StopRecording paused;
      std::thread([t = std::move(inner)]() mutable { t.reset(); }).join();
      CHECK_FALSE(outer.recording());
    }  // resumes the outer tape only: the inner one is gone
    CHECK(outer.recording());
    REQUIRE(active_tapes().size() == 1);
    CHECK(active_tapes()[0] == &outer);
    CHECK(outer.gradient(sum(x * x), x).to_vector() == std::vector<double>{2, 4, 6});
  }

  SUBCASE("made on a thread that has ended, destroyed on this one") {
    std::unique_ptr<GradientTape> tape;
    std::thread([&] {
      tape = std::make_unique<GradientTape>();
      tape->watch(x);
      (void)sum(x * x);
    }).join();
    CHECK_THROWS_WITH_AS(tape->watch(x), doctest::Contains("GradientTape::watch: called on another thread"), Error);
    tape.reset();
    CHECK(active_tapes().empty());
  }

  SUBCASE("destroyed while its own thread runs ops on what it watches") {
    std::unique_ptr<GradientTape> tape;
    std::atomic<int> stage{0};  // 1: the worker has recorded; 2: the tape is destroyed
    std::string worker_error;
    size_t tapes_at_end = 99;
    std::thread worker([&] {
      try {
        tape = std::make_unique<GradientTape>();
        tape->watch(x);
        Tensor y = x;
        for (int i = 0; i < 20; ++i) y = y * x;
        stage.store(1, std::memory_order_release);
        // Ops on the watched tensor, before, during and after the other thread destroys the tape.
        for (int after = 0; after < 20;) {
          y = sin(y * x);
          if (stage.load(std::memory_order_acquire) == 2) ++after;
        }
        tapes_at_end = active_tapes().size();
      } catch (const std::exception& e) {
        worker_error = e.what();
      }
    });
    while (stage.load(std::memory_order_acquire) != 1) std::this_thread::yield();
    tape.reset();
    stage.store(2, std::memory_order_release);
    worker.join();
    CHECK(worker_error == "");
    CHECK(tapes_at_end == 0);
  }
}

TEST_CASE("threads: tensors shared between threads, each thread with its own tape") {
  Generator gen(5);
  const Tensor x = random_normal({24, 40}, gen);
  const Tensor w = random_normal({40, 16}, gen);
  // The reference, on this thread: each worker must get the same bits.
  Tensor reference_loss;
  std::vector<Tensor> reference;
  {
    GradientTape tape;
    tape.watch(x);
    tape.watch(w);
    reference_loss = mean(sigmoid(matmul(x, w)) * matmul(x, w));
    reference = tape.gradient(reference_loss, {x, w});
  }

  on_threads(4, [&](int) {
    for (int step = 0; step < 25; ++step) {
      std::vector<Tensor> copies(8, x);  // reference-count traffic on the shared tensors
      GradientTape tape;
      tape.watch(x);
      tape.watch(w);
      const Tensor& mine = copies[static_cast<size_t>(step % 8)];
      const Tensor loss = mean(sigmoid(matmul(mine, w)) * matmul(x, w));
      const std::vector<Tensor> grads = tape.gradient(loss, {x, w});
      require(same_bits(loss, reference_loss), "loss differs from the one computed on the main thread");
      require(same_bits(grads[0], reference[0]) && same_bits(grads[1], reference[1]),
              "gradients differ from the ones computed on the main thread");
    }
  });
  CHECK(x.unique());  // every worker's copies and tape entries are gone
}

TEST_CASE("threads: the caching allocator, a block taken on one thread and freed on another") {
  const AllocatorStats before = allocator_stats();
  std::mutex mutex;
  std::vector<Tensor> handed;                    // made by producers, freed by consumers
  std::vector<std::pair<void*, size_t>> blocks;  // allocate()d by producers, deallocate()d by consumers
  std::atomic<int> producers_left{2};
  on_threads(4, [&](int i) {
    if (i < 2) {  // producers
      for (int k = 0; k < 300; ++k) {
        Tensor t = full({1 + (k * 37) % 500}, k);
        size_t block_bytes = 0;
        void* raw = allocate(64 + static_cast<size_t>(k % 7) * 1000, &block_bytes);
        static_cast<unsigned char*>(raw)[0] = 1;
        const std::lock_guard lock(mutex);
        handed.push_back(std::move(t));
        blocks.emplace_back(raw, block_bytes);
      }
      producers_left.fetch_sub(1);
      return;
    }
    while (true) {  // consumers: check each tensor's values, then free it and a block here
      Tensor t;
      std::pair<void*, size_t> block{nullptr, 0};
      {
        const std::lock_guard lock(mutex);
        if (handed.empty() && producers_left.load() == 0) break;
        if (!handed.empty()) {
          t = std::move(handed.back());
          handed.pop_back();
          block = blocks.back();
          blocks.pop_back();
        }
      }
      if (!t.defined()) {
        std::this_thread::yield();
        continue;
      }
      const std::vector<double> values = t.to_vector();
      for (double v : values) require(v == values[0], "a handed-over tensor's values changed");
      require(static_cast<unsigned char*>(block.first)[0] == 1, "a handed-over block's byte changed");
      deallocate(block.first, block.second);
    }
  });
  CHECK(handed.empty());
  const AllocatorStats after = allocator_stats();
  CHECK(after.in_use == before.in_use);  // all freed, whichever thread freed them
}

TEST_CASE("threads: a variable read on many threads while one thread assigns it, the two ordered by a lock") {
  // What variable.hpp allows: reads on any number of threads at once; an assign excludes every other
  // call on the variable (here a shared_mutex). A value once read stays intact while later assigns
  // replace the variable's value: readers work on their values outside the lock.
  Variable v(full({8, 8}, 0), "v");
  std::shared_mutex lock;
  std::atomic<bool> writing{true};
  on_threads(3, [&](int i) {
    if (i == 0) {  // the writer
      for (int k = 1; k <= 200; ++k) {
        const std::unique_lock exclusive(lock);
        v.assign(full({8, 8}, k));
      }
      writing.store(false);
      return;
    }
    int reads = 0;
    while (writing.load() || reads < 20) {
      GradientTape tape;  // watches v as it is read (it is trainable)
      Tensor value, grad;
      {
        const std::shared_lock shared(lock);
        value = v.read();
      }
      const Tensor loss = sum(value * value);
      {
        const std::shared_lock shared(lock);
        grad = tape.gradient(loss, v);
      }
      const std::vector<double> values = value.to_vector(), grads = grad.to_vector();
      for (size_t e = 0; e < values.size(); ++e) {
        require(values[e] == values[0], "a read value holds two assigns' elements");
        require(grads[e] == 2 * values[0], "the gradient is not 2 v for the value read");
      }
      ++reads;
    }
  });
  CHECK(v.value().to_vector() == std::vector<double>(64, 200));
}

TEST_CASE("threads: two threads train models of their own on shared data, as one thread alone does") {
  Generator gen(11);
  const Tensor images = random_normal({16, 10, 10, 1}, gen);
  const Tensor targets = random_normal({16, 4}, gen);
  const Tensor kernel0 = random_normal({3, 3, 1, 4}, gen, 0, 0.3);
  const Tensor dense0 = random_normal({64, 4}, gen, 0, 0.1);
  // conv2d (no padding) -> relu -> max_pool2d -> dense; plain SGD.
  const auto train = [&](int steps) {
    Variable kernel(kernel0, "kernel"), dense(dense0, "dense");
    optim::SGD sgd(0.05);
    double first = 0, last = 0;
    for (int step = 0; step < steps; ++step) {
      GradientTape tape;
      const Tensor features = reshape(max_pool2d(relu(conv2d(images, kernel))), {16, 64});
      const Tensor loss = mse(matmul(features, dense), targets);
      const std::vector<Variable> variables{kernel, dense};
      sgd.apply_gradients(tape.gradient(loss, variables), variables);
      (step == 0 ? first : last) = loss.item();
    }
    return std::vector<double>{first, last, sum(kernel.value()).item(), sum(dense.value()).item()};
  };
  const std::vector<double> alone = train(12);
  REQUIRE(alone[1] < alone[0]);  // it trains

  std::vector<std::vector<double>> results(2);
  on_threads(2, [&](int i) { results[static_cast<size_t>(i)] = train(12); });
  CHECK(results[0] == alone);
  CHECK(results[1] == alone);
}
