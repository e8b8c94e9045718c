#pragma once

// Everything of tapegrad::nn: the Module base, initializers, layers, Sequential.

#include "nn/conv2d.hpp"
#include "nn/dense.hpp"
#include "nn/initializers.hpp"
#include "nn/layers.hpp"
#include "nn/module.hpp"
#include "nn/sequential.hpp"
