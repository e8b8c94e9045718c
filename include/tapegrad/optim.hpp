#pragma once

// Everything of tapegrad::optim: the Optimizer base and the optimizers.

#include <tapegrad/optim/adam.hpp>
#include <tapegrad/optim/optimizer.hpp>
#include <tapegrad/optim/sgd.hpp>
