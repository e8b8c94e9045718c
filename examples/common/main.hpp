#pragma once

// The examples' main(): read the flags (a bad one prints its message and the usage, exit 2), answer
// --help, then run, printing an error as "<program>: <message>" (exit 1). A training example's
// `--distributed` joins the processes mpirun started first; only rank 0 prints and writes files.

#include "args.hpp"
#include "data_parallel.hpp"
#include "progress.hpp"

#include <cstdio>
#include <exception>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace examples {

/// The options `parse(argc, argv)` reads from the flags; none after a bad flag (its message and the
/// usage printed, `exit_status` 2) or --help (the usage printed, `exit_status` 0).
template <typename Parse>
auto read_flags(std::string_view program, std::string_view usage, int argc, char** argv, Parse parse, int& exit_status)
    -> std::optional<decltype(parse(argc, argv))> {
  try {
    auto options = parse(argc, argv);
    if (!options.help) return options;
    fmt::print("{}", usage);
    exit_status = 0;
  } catch (const UsageError& e) {
    fmt::print(stderr, "{}: {}\n{}", program, e.what(), usage);
    exit_status = 2;
  }
  return std::nullopt;
}

/// main() of an example whose `parse(argc, argv)` returns options with a `help` flag and whose
/// `run(options)` returns the exit status.
template <typename Parse, typename Run>
int example_main(std::string_view program, std::string_view usage, int argc, char** argv, Parse parse, Run run) {
  int exit_status = 0;
  const auto options = read_flags(program, usage, argc, argv, parse, exit_status);
  if (!options) return exit_status;
  try {
    return run(*options);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "{}: {}\n", program, e.what());
    return 1;
  }
}

/// main() of a training example: as example_main, and `run(options, parallel)` trains as one of the
/// processes mpirun started when `options.distributed` (see DataParallel). Ranks other than 0 print
/// nothing and write no CSV, chart or checkpoint (`options.csv`, `.plot`, `.save`, `.progress`); a
/// rank that fails tells the others, which stop too.
template <typename Parse, typename Run>
int training_main(std::string_view program, std::string_view usage, int argc, char** argv, Parse parse, Run run) {
  int exit_status = 0;
  auto options = read_flags(program, usage, argc, argv, parse, exit_status);
  if (!options) return exit_status;
  // Outside the try: a process that fails tells the others before it leaves.
  std::optional<DataParallel> parallel;
  try {
    parallel.emplace(options->distributed);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", program, e.what());
    return 1;
  }
  if (parallel->rank() != 0) {
    options->csv.clear();
    options->plot.clear();
    options->save.clear();
    options->progress = ProgressStyle::none;
    if (std::freopen("/dev/null", "w", stdout) == nullptr) {
      parallel->report_failure("cannot silence this rank's standard output");
      return 1;
    }
  }
  try {
    return run(*options, *parallel);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "{}{}: {}\n", program, parallel->active() ? fmt::format(" (rank {})", parallel->rank()) : "",
               e.what());
    parallel->report_failure(e.what());
    return 1;
  }
}

}  // namespace examples
