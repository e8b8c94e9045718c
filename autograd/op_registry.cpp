#include "autograd/op_registry.hpp"

#include "autograd/ops.hpp"

namespace tapegrad {

namespace {
std::vector<std::string>& registry() {
  static std::vector<std::string> names;
  return names;
}
}  // namespace

const char* detail::register_op(const char* name) {
  registry().emplace_back(name);
  return name;
}

const std::vector<std::string>& differentiable_ops() { return registry(); }

}  // namespace tapegrad
