#pragma once

#include <tapegrad/distributed/distributed.hpp>
#include <tapegrad/optim/optimizer.hpp>

#include <concepts>
#include <utility>

namespace tapegrad::distributed {

/// An aggregator for `optim::Optimizer::set_gradient_aggregator` that all-reduces the gradients
/// (their mean by default, as Horovod's DistributedOptimizer), so that every process applies the
/// same update. On its first call it also checks that every process has the same variables.
optim::Optimizer::GradientAggregator gradient_aggregator(AllReduceOptions options = {});

/// `Base` (optim::SGD, optim::Adam, ...) whose `apply_gradients` first averages the gradients
/// across the processes: a training loop changes in two lines,
///   distributed::Environment environment;                         // 1: join the processes
///   distributed::DistributedOptimizer<optim::SGD> optimizer(0.1);  // 2: was optim::SGD optimizer(0.1);
/// and each process feeds its shard of every batch. It is a `Base`: its state() and load_state()
/// are Base's, so its checkpoints and a single process's are interchangeable.
template <std::derived_from<optim::Optimizer> Base>
class DistributedOptimizer : public Base {
 public:
  /// A `Base` made from `args`, with the all-reducing aggregator.
  template <typename... Args>
  explicit DistributedOptimizer(Args&&... args) : Base(std::forward<Args>(args)...) {
    this->set_gradient_aggregator(gradient_aggregator());
  }
};

}  // namespace tapegrad::distributed
