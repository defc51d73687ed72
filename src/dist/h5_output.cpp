#include <parallax/dist/map_to_h5.hpp>

#include <omp.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/crc32.hpp>
#include <parallax/dist/detail/h5_dimensions.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/version.hpp>

namespace plx {

namespace {

/// The command line of this process, as the kernel has it (every rank runs the same program).
std::string own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  for (char& c : raw) {
    if (c == '\0') c = ' ';
  }
  return raw;
}

std::string schedule_text(const schedule& s) {
  const char* kind = s.kind == schedule_kind::dynamic ? "dynamic" : "static";
  return s.is_auto() ? fmt::format("{} auto", kind) : fmt::format("{} {}", kind, s.chunk);
}

detail::h5_provenance provenance_of(const communicator& comm, const map_options& options) {
  detail::h5_provenance provenance;
  provenance.label = options.label;
  provenance.schedule = schedule_text(options.schedule);
  provenance.command_line = own_command_line();
  provenance.version = fmt::format("{} ({})", version_string, git_hash);
  provenance.ranks = comm.size();
  provenance.threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  return provenance;
}

/// Root's preflight of where the output goes (before the lock, which is made there).
void check_output_directory(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) throw config_error("map_to_h5: the output path is empty");
  std::error_code error;
  if (fs::is_directory(path, error)) throw config_error(fmt::format("output '{}' is a directory", path));
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, error)) {
    throw config_error(fmt::format("cannot write '{}': the directory '{}' does not exist", path, dir.string()));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw config_error(fmt::format("cannot write '{}': the directory '{}' is not writable", path, dir.string()));
  }
}

/// Root's preflight of the output and its work files, under their lock.
void check_output_path(const detail::h5_output_paths& paths, const h5_output_options& options) {
  namespace fs = std::filesystem;
  const std::string& path = paths.final_path;
  std::error_code error;
  // Killed between the rename of the finished file and the removal of its journal: the run is complete.
  if (fs::exists(path, error) && !fs::exists(paths.partial(), error) && !fs::exists(paths.old_partial(), error) &&
      fs::exists(paths.journal(), error)) {
    paths.remove_work_files();
  }
  // A killed --force rerun left its rows beside the old file: --resume continues them (with or without
  // --force), and the old file stays until the new one replaces it at the commit.
  const bool continuing = options.resume && paths.has_work_files();
  if (fs::exists(path, error) && !options.overwrite && !continuing) {
    throw config_error(fmt::format("output '{}' exists: use --force to replace it", path));
  }
  if (paths.has_work_files() && !options.resume) {
    if (options.overwrite) {
      paths.remove_work_files();
    } else {
      throw config_error(fmt::format("'{}' holds the rows of an unfinished run of '{}': use --resume to continue "
                                     "it or --force to start over",
                                     paths.journal(), path));
    }
  }
}

}  // namespace

h5_output::h5_output(const communicator& comm, std::string path, h5_output_options options)
    : comm_(comm.dup()), paths_{std::move(path)}, options_(std::move(options)) {
  detail::on_all_ranks(comm_, [&] {
    if (!comm_.is_root()) return;
    check_output_directory(paths_.final_path);
    // The lock before the checks that may remove work files, which must not be another run's.
    lock_ = std::make_unique<detail::work_files_lock>(paths_);
    check_output_path(paths_, options_);
  });
}

h5_output::~h5_output() {
  abandon_rows();
  store_.reset();
  lock_.reset();
}

namespace detail {

void check_column_paths(const std::vector<h5_store_column>& columns) {
  // Compared without repeated or trailing slashes ("/a//b/" is "/a/b" to HDF5).
  const auto normal = [](const std::string& path) {
    std::string out;
    for (const char ch : path) {
      if (ch == '/' && !out.empty() && out.back() == '/') continue;
      out.push_back(ch);
    }
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
  };
  for (std::size_t a = 0; a < columns.size(); ++a) {
    const std::string pa = normal(columns[a].path);
    for (std::size_t b = 0; b < columns.size(); ++b) {
      if (a == b) continue;
      const std::string pb = normal(columns[b].path);
      if (a < b && pa == pb) {
        throw config_error(fmt::format("map_to_h5: columns '{}' and '{}' have the same path (each column needs its "
                                       "own dataset)",
                                       columns[a].path, columns[b].path));
      }
      if (pb.size() > pa.size() && pb.starts_with(pa) && (pa == "/" || pb[pa.size()] == '/')) {
        throw config_error(fmt::format(
            "map_to_h5: column '{}' lies inside column '{}' ({}): give it a path outside", columns[b].path,
            columns[a].path,
            columns[a].ragged ? "a ragged column is the group of its /values and /offsets" : "a column is a dataset"));
      }
    }
  }
}

}  // namespace detail

