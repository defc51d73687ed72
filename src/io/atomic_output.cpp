#include <parallax/io/atomic_output.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <mpi.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/posix_file.hpp>
#include <parallax/core/detail/removal_on_signal.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>
#include <parallax/io/detail/file_sync.hpp>
#include <parallax/io/hdf5_file.hpp>

namespace plx::io {

namespace {

namespace fs = std::filesystem;

constexpr int name_attempts = 16;


std::string directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// The host in a temporary's name ("<final>.tmp.<host>.<pid>-<hex>"): what lets the next run decide that
// its owner has ended (remove_stale_temporaries). Dots and slashes cannot occur in it.
std::string this_host() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  std::string host(name);
  host = host.substr(0, host.find('.'));
  for (char& c : host) {
    if (c == '/') c = '_';
  }
  return host;
}

std::string unique_suffix() {
  std::random_device entropy;
  const auto value = (static_cast<unsigned long long>(entropy()) << 32U) ^ entropy();
  char text[32];
  std::snprintf(text, sizeof text, "%llx", value & 0xffffffffffULL);
  return this_host() + "." + std::to_string(static_cast<long long>(getpid())) + "-" + text;
}

/// Whether process `pid` of this host has ended: it does not exist, or it is a zombie (Linux /proc: state Z or
/// X), which can write nothing more. A killed rank stays a zombie until its parent or init reaps it, which
/// can take seconds after mpirun has returned (the fault sweep's immediate reruns met it: init reaped
/// killed ranks 2-5 s late here), and the next run must not take it for a running writer.
bool process_has_ended(long long pid) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0) return errno == ESRCH;  // EPERM: alive, not ours to judge
  std::FILE* stat = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (stat == nullptr) return false;
  char text[512] = {};
  const std::size_t got = std::fread(text, 1, sizeof text - 1, stat);
  std::fclose(stat);
  // "pid (comm) S ...": the state follows the last ')' (the command name may hold parentheses itself).
  const std::string_view line(text, got);
  const std::size_t close = line.rfind(')');
  if (close == std::string_view::npos || close + 2 >= line.size()) return false;
  const char state = line[close + 2];
  return state == 'Z' || state == 'X';
}

/// On root, before a run creates its temporary: removes the temporaries of `final_path` that earlier runs
/// left behind when they were killed (kill -9, a node failure, SIGKILL after mpirun's SIGTERM).
///
/// Which owner has ended is decided from the name alone, and only where that is safe: the name carries the
/// owner's host and pid, and a temporary is removed only when it was made on this host by a process that no
/// longer exists (kill(pid, 0) fails with ESRCH, or it is a zombie). A temporary of another host is never touched: on a shared
/// file system its owner may be running there right now, and this node cannot see it. (A lock held by the
/// writer, flock, was the other candidate: it is lost on NFS without lockd and node-local on Lustre mounted
/// with localflock, which would make a running job's file look abandoned; and HDF5 takes its own flock on
/// some files.) A reused pid keeps a stale file (it looks alive): a file left, never one lost. The one case
/// this cannot see: containers that share a host name but not a pid namespace, writing the same output in
/// one directory at once (container runtimes give each container its own host name by default).
void remove_stale_temporaries(const std::string& final_path) {
  const fs::path final_file(final_path);
  const std::string prefix = final_file.filename().string() + ".tmp." + this_host() + ".";
  std::error_code error;
  fs::directory_iterator entries(directory_of(final_path), error);
  if (error) return;  // the checks that follow name the problem
  for (const fs::directory_entry& entry : entries) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    // "<pid>-<hex>", nothing else
    const std::string rest = name.substr(prefix.size());
    const std::size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || dash + 1 == rest.size() ||
        rest.find_first_not_of("0123456789") != dash ||
        rest.find_first_not_of("0123456789abcdef", dash + 1) != std::string::npos || dash > 9) {
      continue;
    }
    const long long pid = std::stoll(rest.substr(0, dash));
    if (pid <= 0 || pid == static_cast<long long>(getpid())) continue;
    if (!process_has_ended(pid)) continue;  // alive, or not ours to judge
    if (!entry.is_regular_file(error)) continue;
    std::error_code removed;
    fs::remove(entry.path(), removed);
    if (!removed) {
      std::fprintf(stderr, "parallax: removed '%s', the unfinished output of an earlier run (process %lld on this "
                           "host has ended)\n",
                   entry.path().c_str(), pid);
    }
  }
}

/// Marks a failure of prepare_on_root that is not the user's input (a full disk, EIO): exit code 1, not 2.
constexpr char runtime_failure_mark = '\x01';

