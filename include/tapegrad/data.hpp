#pragma once

// tapegrad's data: in-memory data sets read in shuffled minibatches, IDX files, Fashion-MNIST.
#include <tapegrad/data/dataset.hpp>
#include <tapegrad/data/fashion_mnist.hpp>
#include <tapegrad/data/idx.hpp>
