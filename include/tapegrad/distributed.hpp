#pragma once

// Everything of tapegrad::distributed (built when MPI is found; link tapegrad-distributed): the
// processes' environment, broadcast, all_reduce, and DistributedOptimizer.

#include <tapegrad/distributed/distributed.hpp>
#include <tapegrad/distributed/optimizer.hpp>