/// On root: checks the final path and its directory and creates an empty temporary file there. Returns
/// the temporary path, or sets `failure`.
std::string prepare_on_root(const std::string& final_path, bool overwrite, std::string& failure) {
  const std::string directory = directory_of(final_path);
  std::error_code error;
  const fs::file_status final_status = fs::status(final_path, error);
  if (fs::is_directory(final_status)) {
    failure = "output '" + final_path + "' is a directory";
    return {};
  }
  if (fs::exists(final_status) && !overwrite) {
    failure = "output '" + final_path + "' already exists; use --force to overwrite it";
    return {};
  }
  const fs::file_status directory_status = fs::status(directory, error);
  if (!fs::exists(directory_status)) {
    failure = "output directory '" + directory + "' does not exist (for '" + final_path + "')";
    return {};
  }
  if (!fs::is_directory(directory_status)) {
    failure = "'" + directory + "' is not a directory (for output '" + final_path + "')";
    return {};
  }
  remove_stale_temporaries(final_path);
  // Creating the file is the only reliable writability test (access() ignores ACLs on some file systems
  // and always says yes to root); O_EXCL makes sure the name is ours.
  for (int attempt = 0; attempt < name_attempts; ++attempt) {
    const std::string candidate = final_path + ".tmp." + unique_suffix();
    int error_number = 0;
    if (plx::detail::posix_file::try_open(candidate, O_WRONLY | O_CREAT | O_EXCL, 0666, error_number).is_open()) {
      // SIGINT or SIGTERM from now on removes it (the apps' stop signals), until it is committed.
      plx::detail::register_removal_on_signal(candidate);
      return candidate;
    }
    if (error_number != EEXIST) {
      // A directory the user cannot write in is bad input; a full disk, a quota or an I/O error is not.
      if (!plx::detail::is_bad_path_errno(error_number)) failure = std::string(1, runtime_failure_mark);
      failure += "cannot write in output directory '" + directory + "': " + std::strerror(error_number) + " (for '" +
                final_path + "')";
      return {};
    }
  }
  failure = "could not find a free temporary name beside '" + final_path + "'";
  return {};
}

}  // namespace

std::string detail::sync_on_every_rank(const communicator& comm, const std::string& path, const std::string& final_path) {
  std::string synced = sync_path(path);
  if (synced.empty() && plx::detail::fault_point(plx::detail::fault_sites::output_sync)) synced = std::strerror(ENOSPC);  // tests: one full disk
  if (!synced.empty()) {
    // Some of the data may not have reached the disk (a full disk, a quota): the file is not a result.
    synced = "cannot flush '" + path + "' to disk: " + synced + " (for '" + final_path + "', on rank " +
             std::to_string(comm.rank()) + ")";
  }
  return plx::detail::agree_on_failure(comm, synced);
}

atomic_output::atomic_output(const communicator& comm, std::string final_path, bool overwrite)
    : comm_(comm.dup()), final_path_(std::move(final_path)) {
  std::string failure;
  if (comm_.is_root()) temporary_path_ = prepare_on_root(final_path_, overwrite, failure);
  // Root registered its temporary for removal (on a signal, or before an abort) as it created it.
  try {
    // A bad output path is bad input, found before any work: every rank exits with the usage code (a full
    // disk or an I/O error there: the run-time code).
    std::string verdict = failure.empty() ? failure : failure + " (checked on rank 0)";
    // The verdict and the temporary's name in ONE fixed-size broadcast, not a size and then the contents: a
    // rank whose call fails after it completed has the name, and removes the file before its rank-local
    // ending. (With two calls, the whole fault sweep's cosmo3d x 3 MPI_Bcast@1,after=1 left root's new file
    // behind: rank 1 had no name to remove, and root was SIGKILLed before its own handler ran.)
    std::array<char, 16384> message{};
    if (comm_.is_root()) {
      if (verdict.size() + temporary_path_.size() + 2 > message.size()) {
        plx::detail::unregister_removal_on_signal(temporary_path_);
        static_cast<void>(plx::detail::unlink_quietly(temporary_path_));
        temporary_path_.clear();
        verdict = "output path '" + final_path_ + "' is too long";
      }
      std::copy(verdict.begin(), verdict.end(), message.begin());
      std::copy(temporary_path_.begin(), temporary_path_.end(), message.begin() + verdict.size() + 1);
    }
    const int code = MPI_Bcast(message.data(), static_cast<int>(message.size()), MPI_CHAR, 0, comm_.native());
    message.back() = '\0';
    verdict = message.data();
    temporary_path_ = message.data() + verdict.size() + 1;  // before the check: a failure reported after the call
    plx::detail::check_mpi(code, "MPI_Bcast");
    if (!verdict.empty() && verdict.front() == runtime_failure_mark) {
      throw plx::detail::collective(io_error(verdict.substr(1)));
    }
    if (!verdict.empty()) throw plx::detail::collective(config_error(verdict));
  } catch (...) {
    // A failed broadcast (MPI): no destructor runs for an object whose constructor threw.
    if (comm_.is_root() && !temporary_path_.empty()) {
      plx::detail::unregister_removal_on_signal(temporary_path_);
      static_cast<void>(plx::detail::unlink_quietly(temporary_path_));
    } else if (!comm_.is_root() && temporary_path_.starts_with(final_path_ + ".tmp.")) {
      plx::detail::register_removal_on_signal(temporary_path_);  // the name arrived before the failure was reported: this rank may abort
    }
    throw;
  }
  // Every rank knows the name, so whichever rank ends the job with MPI_Abort removes the file first
  // (remove_unfinished_outputs), on the file system every rank sees (as the parallel writes need).
  if (!comm_.is_root()) plx::detail::register_removal_on_signal(temporary_path_);
}

