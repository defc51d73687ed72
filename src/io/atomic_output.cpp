#include <parallax/io/atomic_output.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <system_error>
#include <utility>
#include <vector>

#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>
#include <parallax/io/detail/file_sync.hpp>
#include <parallax/io/hdf5_file.hpp>

namespace plx::io {

namespace {

namespace fs = std::filesystem;

constexpr int name_attempts = 16;

// The temporary files of this process's unfinished outputs (remove_unfinished_outputs).
std::mutex unfinished_mutex;
std::vector<std::string> unfinished;

void add_unfinished(const std::string& path) {
  const std::lock_guard lock(unfinished_mutex);
  unfinished.push_back(path);
}

void forget_unfinished(const std::string& path) noexcept {
  const std::lock_guard lock(unfinished_mutex);
  std::erase(unfinished, path);
}

std::string directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

std::string unique_suffix() {
  std::random_device entropy;
  const auto value = (static_cast<unsigned long long>(entropy()) << 32U) ^ entropy();
  char text[32];
  std::snprintf(text, sizeof text, "%llx", value & 0xffffffffffULL);
  return std::to_string(static_cast<long long>(getpid())) + "-" + text;
}

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
  // Creating the file is the only reliable writability test (access() ignores ACLs on some file systems
  // and always says yes to root); O_EXCL makes sure the name is ours.
  for (int attempt = 0; attempt < name_attempts; ++attempt) {
    const std::string candidate = final_path + ".tmp." + unique_suffix();
    const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      ::close(fd);
      return candidate;
    }
    if (errno != EEXIST) {
      failure = "cannot write in output directory '" + directory + "': " + std::strerror(errno) + " (for '" +
                final_path + "')";
      return {};
    }
  }
  failure = "could not find a free temporary name beside '" + final_path + "'";
  return {};
}

}  // namespace

atomic_output::atomic_output(const communicator& comm, std::string final_path, bool overwrite)
    : comm_(comm.dup()), final_path_(std::move(final_path)) {
  std::string failure;
  if (comm_.is_root()) temporary_path_ = prepare_on_root(final_path_, overwrite, failure);
  if (!temporary_path_.empty()) add_unfinished(temporary_path_);
  try {
    // A bad output path is bad input, found before any work: every rank exits with the usage code.
    std::string verdict = failure.empty() ? failure : failure + " (checked on rank 0)";
    plx::detail::broadcast_from_root(comm_, verdict);
    if (!verdict.empty()) throw plx::detail::collective(config_error(verdict));
    plx::detail::broadcast_from_root(comm_, temporary_path_);
  } catch (...) {
    // A failed broadcast (MPI): no destructor runs for an object whose constructor threw.
    if (comm_.is_root() && !temporary_path_.empty()) {
      forget_unfinished(temporary_path_);
      ::unlink(temporary_path_.c_str());
    } else if (!comm_.is_root() && temporary_path_.starts_with(final_path_ + ".tmp.")) {
      add_unfinished(temporary_path_);  // the name arrived before the failure was reported: this rank may abort
    }
    throw;
  }
  if (!comm_.is_root()) add_unfinished(temporary_path_);
}

atomic_output::atomic_output(atomic_output&& other) noexcept
    : comm_(std::move(other.comm_)),
      final_path_(std::move(other.final_path_)),
      temporary_path_(std::exchange(other.temporary_path_, std::string())),
      committed_(std::exchange(other.committed_, false)),
      keep_temporary_(std::exchange(other.keep_temporary_, false)) {}

atomic_output::~atomic_output() {
  // Root removes the file below. Another rank keeps the name for remove_unfinished_outputs: unwinding here
  // on its own (an MPI failure), it may go on to abort the job before root's destructor ever runs.
  if (!temporary_path_.empty() && comm_.is_root()) forget_unfinished(temporary_path_);
  if (committed_ || keep_temporary_ || temporary_path_.empty() || !comm_.is_root()) return;
  std::error_code error;
  fs::remove(temporary_path_, error);
  if (error) {
    std::fprintf(stderr, "parallax: warning: could not remove the unfinished output '%s': %s\n",
                 temporary_path_.c_str(), error.message().c_str());
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
  std::string synced = detail::sync_path(temporary_path_);
  if (synced.empty() && plx::detail::fault_point(plx::detail::fault_sites::output_sync)) synced = std::strerror(ENOSPC);  // tests: one full disk
  if (!synced.empty()) {
    // Some of the data may not have reached the disk (a full disk, a quota): the file is not a result.
    synced = "cannot flush '" + temporary_path_ + "' to disk: " + synced + " (for '" + final_path_ + "', on rank " +
             std::to_string(comm_.rank()) + ")";
  }
  std::string failure = plx::detail::agree_on_failure(comm_, synced);
  const bool synced_everywhere = failure.empty();
  bool keep = false;
  if (synced_everywhere && comm_.is_root()) {
    std::error_code error;
    fs::rename(temporary_path_, final_path_, error);
    if (error) {
      failure = "cannot rename '" + temporary_path_ + "' to '" + final_path_ + "': " + error.message() +
                "; the data is kept in '" + temporary_path_ + "' (on rank 0)";
      keep = true;
    } else {
      // Best effort: some file systems cannot sync a directory, and the rename already happened.
      detail::sync_directory_of(final_path_);
    }
  }
  std::string verdict = failure;
  if (synced_everywhere) plx::detail::broadcast_from_root(comm_, verdict);  // the rename's outcome, root's alone
  if (!verdict.empty()) {
    // Synced everywhere, the failure is root's rename: the complete file is kept on purpose, even by an abort.
    if (synced_everywhere) forget_unfinished(temporary_path_);
    keep_temporary_ = keep;  // root decides; only root removes the file
    throw plx::detail::collective(io_error(verdict));  // the same on every rank
  }
  committed_ = true;
  forget_unfinished(temporary_path_);
}

bool is_unfinished_output(const std::string& path) noexcept {
  const std::lock_guard lock(unfinished_mutex);
  return std::find(unfinished.begin(), unfinished.end(), path) != unfinished.end();
}

void remove_unfinished_outputs() noexcept {
  const std::lock_guard lock(unfinished_mutex);
  for (const std::string& path : unfinished) ::unlink(path.c_str());  // gone already (another rank): fine
  unfinished.clear();
}

}  // namespace plx::io
