#pragma once

#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/autograd/variable.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

// Data-parallel training over MPI: every process (started by `mpirun -np N`) holds a copy of the
// model, works on its own shard of each global batch, and the processes average their gradients
// before each update, so that the copies stay equal, bit for bit.
namespace tapegrad::distributed {

/// Joins the processes `mpirun` started (MPI_Init_thread, from mpirun's environment; a program
/// started without mpirun is rank 0 of 1). Called once per process, before anything below.
void init();
/// Leaves MPI (MPI_Finalize) after the processes' last collective. After a failure (`report_failure`,
/// or an Error naming a failed rank) it waits a few seconds for the others to reach theirs too, then
/// leaves without MPI_Finalize: mpirun then ends the job with a non-zero exit status.
void finalize();
/// Whether `init` was called and `finalize` not yet.
bool is_initialized();

/// `init` for its lifetime, `finalize` at its end; when its end comes from an exception, the
/// others hear of the failure first (`report_failure`). The usual first line of a main().
class Environment {
 public:
  /// Calls `init`.
  Environment();
  /// Calls `finalize`, after `report_failure` when an exception is unwinding the stack.
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  int uncaught_at_start_;
};

/// This process's number, 0 .. world_size() - 1; rank 0 is the one that prints and saves.
int rank();
/// The number of processes.
int world_size();
/// This process's number among those on its machine (for threads: cores / local_size() each).
int local_rank();
/// The number of processes on this machine.
int local_size();

/// Tells the other processes that this one stops, with `reason`: those waiting in (or reaching)
/// a collective throw an Error that names this rank and the reason, instead of waiting forever.
/// Call it before leaving with an error; Environment does it when an exception unwinds it.
void report_failure(std::string_view reason) noexcept;

/// Checks that every process has the same variables (names, shapes, dtypes, in order): an Error
/// on every rank otherwise, naming the first rank and variable that differ. `what` names the caller
/// in the message.
void check_variables(const std::vector<Variable>& variables, std::string_view what = "check_variables");

/// Gives every process the values of `variables` on `root`, after check_variables: the copies
/// start equal. Few messages: the values travel in flat buckets per dtype.
void broadcast(const std::vector<Variable>& variables, int root = 0);

/// How all_reduce combines the processes' tensors.
enum class ReduceOp {
  sum,   ///< t_0 + t_1 + ... + t_{N-1}, in rank order
  mean,  ///< the sum, divided by N (float dtypes only)
};

/// Options of `all_reduce`.
struct AllReduceOptions {
  ReduceOp op = ReduceOp::mean;              ///< sum or mean
  int64_t bucket_bytes = int64_t{32} << 20;  ///< the tensors travel fused into flat buffers of at most this size
};

/// The element-wise sum or mean of each tensor across the processes, the same bits on every process
/// and from run to run: rank 0 gathers the tensors and adds them in rank order, then sends the
/// result to all. The tensors (float32, float64 or int64) travel fused, one flat buffer per dtype
/// and bucket. Every process gives the same list (shapes, dtypes, which are undefined: those stay
/// undefined), else an Error on every rank names the rank that differs.
std::vector<Tensor> all_reduce(const std::vector<Tensor>& tensors, const AllReduceOptions& options = {});

/// Time and traffic of this process's collectives since `init` (or `reset_communication_stats`).
struct CommunicationStats {
  int64_t all_reduce_calls = 0;   ///< all_reduce calls
  double all_reduce_seconds = 0;  ///< wall time inside them, waiting for the others included
  int64_t bytes = 0;              ///< payload bytes this process sent in all collectives
  int64_t messages = 0;           ///< collective operations started (gathers, broadcasts)
};
/// The statistics so far.
CommunicationStats communication_stats();
/// Starts the statistics anew.
void reset_communication_stats();

}  // namespace tapegrad::distributed
