#pragma once

// Everything of tapegrad::optim: the Optimizer base, the optimizers and the learning-rate schedules.

#include <tapegrad/optim/adam.hpp>
#include <tapegrad/optim/optimizer.hpp>
#include <tapegrad/optim/schedules.hpp>
#include <tapegrad/optim/sgd.hpp>