std::string h5_output::descriptor(std::uint64_t n, const std::vector<detail::h5_store_column>& columns) const {
  std::string text = fmt::format("plx-h5map n={} columns=", n);
  for (std::size_t c = 0; c < columns.size(); ++c) {
    const auto& column = columns[c];
    text += fmt::format("{}{}:{}", c ? "," : "", column.path,
                        column.ragged ? "ragged " + detail::h5_describe(column.layout.type.get(), column.layout.dims)
                                      : detail::h5_describe(column.layout.type.get(), column.row_dims));
  }
  return text + fmt::format(" fingerprint={:08x}", crc32(options_.fingerprint));
}

detail::index_ranges h5_output::begin_rows(std::uint64_t n, std::vector<detail::h5_store_column> columns,
                                           const std::string& descriptor, const map_options& options) {
  if (begun_) throw detail::collective(config_error("map_to_h5: one map per h5_output"));  // same on every rank
  begun_ = true;
  try {
    detail::index_ranges missing;
    detail::on_all_ranks(comm_, [&] {
      std::uint64_t root_n = n;
      detail::broadcast_chunked(comm_, std::span<std::uint64_t>(&root_n, 1), 0);
      if (root_n != n) {
        throw config_error(fmt::format("map_to_h5: the ranks disagree on n ({} here, {} on rank 0)", n, root_n));
      }
      detail::check_h5_dimensions(columns, n, options_.row_dimension, options_.coordinates);
      if (!comm_.is_root()) return;
      const detail::h5_store_settings settings{options_.buffer_bytes, options_.checkpoint_interval,
                                               options_.row_dimension, options_.coordinates};
      store_ = std::make_unique<detail::h5_row_store>(paths_, std::move(columns), n, descriptor,
                                                      provenance_of(comm_, options), settings);
      missing = store_->durable_at_open().complement(n);
    });
    const detail::index_ranges todo = detail::share_missing(comm_, missing);
    rows_resumed_ = n - todo.count();
    return todo;
  } catch (...) {
    store_.reset();  // failed on some rank before any row: nothing to write
    throw;
  }
}

void h5_output::end_rows() {
  detail::on_all_ranks(comm_, [&] {
    if (!comm_.is_root()) return;
    try {
      store_->finish_rows();
      store_->finalize();
    } catch (...) {
      store_.reset();  // its failure is reported once, here; the work files stay for a resume
      throw;
    }
  });
  rows_done_ = true;
}

void h5_output::abandon_rows() noexcept {
  if (!store_ || rows_done_) return;
  // A writer failure that ended the map (a full disk) was thrown, and is reported, as the map's error:
  // printed here too it would be a second line.
  const bool reported = store_->failure_thrown();
  try {
    store_->finish_rows();
  } catch (const std::exception& e) {
    if (!reported) {
      std::cerr << "parallax: writing the last rows of " << paths_.final_path << " failed: " << e.what() << '\n';
    }
  }
  store_.reset();  // the rows it has are on disk and recorded; the rest is for a resume
}

io::h5_file h5_output::open() {
  detail::on_all_ranks(comm_, [&] {
    if (!rows_done_) throw config_error("h5_output::open: call map_to_h5 first");
    if (comm_.is_root()) store_->mark_finalizing();
  });
  return io::h5_file::open_write(comm_, paths_.partial());
}

void h5_output::commit() {
  detail::on_all_ranks(comm_, [&] {
    if (committed_) throw config_error("h5_output::commit: committed twice");
    if (!rows_done_) throw config_error("h5_output::commit: call map_to_h5 first");
  });
  // Every rank wrote into the partial file (HDF5 metadata, the caller's datasets through open()): every rank
  // syncs it before root renames it, as atomic_output does.
  if (const std::string failure = io::detail::sync_on_every_rank(comm_, paths_.partial(), paths_.final_path);
      !failure.empty()) {
    throw detail::collective(io_error(failure));
  }
  detail::on_all_ranks(comm_, [&] {
    if (comm_.is_root()) store_->commit();
  });
  committed_ = true;
  store_.reset();
}

}  // namespace plx
