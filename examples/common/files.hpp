#pragma once

// Writing the files the examples produce (charts, histories).

#include <fmt/format.h>

#include <fstream>
#include <ios>
#include <stdexcept>
#include <string>

namespace examples {

/// Writes `text` to `path`, replacing the file; a std::runtime_error naming the file when it cannot.
inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error(fmt::format("cannot write {}", path));
}

}  // namespace examples
