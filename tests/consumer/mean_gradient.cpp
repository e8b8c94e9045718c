// A program outside tapegrad that links tapegrad-distributed (MPI), built when tapegrad was built with
// it: as one process (no mpirun), all_reduce's mean of a tensor is the tensor, and DistributedOptimizer
// is an SGD. Exits 1 with a message when one is wrong.

#include <tapegrad/distributed.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <cstdio>

using namespace tapegrad;

int main() {
  const distributed::Environment environment;
  const Tensor gradient({1.5, -2.0, 0.25}, {3});
  const Tensor mean = distributed::all_reduce({gradient})[0];
  if (distributed::world_size() != 1 || mean.to_vector() != gradient.to_vector()) {
    std::fprintf(stderr, "mean_gradient: %d processes, mean [%g, %g, %g]\n", distributed::world_size(), mean.flat(0),
                 mean.flat(1), mean.flat(2));
    return 1;
  }
  Variable w(Tensor({1.0, 1.0, 1.0}, {3}), "w");
  distributed::DistributedOptimizer<optim::SGD> optimizer(0.5);
  optimizer.apply_gradients({gradient}, {w});
  if (w.value().to_vector() != std::vector<double>{0.25, 2.0, 0.875}) {
    std::fprintf(stderr, "mean_gradient: w = [%g, %g, %g] after one step\n", w.value().flat(0), w.value().flat(1),
                 w.value().flat(2));
    return 1;
  }
  std::printf("mean_gradient: rank %d of %d, all_reduce and DistributedOptimizer work\n", distributed::rank(),
              distributed::world_size());
  return 0;
}
