// Resuming is bit-identical to not stopping: train_small trains 2 epochs in one process; then 1 epoch
// with a checkpoint, and 1 more in a new process that starts from the checkpoint. The two final weight
// files are equal byte for byte (so every weight bit for bit), for SGD with momentum and for Adam.

#include <tapegrad/autograd/safetensors.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// Runs train_small (its path in TAPEGRAD_TRAIN_SMALL) with `args` in a new process; its exit status.
int run_train_small(const std::vector<std::string>& args) {
  const char* program = std::getenv("TAPEGRAD_TRAIN_SMALL");
  REQUIRE_MESSAGE(program != nullptr, "TAPEGRAD_TRAIN_SMALL is not set (meson sets it)");
  std::vector<std::string> all{program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : all) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::execv(program, argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string contents(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void check_resume(const std::string& optimizer) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("tapegrad-test-resume-{}-{}", ::getpid(), optimizer);
  fs::create_directories(dir);
  const std::string straight = (dir / "straight.safetensors").string();
  const std::string checkpoint = (dir / "checkpoint.safetensors").string();
  const std::string resumed = (dir / "resumed.safetensors").string();
  CHECK(run_train_small({"--optimizer", optimizer, "--epochs", "2", "--weights", straight}) == 0);
  CHECK(run_train_small({"--optimizer", optimizer, "--epochs", "1", "--save", checkpoint}) == 0);
  CHECK(run_train_small({"--optimizer", optimizer, "--epochs", "2", "--resume", checkpoint, "--weights", resumed}) ==
        0);
  const std::string a = contents(straight), b = contents(resumed);
  CHECK(a.size() > 100);
  CHECK_MESSAGE(a == b, "the resumed run's weights differ from the uninterrupted run's");
  // The checkpoint holds the weights after epoch 1, under the same names: they differ from the final
  // ones (so the comparison above is not of two unchanged starting points).
  const tapegrad::NamedTensors after_one = tapegrad::Checkpoint::load(checkpoint).get("model");
  const tapegrad::NamedTensors final_weights = tapegrad::load(straight);
  REQUIRE(after_one.size() == final_weights.size());
  for (size_t i = 0; i < after_one.size(); ++i) {
    CHECK(after_one[i].first == final_weights[i].first);
    CHECK(after_one[i].second.to_vector() != final_weights[i].second.to_vector());
  }
  fs::remove_all(dir);
}

}  // namespace

TEST_CASE("resume: SGD with momentum, 1 epoch + checkpoint + 1 epoch in a new process == 2 epochs, bit for bit") {
  check_resume("sgd");
}

TEST_CASE("resume: Adam, 1 epoch + checkpoint + 1 epoch in a new process == 2 epochs, bit for bit") {
  check_resume("adam");
}
