// The bad-input census: a table of what a hostile user could hand each public function, and what
// tapegrad must answer. A row is either an error row (a tapegrad::Error whose message starts with the
// name of the op the user called: "conv2d: ...", never an inner op's or Shape's) or a value row (a
// bad input whose right answer is a value, as a peer library gives it: x[0:5:huge] has 1 element,
// a NaN is never masked). check_census.py (a meson test) fails when a public function has no row.
#pragma once

#include <tapegrad/data.hpp>
#include <tapegrad/nn.hpp>
#include <tapegrad/optim.hpp>
#include <tapegrad/tapegrad.hpp>

#include <functional>
#include <string>
#include <vector>

namespace census {

/// One bad input and what tapegrad must answer.
struct Row {
  std::string api;              ///< the public function it covers, as check_census.py names it
  std::string family;           ///< shapes, dtypes, empty, undefined, overflow, nan, tape, layers, ...
  std::string expect;           ///< error rows: how the message starts; value rows: the answer expected
  std::function<void()> run;    ///< error rows: the call that must throw
  std::function<bool()> holds;  ///< value rows: true when the answer is right
};

/// The census, filled by the rows of each file (static registration).
std::vector<Row>& table();

/// Registers rows; returns true, for `const bool registered = add({...});`.
bool add(std::vector<Row> rows);

/// An error row: `run` must throw tapegrad::Error with a message starting with `expect`.
inline Row row(std::string api, std::string family, std::string expect, std::function<void()> run) {
  return {std::move(api), std::move(family), std::move(expect), std::move(run), {}};
}

/// A value row: `holds` must return true (the answer `expect` describes), and throw nothing.
inline Row value_row(std::string api, std::string family, std::string expect, std::function<bool()> holds) {
  return {std::move(api), std::move(family), std::move(expect), {}, std::move(holds)};
}

/// A public function nothing could be wrong about (an accessor of a valid object, a constant), with
/// the reason; check_census.py counts it as covered.
struct Exemption {
  std::string api;  ///< the public function
  std::string why;  ///< why no input of it can be bad
};
/// An exemption.
inline Exemption exempt(std::string api, std::string why) { return {std::move(api), std::move(why)}; }
/// The exemptions, filled as the rows are.
std::vector<Exemption>& exemptions();
/// Registers exemptions; returns true.
bool add(std::vector<Exemption> list);

/// A path in the test's scratch folder (made on first use, under the build's temporary folder).
std::string scratch(const std::string& name);

}  // namespace census
