#pragma once

// tapegrad's data loading: IDX files, Fashion-MNIST, and shuffled minibatches.
#include "data/batches.hpp"
#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"
