// The processes' lifetime: init, finalize, ranks, and failures. A process that stops with an error
// sends the others a notice (report_failure) on a communicator of its own; every wait of a
// collective looks for such notices, so a rank waiting for a failed one throws instead of hanging.
// A process that dies outright sends nothing: mpirun then ends the job and names the rank.

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/distributed/distributed.hpp>

#include "distributed/detail/mpi.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tapegrad::distributed {
namespace {

constexpr int kFailureTag = 1;  // a rank stops: the message is its reason
constexpr int kDoneTag = 2;     // a rank, after a failure, is about to leave
// How long a rank leaving after a failure waits for the others to leave too: they reach a
// collective, hear of the failure and stop within one training step.
constexpr auto kLeaveTimeout = std::chrono::seconds(10);

struct State {
  bool initialized = false;
  bool finalized = false;
  MPI_Comm comm = MPI_COMM_NULL;     // the collectives
  MPI_Comm control = MPI_COMM_NULL;  // failure notices
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::optional<int> failed_rank;  // the first rank another one heard of as failed
  std::string failure;             // its reason
  bool reported = false;           // this rank sent a failure notice
  std::string notice;              // the notice, kept alive while it is sent
  std::vector<MPI_Request> sends;
  CommunicationStats stats;
};

State& state() {
  static State s;
  return s;
}

const State& initialized(std::string_view what) {
  const State& s = state();
  if (!s.initialized) {
    fail("{}: the distributed environment is not initialized; call tapegrad::distributed::init() first "
         "(or make a distributed::Environment)",
         what);
  }
  return s;
}

// Reads a failure notice waiting from another rank, if any.
void receive_notice() {
  State& s = state();
  if (s.failed_rank) return;
  int waiting = 0;
  MPI_Status status;
  if (MPI_Iprobe(MPI_ANY_SOURCE, kFailureTag, s.control, &waiting, &status) != MPI_SUCCESS || !waiting) return;
  int count = 0;
  MPI_Get_count(&status, MPI_CHAR, &count);
  std::string reason(static_cast<size_t>(std::max(count, 0)), '\0');
  MPI_Recv(reason.data(), count, MPI_CHAR, status.MPI_SOURCE, kFailureTag, s.control, MPI_STATUS_IGNORE);
  s.failed_rank = status.MPI_SOURCE;
  s.failure = reason;
}

[[noreturn]] void fail_failed(std::string_view what) {
  const State& s = state();
  fail("{}: rank {} of {} failed: {}", what, *s.failed_rank, s.size, s.failure);
}

// After a failure: tells every other rank that this one leaves, and waits (at most kLeaveTimeout) for
// them to say the same, so that no rank is killed by mpirun before it has printed its error.
void leave_after_failure() {
  State& s = state();
  std::vector<MPI_Request> done(static_cast<size_t>(s.size), MPI_REQUEST_NULL);
  for (int r = 0; r < s.size; ++r) {
    if (r != s.rank) MPI_Isend(nullptr, 0, MPI_CHAR, r, kDoneTag, s.control, &done[static_cast<size_t>(r)]);
  }
  std::vector<bool> left(static_cast<size_t>(s.size), false);
  int waiting_for = s.size - 1;
  const auto deadline = std::chrono::steady_clock::now() + kLeaveTimeout;
  while (waiting_for > 0 && std::chrono::steady_clock::now() < deadline) {
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, kDoneTag, s.control, &flag, &status);
    if (flag) {
      MPI_Recv(nullptr, 0, MPI_CHAR, status.MPI_SOURCE, kDoneTag, s.control, MPI_STATUS_IGNORE);
      if (!left[static_cast<size_t>(status.MPI_SOURCE)]) {
        left[static_cast<size_t>(status.MPI_SOURCE)] = true;
        --waiting_for;
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  // NOTE: no MPI_Finalize: a collective the failure interrupted may still be pending, and
  // MPI_Finalize would wait for it. mpirun sees a process leave without it and ends the job.
}

}  // namespace

namespace detail {

MPI_Comm communicator(std::string_view what) {
  const State& s = initialized(what);
  if (s.failed_rank) {
    fail("{}: the processes are out of step since rank {} of {} failed: {}", what, *s.failed_rank, s.size, s.failure);
  }
  if (s.reported) fail("{}: this process reported a failure and left the others", what);
  return s.comm;
}

void check(int code, std::string_view what) {
  if (code == MPI_SUCCESS) return;
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, message, &length);
  fail("{}: MPI error: {}", what, std::string_view(message, static_cast<size_t>(length)));
}

void wait(MPI_Request& request, std::string_view what) {
  // MPI moves a large message only while both sides call into it, so the wait polls: busy for the
  // first 2 ms (a collective of one step), then yielding the core to any other runnable thread (a
  // slower rank on a shared machine), and after 100 ms (a rank evaluating or saving a checkpoint)
  // in naps of 1 ms, so as not to spin.
  // NOTE: on 2 busy cores, an all-reduce of LeNet's gradients (247 KB) took 9.9 ms with 50 us naps
  // after 1000 polls (each fragment of the message waited for a nap to end) and 5.2 ms with yields
  // there (each yield gave the core away for a time slice).
  const auto start = std::chrono::steady_clock::now();
  for (int polls = 0;; ++polls) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    if (polls % 64 == 0) {
      receive_notice();
      if (state().failed_rank) fail_failed(what);
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    if (waited < std::chrono::milliseconds(2)) continue;
    if (waited < std::chrono::milliseconds(100)) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

CommunicationStats& stats() { return state().stats; }

}  // namespace detail

void init() {
  State& s = state();
  if (s.initialized) fail("distributed::init: already initialized");
  if (s.finalized) fail("distributed::init: MPI was finalized; it cannot start again in this process");
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    // The kernels' OpenMP threads never call MPI: only the thread that called init does.
    int provided = 0;
    detail::check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "distributed::init");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  detail::check(MPI_Comm_dup(MPI_COMM_WORLD, &s.comm), "distributed::init");
  detail::check(MPI_Comm_dup(MPI_COMM_WORLD, &s.control), "distributed::init");
  MPI_Comm_set_errhandler(s.comm, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(s.control, MPI_ERRORS_RETURN);
  MPI_Comm_rank(s.comm, &s.rank);
  MPI_Comm_size(s.comm, &s.size);
  MPI_Comm local = MPI_COMM_NULL;
  detail::check(MPI_Comm_split_type(s.comm, MPI_COMM_TYPE_SHARED, s.rank, MPI_INFO_NULL, &local), "distributed::init");
  MPI_Comm_rank(local, &s.local_rank);
  MPI_Comm_size(local, &s.local_size);
  MPI_Comm_free(&local);
  s.initialized = true;
}

void finalize() {
  State& s = state();
  if (!s.initialized) return;
  if (!s.failed_rank && !s.reported) {
    // The last collective: a rank that failed after the others' last all_reduce is heard of here.
    try {
      MPI_Request request = MPI_REQUEST_NULL;
      detail::check(MPI_Ibarrier(s.comm, &request), "distributed::finalize");
      detail::wait(request, "distributed::finalize");
    } catch (const Error& e) {
      std::fflush(stdout);
      fmt::print(stderr, "tapegrad::distributed: rank {}: {}\n", s.rank, e.what());
    }
  }
  s.initialized = false;
  s.finalized = true;
  if (s.failed_rank || s.reported) {
    leave_after_failure();
    return;
  }
  MPI_Comm_free(&s.comm);
  MPI_Comm_free(&s.control);
  MPI_Finalize();
}

bool is_initialized() { return state().initialized; }

Environment::Environment() : uncaught_at_start_(std::uncaught_exceptions()) { init(); }

Environment::~Environment() {
  if (std::uncaught_exceptions() > uncaught_at_start_) report_failure("an exception ended its run");
  finalize();
}

int rank() { return initialized("distributed::rank").rank; }
int world_size() { return initialized("distributed::world_size").size; }
int local_rank() { return initialized("distributed::local_rank").local_rank; }
int local_size() { return initialized("distributed::local_size").local_size; }

void report_failure(std::string_view reason) noexcept {
  State& s = state();
  // A rank that stops because it heard of another's failure does not report one of its own: the
  // others are to name the rank where the failure began.
  if (!s.initialized || s.reported) return;
  receive_notice();
  if (s.failed_rank) return;
  s.reported = true;
  try {
    s.notice = std::string(reason);
  } catch (...) {
    s.notice.clear();
  }
  s.sends.assign(static_cast<size_t>(s.size), MPI_REQUEST_NULL);
  for (int r = 0; r < s.size; ++r) {
    if (r == s.rank) continue;
    MPI_Isend(s.notice.data(), static_cast<int>(s.notice.size()), MPI_CHAR, r, kFailureTag, s.control,
              &s.sends[static_cast<size_t>(r)]);
  }
}

CommunicationStats communication_stats() { return state().stats; }

void reset_communication_stats() { state().stats = {}; }

}  // namespace tapegrad::distributed
