#pragma once

// Everything of tapegrad::optim: the Optimizer base and the optimizers.

#include "optim/adam.hpp"
#include "optim/optimizer.hpp"
#include "optim/sgd.hpp"
