#pragma once

// tapegrad's data loading: IDX files, Fashion-MNIST, and shuffled minibatches.
#include <tapegrad/data/batches.hpp>
#include <tapegrad/data/fashion_mnist.hpp>
#include <tapegrad/data/idx.hpp>
