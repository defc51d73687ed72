#include <parallax/io/atomic_output.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>
#include <utility>

#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/posix_file.hpp>
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
    int error_number = 0;
    if (plx::detail::posix_file::try_open(candidate, O_WRONLY | O_CREAT | O_EXCL, 0666, error_number).is_open()) {
      return candidate;
    }
    if (error_number != EEXIST) {
      failure = "cannot write in output directory '" + directory + "': " + std::strerror(error_number) + " (for '" +
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
  // A bad output path is bad input, found before any work: every rank exits with the usage code.
  std::string verdict = failure.empty() ? failure : failure + " (checked on rank 0)";
  plx::detail::broadcast_from_root(comm_, verdict);
  if (!verdict.empty()) throw plx::detail::collective(config_error(verdict));
  plx::detail::broadcast_from_root(comm_, temporary_path_);
}

atomic_output::atomic_output(atomic_output&& other) noexcept
    : comm_(std::move(other.comm_)),
      final_path_(std::move(other.final_path_)),
      temporary_path_(std::exchange(other.temporary_path_, std::string())),
      committed_(std::exchange(other.committed_, false)),
      keep_temporary_(std::exchange(other.keep_temporary_, false)) {}

atomic_output::~atomic_output() {
  if (committed_ || keep_temporary_ || temporary_path_.empty() || !comm_.is_root()) return;
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
  std::string failure = detail::sync_on_every_rank(comm_, temporary_path_, final_path_);
  const bool synced_everywhere = failure.empty();
  bool keep = false;
  if (synced_everywhere && comm_.is_root()) {
    // The rename, then the sync of the directory that makes the new name survive a crash.
    try {
      plx::detail::rename_file(temporary_path_, final_path_);
    } catch (const plx::detail::file_error& e) {
      std::error_code ignored;
      keep = fs::exists(temporary_path_, ignored);  // the rename itself failed: the data is still there
      failure = std::string(e.what()) +
                (keep ? "; the data is kept in '" + temporary_path_ + "' (on rank 0)"
                      : "; '" + final_path_ + "' is complete, but its name may not survive a crash (on rank 0)");
    }
  }
  std::string verdict = failure;
  if (synced_everywhere) plx::detail::broadcast_from_root(comm_, verdict);  // the rename's outcome, root's alone
  if (!verdict.empty()) {
    keep_temporary_ = keep;  // root decides; only root removes the file
    throw plx::detail::collective(io_error(verdict));  // the same on every rank
  }
  committed_ = true;
}

}  // namespace plx::io
