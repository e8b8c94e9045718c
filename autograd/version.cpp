#include <tapegrad/version.hpp>

namespace tapegrad {

const char* version() { return TAPEGRAD_VERSION; }

}  // namespace tapegrad
