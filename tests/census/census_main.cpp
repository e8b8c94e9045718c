// Runs every row of the census and checks README's count of them.

#include "census.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace census {

std::vector<Row>& table() {
  static std::vector<Row> rows;
  return rows;
}

bool add(std::vector<Row> rows) {
  for (Row& r : rows) table().push_back(std::move(r));
  return true;
}

std::vector<Exemption>& exemptions() {
  static std::vector<Exemption> list;
  return list;
}

bool add(std::vector<Exemption> list) {
  for (Exemption& e : list) exemptions().push_back(std::move(e));
  return true;
}

std::string scratch(const std::string& name) {
  static const std::filesystem::path folder = [] {
    std::filesystem::path p =
        std::filesystem::temp_directory_path() / ("tapegrad-census-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    return p;
  }();
  return (folder / name).string();
}

namespace {
// "" when the row holds, else what went wrong.
std::string outcome(const Row& r) {
  try {
    if (r.holds) return r.holds() ? "" : "the answer differs from: " + r.expect;
    r.run();
    return "no error was thrown; expected \"" + r.expect + "...\"";
  } catch (const tapegrad::Error& e) {
    if (r.holds) return std::string("threw tapegrad::Error: ") + e.what();
    const std::string message = e.what();
    if (message.rfind(r.expect, 0) != 0) return "message \"" + message + "\" does not start with \"" + r.expect + "\"";
    return "";
  } catch (const std::exception& e) {
    return std::string("threw a std::exception that is not tapegrad::Error: ") + e.what();
  }
}
}  // namespace

TEST_CASE("census: every bad input gets its answer") {
  std::map<std::string, int> families;
  int failed = 0;
  for (const Row& r : table()) {
    const std::string wrong = outcome(r);
    ++families[r.family];
    if (!wrong.empty()) {
      ++failed;
      FAIL_CHECK(r.api << " [" << r.family << "]: " << wrong);
    }
  }
  std::ostringstream summary;
  for (const auto& [family, count] : families) summary << ' ' << family << '=' << count;
  MESSAGE("census: " << table().size() << " rows, " << failed << " failing;" << summary.str() << "; "
                     << exemptions().size() << " functions exempt");
  CHECK(table().size() >= 200);
  for (const Exemption& e : exemptions()) {
    INFO(e.api);
    CHECK(e.why.size() >= 8);  // a reason ("no input" at least), not a shrug
  }
}

TEST_CASE("census: README states the count") {
  std::ifstream readme(TAPEGRAD_README);
  REQUIRE(readme.good());
  std::stringstream text;
  text << readme.rdbuf();
  const std::string stated = "census of " + std::to_string(table().size()) + " bad inputs";
  INFO("README.md should say \"" << stated << "\"");
  CHECK(text.str().find(stated) != std::string::npos);
}

}  // namespace census
