#pragma once

// What the collectives share with the environment (internal): the communicator, MPI's return codes
// as Errors, and a wait that hears of other ranks' failures.

#include <tapegrad/distributed/distributed.hpp>

// MPI's C API only: Open MPI's and MPICH's deprecated C++ bindings, which mpi.h pulls in under C++
// unless told not to, do not compile warning-clean.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <string_view>

namespace tapegrad::distributed::detail {

/// The communicator of the collectives (MPI_COMM_WORLD's duplicate); an Error naming `what` when
/// init was not called or a failure left the processes out of step.
MPI_Comm communicator(std::string_view what);

/// Throws an Error naming `what` and MPI's message when `code` is not MPI_SUCCESS.
void check(int code, std::string_view what);

/// Waits for `request` to complete; meanwhile, a failure notice from another rank (report_failure)
/// is an Error naming `what` and that rank, and the processes are out of step from then on.
void wait(MPI_Request& request, std::string_view what);

/// The statistics, for the collectives to add to.
CommunicationStats& stats();

}  // namespace tapegrad::distributed::detail
