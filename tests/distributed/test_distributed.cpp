// tapegrad::distributed in one process (MPI's singleton start, no mpirun): its errors before init,
// on bad options and after finalize, and that on 1 process all_reduce and broadcast change nothing.
// Several processes: train_together.cpp, under mpirun (run_mpi.py).

#include <tapegrad/distributed.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace tapegrad;

TEST_CASE("distributed: before init, every call is an Error that says to call init") {
  CHECK_FALSE(distributed::is_initialized());
  CHECK_THROWS_WITH_AS(distributed::rank(),
                       doctest::Contains("distributed::rank: the distributed environment is not initialized; call "
                                         "tapegrad::distributed::init() first"),
                       Error);
  CHECK_THROWS_WITH_AS(distributed::world_size(), doctest::Contains("not initialized"), Error);
  CHECK_THROWS_WITH_AS(distributed::all_reduce({ones({2})}), doctest::Contains("all_reduce: the distributed"), Error);
  CHECK_THROWS_WITH_AS(distributed::broadcast({Variable(ones({2}))}), doctest::Contains("broadcast: the distributed"),
                       Error);
  distributed::finalize();  // nothing to do
}

TEST_CASE("distributed: 1 process, then finalize") {
  {
    const distributed::Environment environment;
    CHECK(distributed::is_initialized());
    CHECK(distributed::rank() == 0);
    CHECK(distributed::world_size() == 1);
    CHECK(distributed::local_rank() == 0);
    CHECK(distributed::local_size() == 1);
    CHECK_THROWS_WITH_AS(distributed::init(), doctest::Contains("distributed::init: already initialized"), Error);

    const Tensor a({1.5, -2, 0.25}, {3}), b({7, 8}, {2}, DType::float64), n({3, 4}, {2}, DType::int64);
    const std::vector<Tensor> mean = distributed::all_reduce({a, Tensor{}, b});
    CHECK(mean[0].to_vector() == a.to_vector());
    CHECK_FALSE(mean[1].defined());
    CHECK(mean[2].dtype() == DType::float64);
    CHECK(mean[2].to_vector() == b.to_vector());
    CHECK(distributed::all_reduce({n}, {.op = distributed::ReduceOp::sum})[0].to_vector() == n.to_vector());
    CHECK_THROWS_WITH_AS(distributed::all_reduce({n}),
                         doctest::Contains("all_reduce: the mean of int64 tensors; use ReduceOp::sum"), Error);
    CHECK_THROWS_WITH_AS(distributed::all_reduce({a}, {.bucket_bytes = 4}),
                         doctest::Contains("all_reduce: bucket_bytes must be in [8, 2^30], got 4"), Error);
    const distributed::CommunicationStats stats = distributed::communication_stats();
    CHECK(stats.all_reduce_calls == 2);
    CHECK(stats.messages > 0);
    distributed::reset_communication_stats();
    CHECK(distributed::communication_stats().all_reduce_calls == 0);

    Variable w(Tensor({1, 2}, {2}), "w");
    distributed::broadcast({w});
    CHECK(w.value().to_vector() == std::vector<double>{1, 2});
    CHECK_THROWS_WITH_AS(distributed::broadcast({w}, 1),
                         doctest::Contains("broadcast: root 1 is not a rank of the 1 processes"), Error);
    CHECK_THROWS_WITH_AS(distributed::broadcast({Variable()}),
                         doctest::Contains("broadcast: variable 0 is an empty handle"), Error);

    // On 1 process the DistributedOptimizer is its optimizer: the same update, bit for bit.
    distributed::DistributedOptimizer<optim::SGD> optimizer(0.5, optim::SGDOptions{.momentum = 0.9});
    optim::SGD plain(0.5, optim::SGDOptions{.momentum = 0.9});
    Variable u(Tensor({1, 2}, {2}), "u");
    const Tensor g({0.3, -0.7}, {2});
    for (int step = 0; step < 3; ++step) {
      optimizer.apply_gradients({g}, {w});
      plain.apply_gradients({g}, {u});
    }
    CHECK(optimizer.has_gradient_aggregator());
    CHECK(w.value().to_vector() == u.value().to_vector());
    CHECK(optimizer.state().size() == plain.state().size());
  }
  CHECK_FALSE(distributed::is_initialized());
  CHECK_THROWS_WITH_AS(distributed::init(), doctest::Contains("MPI was finalized; it cannot start again"), Error);
}
