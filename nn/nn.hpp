#pragma once

// Everything of tapegrad::nn: the Module base, initializers, layers.

#include "nn/conv2d.hpp"
#include "nn/initializers.hpp"
#include "nn/module.hpp"
