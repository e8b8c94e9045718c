// num_threads EXPECTED [--set N]: checks that tapegrad::num_threads() is EXPECTED under the
// environment meson's test gives it (TAPEGRAD_NUM_THREADS, OMP_NUM_THREADS), after
// set_num_threads(N) when --set is given. Exits 1 with a message otherwise.

#include <tapegrad/tapegrad.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--set") == 0)) {
    std::fprintf(stderr, "usage: num_threads EXPECTED [--set N]\n");
    return 2;
  }
  const int expected = std::atoi(argv[1]);
  if (argc == 4) tapegrad::set_num_threads(std::atoi(argv[3]));
  const int n = tapegrad::num_threads();
  const char* tapegrad_env = std::getenv("TAPEGRAD_NUM_THREADS");
  const char* omp_env = std::getenv("OMP_NUM_THREADS");
  std::printf("TAPEGRAD_NUM_THREADS=%s OMP_NUM_THREADS=%s%s%s: num_threads() = %d\n",
              tapegrad_env ? tapegrad_env : "(unset)", omp_env ? omp_env : "(unset)",
              argc == 4 ? " set_num_threads " : "", argc == 4 ? argv[3] : "", n);
  if (n != expected) {
    std::fprintf(stderr, "num_threads: expected %d threads, got %d\n", expected, n);
    return 1;
  }
  return 0;
}