atomic_output::atomic_output(atomic_output&& other) noexcept
    : comm_(std::move(other.comm_)),
      final_path_(std::move(other.final_path_)),
      temporary_path_(std::exchange(other.temporary_path_, std::string())),
      committed_(std::exchange(other.committed_, false)) {}

atomic_output::~atomic_output() {
  // Root removes the file below. Another rank keeps it registered for remove_unfinished_outputs until
  // commit() (see there): unwinding here on its own (an MPI failure), it may go on to abort the job before
  // root's destructor ever runs.
  if (temporary_path_.empty() || !comm_.is_root()) return;
  plx::detail::unregister_removal_on_signal(temporary_path_);
  if (committed_) return;
  if (const int error_number = plx::detail::unlink_quietly(temporary_path_); error_number != 0) {
    std::fprintf(stderr, "parallax: warning: could not remove the unfinished output '%s': %s\n",
                 temporary_path_.c_str(), std::strerror(error_number));
  }
}

void atomic_output::commit() {
  if (committed_) throw io_error("output '" + final_path_ + "' was already committed");
  if (temporary_path_.empty()) throw io_error("commit() on an atomic_output that was moved from");
  // Data first, then the name: after a crash the final name never points at a partly written file. Every
  // rank syncs, and root renames only once all have (the agreement is also the barrier that orders every
  // rank's writes before the rename): ranks write their own slabs (slab_io.cpp), and on a parallel file
  // system each node's client holds its ranks' dirty pages, which root's fsync would not reach. On one node
  // the first fsync does the work and the others find little left.
  // From here root alone decides the file's fate (the rename, or its destructor's or signal handler's
  // removal). Another rank that ends the job on its own now (a rank-local MPI failure, even in the agreement
  // just below, which root may have passed) must not remove it under root's rename: root would report a
  // rename of a file that vanished, and lose a finished output.
  if (!comm_.is_root()) plx::detail::unregister_removal_on_signal(temporary_path_);
  std::string failure = detail::sync_on_every_rank(comm_, temporary_path_, final_path_);
  const bool synced_everywhere = failure.empty();
  if (synced_everywhere && comm_.is_root()) {
    // The rename, then the sync of the directory that makes the new name survive a crash.
    try {
      plx::detail::rename_file(temporary_path_, final_path_);
      // A signal from here on has no unfinished file to remove: committed.
      plx::detail::unregister_removal_on_signal(temporary_path_);
    } catch (const plx::detail::file_error& e) {
      // The rename itself failed: the run has no output, and its temporary goes as any unfinished one does
      // (the destructor). Only the directory's sync after it failed (rename_file's second step, whose
      // message is "cannot sync directory ..."): the output is complete, under its name.
      const bool renamed = std::string_view(e.what()).starts_with("cannot sync directory");
      failure = std::string(e.what()) +
                (renamed ? "; '" + final_path_ + "' is complete, but its name may not survive a crash (on rank 0)"
                         : "; no output is written: run again (on rank 0)");
    }
  }
  std::string verdict = failure;
  if (synced_everywhere) plx::detail::broadcast_from_root(comm_, verdict);  // the rename's outcome, root's alone
  if (!verdict.empty()) {
    // Root's destructor removes the temporary (a failed rename) and unregisters it.
    throw plx::detail::collective(io_error(verdict));  // the same on every rank
  }
  committed_ = true;
  plx::detail::unregister_removal_on_signal(temporary_path_);
}

bool is_unfinished_output(const std::string& path) noexcept {
  return plx::detail::is_registered_for_removal(path);
}

void remove_unfinished_outputs() noexcept { static_cast<void>(plx::detail::remove_registered_files()); }

}  // namespace plx::io
