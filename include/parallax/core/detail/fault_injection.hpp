// Test hook: make a named step fail on this process, to test that one rank's fault ends a call on every
// rank without hanging, and that no finished work is lost. Every place where a fault can be injected is a
// `fault_site`, declared once below (or, for MPI, one per MPI function parallax calls, each checked in
// check_mpi): a typo at a call site does not compile, all_fault_sites() lists them for the fault sweep
// (tests/faults), and arming a name that is not declared is refused.
//
//   plx::detail::arm_fault("MPI_Get");           // the next MPI_Get on this process fails
//   plx::detail::arm_fault("checkpoint.write");  // the next checkpoint append fails with ENOSPC
//
// Kinds of sites:
// - mpi: the MPI call returned MPI_ERR_OTHER. Injected after the real call returned, except for calls that
//   leave an operation in flight (a matched message, a request, an RMA read): those fail before they start
//   (check_mpi_before), so that an injected failure leaves nothing behind that a real one would not.
// - io: a file-system or HDF5 call failed with the site's errno (ENOSPC, EIO, ...), or the one armed.
// - alloc: the allocation of a large buffer threw std::bad_alloc.
// - compute: a step of the science failed (plx::error), as running out of memory inside a library would.
//
// Programs arm one fault from the environment: PLX_FAULT=site[@rank][:count][,after=k][,errno=NAME] (read
// when plx::runtime starts, or at the first fault point of a program without one; `after` skips the first
// k passes, `errno` picks what an io site reports: ENOSPC, EIO, EDQUOT, EFBIG, EINTR or a number).
// PLX_FAULT_COUNT=prefix counts every site's passes on every rank, armed or not, and writes them to
// prefix.<world rank> (one "site passes" line each) when plx::runtime ends: the fault sweep's clean run.
// Costs one relaxed atomic load per fault point while nothing is armed or counted.
#pragma once

#include <cerrno>
#include <span>
#include <string>
#include <string_view>

namespace plx::detail {

/// How an armed site fails.
enum class fault_kind { mpi, io, alloc, compute };

/// One place where a test can make parallax fail.
struct fault_site {
  const char* name;
  fault_kind kind;
  int error_number;  ///< io: the errno an injected failure reports unless PLX_FAULT names another; else 0
  const char* what;  ///< where it is and what a failure there stands for
};

/// The sites that are not MPI calls. Declared here, listed by all_fault_sites().
namespace fault_sites {
inline constexpr fault_site checkpoint_write{"checkpoint.write", fault_kind::io, ENOSPC,
                                             "a write to a durable record log (checkpointed_map, map_to_h5's journal, the farm's journal)"};
inline constexpr fault_site h5map_write{"h5map.write", fault_kind::io, ENOSPC,
                                        "map_to_h5's write of finished rows into its partial file"};
inline constexpr fault_site hdf5_write{"hdf5.write", fault_kind::io, ENOSPC,
                                       "a write parallax makes into an HDF5 file (H5Dwrite, H5Awrite, a slab pwrite)"};
inline constexpr fault_site hdf5_read{"hdf5.read", fault_kind::io, EIO, "a collective HDF5 read (read_distributed)"};
inline constexpr fault_site hdf5_create{"hdf5.create", fault_kind::io, ENOSPC, "H5Fcreate of an output file"};
inline constexpr fault_site hdf5_close{"hdf5.close", fault_kind::io, EIO, "H5Fclose of a written file"};
inline constexpr fault_site hdf5_flush{"hdf5.flush", fault_kind::io, EIO, "H5Fflush of a written file"};
inline constexpr fault_site output_sync{"output.sync", fault_kind::io, ENOSPC,
                                        "the final fsync of an output before its rename (atomic_output::commit)"};
inline constexpr fault_site fs_open{"fs.open", fault_kind::io, ENOSPC, "open() or creat() of a file parallax writes"};
inline constexpr fault_site fs_write{"fs.write", fault_kind::io, ENOSPC, "write() or pwrite() of a file"};
inline constexpr fault_site fs_read{"fs.read", fault_kind::io, EIO, "read() or pread() of a file"};
inline constexpr fault_site fs_sync{"fs.sync", fault_kind::io, EIO, "fsync() or fdatasync() of a file or directory"};
inline constexpr fault_site fs_rename{"fs.rename", fault_kind::io, EIO, "rename() of a finished file to its name"};
inline constexpr fault_site fs_unlink{"fs.unlink", fault_kind::io, EIO, "unlink() of a work file"};
inline constexpr fault_site fs_truncate{"fs.truncate", fault_kind::io, EIO, "ftruncate() of a log or work file"};
inline constexpr fault_site fs_close{"fs.close", fault_kind::io, EIO, "close() of a written file"};
inline constexpr fault_site alloc_buffer{"alloc.buffer", fault_kind::alloc, 0,
                                         "the allocation of a large buffer (a field, a row block, a triangulation)"};
inline constexpr fault_site web_adhesion{"web.adhesion", fault_kind::compute, 0,
                                         "plx::web::adhesion of one time throws, as if out of memory"};
}  // namespace fault_sites

/// Every declared site: those above, then one of kind mpi per MPI function that parallax checks.
[[nodiscard]] std::span<const fault_site> all_fault_sites() noexcept;
/// The declared site called `name`, or nullptr.
[[nodiscard]] const fault_site* find_fault_site(std::string_view name) noexcept;

/// Arms `site`: the `count` passes after the first `after` ones fail; an io site reports `error_number`
/// (0: the site's own). Thread-safe.
void arm_fault(const fault_site& site, int count = 1, int after = 0, int error_number = 0);
/// The same by name. Throws std::invalid_argument when no site is called `name`.
void arm_fault(std::string_view name, int count = 1, int after = 0, int error_number = 0);
/// Disarms every site. Thread-safe.
void disarm_faults();

/// Arms the fault that PLX_FAULT describes and starts counting if PLX_FAULT_COUNT is set; once per process
/// (later calls do nothing). Throws plx::config_error naming the variable when PLX_FAULT is malformed or
/// names no declared site. plx::runtime calls it once MPI knows the rank.
void arm_faults_from_environment();
/// Writes the pass counts to PLX_FAULT_COUNT.<world rank> when counting; "" or the reason it failed.
std::string write_fault_counts() noexcept;

/// True when the caller must fail here (an armed pass of `site`). Thread-safe.
[[nodiscard]] bool fault_point(const fault_site& site) noexcept;
/// For io sites: 0 when the call may go on, else the errno the caller must fail with. Thread-safe.
[[nodiscard]] int injected_errno(const fault_site& site) noexcept;
/// Throws std::bad_alloc at an armed pass of `site` (an alloc site), before a large allocation.
void allocation_point(const fault_site& site);
/// The check_mpi hook: true when the MPI call `call` (an MPI function's name) must report a failure.
[[nodiscard]] bool mpi_fault_point(const char* call) noexcept;
/// The check_mpi_before hook, for calls that leave an operation in flight (MPI_Mprobe, MPI_Improbe,
/// MPI_Irecv, MPI_Isend, MPI_Get, MPI_Ibarrier): they fail before they start, as a real failure would.
[[nodiscard]] bool mpi_fault_before(const char* call) noexcept;
/// Whether `call` starts or completes an operation a peer takes part in (MPI_Isend, MPI_Irecv, MPI_Mprobe,
/// MPI_Improbe, MPI_Get, MPI_Ibarrier): the calls whose faults are injected before the call, and whose
/// failure is a plx::mpi_exchange_error.
[[nodiscard]] bool leaves_operation_in_flight(const char* call) noexcept;

}  // namespace plx::detail
