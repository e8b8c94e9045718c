#pragma once

// Everything of tapegrad::nn: the Module base, initializers, layers, Sequential, metrics.

#include <tapegrad/nn/conv2d.hpp>
#include <tapegrad/nn/dense.hpp>
#include <tapegrad/nn/global_pooling.hpp>
#include <tapegrad/nn/initializers.hpp>
#include <tapegrad/nn/layers.hpp>
#include <tapegrad/nn/merging.hpp>
#include <tapegrad/nn/metrics.hpp>
#include <tapegrad/nn/module.hpp>
#include <tapegrad/nn/normalization.hpp>
#include <tapegrad/nn/regularization.hpp>
#include <tapegrad/nn/sequential.hpp>
