// The pooling ops of autograd/ops/pool.cpp and their gradient ops.

#include "tests/autograd/gradcheck/registry.hpp"

#include <tapegrad/tapegrad.hpp>

#include <array>
#include <string>
#include <vector>

namespace tapegrad::testing {

void add_pool_cases(Registry& r) {
  // Pooling and its gradient ops.
  Generator pool_generator(11);
  struct PoolShape {
    std::string label;
    Shape x;
    Pool2DOptions options;
  };
  const std::vector<PoolShape> pool_shapes{
      {"2x2 windows", {2, 4, 6, 3}, {}},
      {"3x2 windows, stride 2x1, 'same'", {1, 5, 4, 2}, {{3, 2}, {2, 1}, Padding::same()}},
      {"3x3, stride 2, explicit padding 1", {1, 5, 5, 1}, {{3, 3}, 2, Padding::uniform(1)}},
      {"3x3, stride 2, padding 1 but none at the bottom, count_include_pad",
       {1, 5, 6, 2},
       {{3, 3}, 2, Padding::explicit_sides(1, 0, 1, 1), true}},
      {"2x2, stride 1, padding 1, count_include_pad", {2, 3, 4, 1}, {2, 1, 1, true}},
  };
  for (const PoolShape& c : pool_shapes) {
    const Pool2DOptions options = c.options;
    const Shape x_shape = c.x;
    const Tensor fixed_x = random_normal(x_shape, pool_generator, 0, 1, DType::float64);
    const Shape y_shape = avg_pool2d(fixed_x, options).shape();
    r.add("avg_pool2d", c.label, {{x_shape}}, [options](const Inputs& x) { return avg_pool2d(x[0], options); });
    if (!options.count_include_pad) {  // max_pool2d has no count_include_pad
      r.add("max_pool2d", c.label, {{x_shape}}, [options](const Inputs& x) { return max_pool2d(x[0], options); });
      r.add("max_pool2d_backprop", c.label, {{y_shape}},
            [options, fixed_x](const Inputs& x) { return max_pool2d_backprop(x[0], fixed_x, options); });
      r.add("max_pool2d_select", c.label, {{x_shape}},
            [options, fixed_x](const Inputs& x) { return max_pool2d_select(x[0], fixed_x, options); });
    }
    r.add("avg_pool2d_backprop", c.label, {{y_shape}},
          [options, x_shape](const Inputs& x) { return avg_pool2d_backprop(x[0], x_shape, options); });
  }
}

}  // namespace tapegrad::testing
