#include <parallax/dist/detail/h5_row_store.hpp>

#include <parallax/dist/detail/h5_dimensions.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include <parallax/core/communicator.hpp>
#include <parallax/core/detail/posix_file.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>

namespace plx::detail {

namespace {

constexpr std::uint64_t record_layout_kind = 0;   // body: per column, the dataset's address (u64)
// Kind 1 held unchecked ranges (begin, end) in journals of earlier versions: never trusted now, so such a
// run's rows are computed again (see checked_range).
constexpr std::uint64_t record_finalizing_kind = 2;
constexpr std::uint64_t record_checked_rows_kind = 3;  // body: (begin, end, sum) per range made durable
constexpr std::uint64_t record_kinds = 4;
constexpr std::uint64_t no_address = ~std::uint64_t{0};
constexpr std::size_t extent_bytes = 2 * sizeof(std::uint64_t);  // a ragged row: (byte offset, byte length)


/// A file's durable name after HDF5 wrote it: fsync through the durable-I/O door, or file_error.
void sync_path(const std::string& path) {
  posix_file file = posix_file::open(path, O_RDONLY);
  file.sync();
  file.close();
}

/// A row write through `file` (pwrite, or pwritev for `buffers`), with its own fault site "h5map.write"
/// (ENOSPC) in front of the door's fs.write: the tests that fail a map_to_h5 writer mid-map arm that one.
void fail_if_injected(const posix_file& file) {
  if (fault_point(fault_sites::h5map_write)) throw file_error(file_failure("write", file.path(), ENOSPC), ENOSPC);
}

void write_rows_at(posix_file& file, const char* data, std::size_t size, std::uint64_t offset) {
  fail_if_injected(file);
  file.pwrite_all(std::as_bytes(std::span(data, size)), offset);
}

/// pread of everything; false at a short file or an error (a resume's check of what the journal says).
bool pread_full(posix_file& file, char* data, std::size_t size, std::uint64_t offset) {
  if (!file.is_open()) return false;
  try {
    file.pread_all(std::as_writable_bytes(std::span(data, size)), offset);
    return true;
  } catch (const file_error&) {
    return false;
  }
}

/// The file at `path` for reading, or a file that is not open when it is missing (verify_rows fails the
/// ranges that need it); any other failure throws.
posix_file open_if_there(const std::string& path) {
  int error_number = 0;
  posix_file file = posix_file::try_open(path, O_RDONLY, 0, error_number);
  if (error_number != 0 && error_number != ENOENT) throw file_error(file_failure("open", path, error_number), error_number);
  return file;
}

// A 64-bit hash of one row's bytes in one column (xxHash64's rounds and mixing; not its exact values). The
// row index and column are in the seed: rows that landed at each other's places do not sum to the same.
// Four lanes keep it at several GB/s, so the writer thread's checksums cost little beside its writes.
constexpr std::uint64_t prime1 = 0x9E3779B185EBCA87ULL;
constexpr std::uint64_t prime2 = 0xC2B2AE3D27D4EB4FULL;
constexpr std::uint64_t prime3 = 0x165667B19E3779F9ULL;
constexpr std::uint64_t prime4 = 0x85EBCA77C2B2AE63ULL;
constexpr std::uint64_t prime5 = 0x27D4EB2F165667C5ULL;

constexpr std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
constexpr std::uint64_t hash_round(std::uint64_t acc, std::uint64_t word) {
  return rotl(acc + word * prime2, 31) * prime1;
}
std::uint64_t load_word(const char* p) {
  std::uint64_t w = 0;
  std::memcpy(&w, p, sizeof w);
  return w;
}

std::uint64_t row_hash(std::uint64_t row, std::size_t column, const char* data, std::size_t size) {
  std::uint64_t seed = row * prime5 + static_cast<std::uint64_t>(column) * prime3 + size;
  std::uint64_t h = 0;
  std::size_t at = 0;
  if (size >= 32) {
    std::uint64_t v[4] = {seed + prime1 + prime2, seed + prime2, seed, seed - prime1};
    for (; at + 32 <= size; at += 32) {
      for (int lane = 0; lane < 4; ++lane) v[lane] = hash_round(v[lane], load_word(data + at + 8 * lane));
    }
    h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18);
    for (const std::uint64_t lane : v) h = (h ^ hash_round(0, lane)) * prime1 + prime4;
  } else {
    h = seed + prime5;
  }
  for (; at + 8 <= size; at += 8) h = rotl(h ^ hash_round(0, load_word(data + at)), 27) * prime1 + prime4;
  for (; at < size; ++at) h = rotl(h ^ (static_cast<unsigned char>(data[at]) * prime5), 11) * prime1;
  h ^= h >> 33;
  h *= prime2;
  h ^= h >> 29;
  h *= prime3;
  h ^= h >> 32;
  return h;
}

/// Sorted by begin, touching ranges merged (their sums add).
std::vector<checked_range> merged(std::vector<checked_range> ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const checked_range& a, const checked_range& b) { return a.begin < b.begin; });
  std::vector<checked_range> out;
  for (const checked_range& r : ranges) {
    if (!out.empty() && out.back().end == r.begin) {
      out.back().end = r.end;
      out.back().sum += r.sum;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

std::vector<std::uint64_t> flat_of(const std::vector<checked_range>& ranges) {
  std::vector<std::uint64_t> flat;
  flat.reserve(3 * ranges.size());
  for (const checked_range& r : ranges) flat.insert(flat.end(), {r.begin, r.end, r.sum});
  return flat;
}

template <class T>
std::span<const char> as_bytes_of(const std::vector<T>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)};
}

template <class T>
std::vector<T> as_vector_of(const std::vector<char>& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

std::vector<hsize_t> row_dataset_dims(std::uint64_t n, const std::vector<hsize_t>& row_dims) {
  std::vector<hsize_t> dims{static_cast<hsize_t>(n)};
  dims.insert(dims.end(), row_dims.begin(), row_dims.end());
  return dims;
}

std::string parent_group(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

/// Creates a contiguous dataset whose storage is allocated now and never filled (every row is written
/// later; fill values would cost a pass over the whole file).
io::h5_id create_row_dataset(io::h5_file& file, const std::string& path, hid_t type, const std::vector<hsize_t>& dims) {
  const std::string parent = parent_group(path);
  if (parent != "/") file.create_group(parent);
  io::h5_id space = io::detail::own(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                                    io::h5_kind::dataspace, "H5Screate_simple", file, path);
  io::h5_id dcpl = io::detail::own(H5Pcreate(H5P_DATASET_CREATE), io::h5_kind::property_list, "H5Pcreate", file, path);
  io::detail::check_h5(H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS), "H5Pset_layout", file, path);
  io::detail::check_h5(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time", file, path);
  io::detail::check_h5(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time", file, path);
  return io::detail::own(H5Dcreate2(file.native(), path.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                         io::h5_kind::dataset, "H5Dcreate2", file, path);
}

/// Writes `count` rows (each `row_elements` elements of `type`) at row `first` of a 1+k dimensional dataset.
void write_rows(io::h5_file& file, const io::h5_id& dataset, const std::string& path, hid_t type,
                const std::vector<hsize_t>& dims, std::uint64_t first, std::uint64_t count, const void* data) {
  if (count == 0) return;
  io::h5_id space = io::detail::own(H5Dget_space(dataset.get()), io::h5_kind::dataspace, "H5Dget_space", file, path);
  std::vector<hsize_t> start(dims.size(), 0);
  std::vector<hsize_t> extent(dims);
  start[0] = first;
  extent[0] = count;
  io::detail::check_h5(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr),
                       "H5Sselect_hyperslab", file, path);
  io::h5_id memory = io::detail::own(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr),
                                     io::h5_kind::dataspace, "H5Screate_simple", file, path);
  io::detail::check_h5(io::detail::injected_write_result(
                           H5Dwrite(dataset.get(), type, memory.get(), space.get(), H5P_DEFAULT, data)),
                       "H5Dwrite", file, path);
}

void set_provenance(io::h5_file& file, const std::string& object, std::uint64_t n, const h5_provenance& p) {
  io::set_attribute(file, object, "n", n);
  io::set_attribute(file, object, "rows_done", std::int64_t{0});
  io::set_attribute(file, object, "label", p.label);
  io::set_attribute(file, object, "schedule", p.schedule);
  io::set_attribute(file, object, "ranks", p.ranks);
  io::set_attribute(file, object, "threads", p.threads);
  io::set_attribute(file, object, "parallax_version", p.version);
  io::set_attribute(file, object, "command_line", p.command_line);
}

}  // namespace

// --- paths ---------------------------------------------------------------------------------------

std::string h5_output_paths::ragged_values(std::size_t column) const {
  return fmt::format("{}.partial.ragged.{}.values", final_path, column);
}
std::string h5_output_paths::ragged_rows(std::size_t column) const {
  return fmt::format("{}.partial.ragged.{}.rows", final_path, column);
}

void h5_output_paths::remove_partial_files() const {
  namespace fs = std::filesystem;
  static_cast<void>(unlink_file(partial()));
  std::error_code error;
  const fs::path final_file(final_path);
  const fs::path dir = final_file.parent_path().empty() ? fs::path(".") : final_file.parent_path();
  const std::string prefix = final_file.filename().string() + ".partial.ragged.";
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.path().filename().string().starts_with(prefix)) static_cast<void>(unlink_file(entry.path().string()));
  }
}

void h5_output_paths::remove_work_files() const {
  remove_partial_files();
  for (const std::string& path : {old_partial(), journal() + ".new", journal()}) static_cast<void>(unlink_file(path));
}

bool h5_output_paths::has_work_files() const {
  std::error_code error;
  return std::filesystem::exists(journal(), error) || std::filesystem::exists(partial(), error);
}

// --- the lock --------------------------------------------------------------------------------------

work_files_lock::work_files_lock(const h5_output_paths& paths) : path_(paths.lock()) {
  // Taken on the file that is at the path once we hold it: a run that releases (and removes) the lock file
  // between our open and our flock leaves us holding a name-less file, so then we try again.
  for (int attempt = 0; attempt < 16; ++attempt) {
    posix_file file = posix_file::open(path_, O_RDWR | O_CREAT, 0644);
    if (::flock(file.fd(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        std::string holder;
        try {
          holder = file.read_contents().substr(0, 255);
        } catch (const file_error&) {
          // only what the refused run is told
        }
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
        throw config_error(fmt::format(
            "the work files of '{}' are in use by another run ({}; it holds the lock '{}'): wait for it to end, "
            "or stop it, before running again (with --resume to continue its rows)",
            paths.final_path, holder.empty() ? "holder unknown" : holder, path_));
      }
      // ENOLCK, EOPNOTSUPP (some NFS, Lustre mounts): no locks here; go without, as the farm's journal does.
    }
    struct stat held {};
    struct stat named {};
    if (::fstat(file.fd(), &held) != 0 || ::stat(path_.c_str(), &named) != 0 || held.st_ino != named.st_ino ||
        held.st_dev != named.st_dev) {
      continue;
    }
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown host");
    const std::string text = fmt::format("host {} pid {}\n", host, static_cast<long>(::getpid()));
    // Only what a refused run is told: a failure to write it takes nothing from the lock.
    try {
      file.truncate(0);
      file.pwrite_all(std::as_bytes(std::span(text.data(), text.size())), 0);
    } catch (const file_error&) {
    }
    file_ = std::move(file);
    return;
  }
  throw io_error(fmt::format("map_to_h5: cannot take the lock '{}': it keeps being replaced", path_));
}

work_files_lock::~work_files_lock() {
  if (!file_.is_open()) return;
  static_cast<void>(unlink_quietly(path_));  // while we hold it: see the constructor; closed after this
}

void raw_bytes::aligned_delete::operator()(char* p) const noexcept {
  ::operator delete[](p, std::align_val_t{direct_io_alignment});
}

char* raw_bytes::grow(std::size_t n) {
  if (size_ + n > capacity_) reserve(std::max(size_ + n, 2 * capacity_));
  char* at = data_.get() + size_;
  size_ += n;
  return at;
}

void raw_bytes::reserve(std::size_t capacity) {
  if (capacity > capacity_) {
    std::unique_ptr<char[], aligned_delete> bigger(
        static_cast<char*>(::operator new[](capacity, std::align_val_t{direct_io_alignment})));
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }
}

// --- batches -------------------------------------------------------------------------------------

void h5_row_store::batch::clear() {
  rows.clear();
  for (auto& f : fixed) f.clear();
  for (auto& v : values) v.clear();
  for (auto& e : extents) e.clear();
  bytes = 0;
}

// --- opening ---------------------------------------------------------------------------------------

h5_row_store::h5_row_store(h5_output_paths paths, std::vector<h5_store_column> columns, std::uint64_t n,
                           const std::string& descriptor, const h5_provenance& provenance,
                           const h5_store_settings& settings)
    : paths_(std::move(paths)),
      columns_(std::move(columns)),
      n_(n),
      settings_(settings),
      descriptor_(descriptor),
      provenance_(provenance) {
  const std::size_t c = columns_.size();
  offsets_.assign(c, no_address);
  values_files_.resize(c);  // ragged columns only: the others stay not open
  rows_files_.resize(c);
  values_end_.assign(c, 0);
  mark_fixed_.assign(c, 0);
  mark_values_.assign(c, 0);
  mark_extents_.assign(c, 0);
  // A batch is handed to the writer once it holds buffer_bytes: room for that many rows, up front.
  std::size_t row_bytes = sizeof(std::uint64_t);
  for (const auto& column : columns_) row_bytes += column.ragged ? 0 : column.row_bytes;
  const std::size_t batch_rows = settings_.buffer_bytes / row_bytes + 1;
  for (batch* b : {&filling_, &writing_}) {
    b->fixed.resize(c);
    b->values.resize(c);
    b->extents.resize(c);
    b->rows.reserve(batch_rows);
    for (std::size_t k = 0; k < c; ++k) {
      if (!columns_[k].ragged) b->fixed[k].reserve(batch_rows * columns_[k].row_bytes);
    }
  }
  try {
    open_or_create();
    open_row_files();
  } catch (...) {
    close_row_files();
    throw;
  }
  last_flush_ = last_sync_ = std::chrono::steady_clock::now();
  writer_ = std::thread([this] { writer_loop(); });
}

h5_row_store::~h5_row_store() {
  stop_writer();
  close_row_files();
}

void h5_row_store::open_or_create() {
  try {
    journal_ = std::make_unique<checkpoint_log>(paths_.journal(), n_, descriptor_, record_kinds);
  } catch (const config_error& e) {
    throw config_error(fmt::format("cannot resume '{}': {} (or use --force to start over)",
                                   paths_.final_path, e.what()));
  }
  bool have_layout = false;
  std::vector<checked_range> recorded;
  for (const auto& record : journal_->existing()) {
    if (record.index == record_layout_kind) {
      const auto addresses = as_vector_of<std::uint64_t>(record.bytes);
      if (addresses.size() != columns_.size()) continue;
      offsets_ = addresses;
      have_layout = true;
    } else if (record.index == record_checked_rows_kind) {
      const auto flat = as_vector_of<std::uint64_t>(record.bytes);
      for (std::size_t i = 0; i + 2 < flat.size(); i += 3) {
        if (flat[i] < flat[i + 1] && flat[i + 1] <= n_) recorded.push_back({flat[i], flat[i + 1], flat[i + 2]});
      }
    } else if (record.index == record_finalizing_kind) {
      finalizing_seen_ = true;
    }
  }
  std::error_code error;
  if (!have_layout) {
    paths_.remove_partial_files();
    static_cast<void>(unlink_file(paths_.old_partial()));
    try {
      create_partial();
      record_layout();
    } catch (...) {
      // No row exists yet: nothing to resume, so no work file is left to block the next run.
      journal_.reset();
      try {
        paths_.remove_work_files();
      } catch (const std::exception&) {
      }
      throw;
    }
    return;
  }
  recorded_ = std::move(recorded);
  const bool have_old = std::filesystem::exists(paths_.old_partial(), error);
  if (have_old || finalizing_seen_ || !partial_checks_out()) {
    rebuild_partial(have_old);
    return;
  }
  // The partial file checks out: its rows count once they read back as recorded.
  std::vector<checked_range> verified = verify_rows(paths_.partial(), offsets_, recorded_, nullptr);
  if (verified != recorded_) rewrite_journal(verified);
  std::vector<index_range> durable;
  for (const checked_range& r : verified) durable.push_back({r.begin, r.end});
  durable_at_open_ = index_ranges(std::move(durable));
}

void h5_row_store::create_partial() {
  const communicator self = communicator::borrow(MPI_COMM_SELF);
  // Big datasets page-aligned: rows of a page multiple are then written with O_DIRECT.
  io::h5_file file = io::h5_file::create(self, paths_.partial(), {std::size_t{64} << 10, direct_io_alignment});
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    const auto& column = columns_[c];
    if (column.ragged) {
      file.create_group(column.path);
    } else {
      io::h5_id dataset = create_row_dataset(file, column.path, column.layout.type.get(), row_dataset_dims(n_, column.row_dims));
      const haddr_t address = H5Dget_offset(dataset.get());
      offsets_[c] = address == HADDR_UNDEF ? no_address : static_cast<std::uint64_t>(address);
      if (offsets_[c] == no_address && n_ > 0 && column.row_bytes > 0) {
        throw io_error(fmt::format("map_to_h5: HDF5 gave no address for '{}' in '{}'", column.path, paths_.partial()));
      }
    }
    set_provenance(file, column.path, n_, provenance_);
  }
  file.close();
  sync_path(paths_.partial());
  sync_directory_of(paths_.partial());
}

void h5_row_store::record_layout() {
  journal_->append(record_layout_kind, as_bytes_of(offsets_));
}

bool h5_row_store::partial_checks_out() const {
  try {
    const communicator self = communicator::borrow(MPI_COMM_SELF);
    io::h5_file file = io::h5_file::open_read(self, paths_.partial());
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      if (columns_[c].ragged) continue;
      io::h5_id dataset = io::detail::open_dataset(file, columns_[c].path);
      io::h5_id space(H5Dget_space(dataset.get()), io::h5_kind::dataspace);
      if (io::detail::space_dims(space.get(), file, columns_[c].path) != row_dataset_dims(n_, columns_[c].row_dims)) {
        return false;
      }
      const haddr_t address = H5Dget_offset(dataset.get());
      if ((address == HADDR_UNDEF ? no_address : static_cast<std::uint64_t>(address)) != offsets_[c]) return false;
    }
    file.close();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void h5_row_store::rebuild_partial(bool have_old) {
  namespace fs = std::filesystem;
  const std::string old_path = paths_.old_partial();
  const std::vector<std::uint64_t> old_offsets = offsets_;
  std::error_code error;
  if (have_old) {
    // An earlier rebuild died before its new journal was in place: P.partial.old is still the file the
    // journal describes, and P.partial that rebuild's unfinished new file. Never rename over the old one.
    unlink_file(paths_.partial());
  } else if (fs::exists(paths_.partial(), error)) {
    rename_file(paths_.partial(), old_path);  // and its directory synced
  }
  create_partial();

  // Copy the rows that verify from the old file's recorded addresses (those that do not are computed again).
  std::vector<checked_range> verified;
  {
    posix_file out = posix_file::open(paths_.partial(), O_WRONLY);
    verified = verify_rows(old_path, old_offsets, recorded_, &out);
    out.sync_data();
    out.close();
  }
  rewrite_journal(verified);
  std::vector<index_range> durable;
  for (const checked_range& r : verified) durable.push_back({r.begin, r.end});
  durable_at_open_ = index_ranges(std::move(durable));
  finalizing_seen_ = false;
  // Must go: a P.partial.old found at open is taken for the source of a rebuild that died.
  static_cast<void>(unlink_file(old_path));
}

std::vector<checked_range> h5_row_store::verify_rows(const std::string& source,
                                                     const std::vector<std::uint64_t>& source_offsets,
                                                     const std::vector<checked_range>& recorded,
                                                     posix_file* copy_to) const {
  std::vector<checked_range> verified;
  if (recorded.empty()) return verified;
  // Missing files (not open) fail the ranges that need them.
  posix_file in = open_if_there(source);
  std::vector<posix_file> values(columns_.size());
  std::vector<posix_file> rows(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (!columns_[c].ragged) continue;
    values[c] = open_if_there(paths_.ragged_values(c));
    rows[c] = open_if_there(paths_.ragged_rows(c));
  }
  constexpr std::size_t block_bytes = std::size_t{8} << 20;
  std::vector<char> buffer;
  std::vector<std::uint64_t> extents;
  for (const checked_range& range : recorded) {
    std::uint64_t sum = 0;
    bool readable = true;
    for (std::size_t c = 0; c < columns_.size() && readable; ++c) {
      const h5_store_column& column = columns_[c];
      if (column.ragged) {
        posix_file& rows_file = rows[c];
        posix_file& values_file = values[c];
        if (!rows_file.is_open() || !values_file.is_open()) {
          readable = false;
          break;
        }
        constexpr std::uint64_t block_rows = 1 << 16;
        for (std::uint64_t first = range.begin; first < range.end && readable; first += block_rows) {
          const std::uint64_t count = std::min(block_rows, range.end - first);
          extents.resize(2 * count);
          if (!pread_full(rows_file, reinterpret_cast<char*>(extents.data()), count * extent_bytes, first * extent_bytes)) {
            readable = false;
            break;
          }
          for (std::uint64_t k = 0; k < count; ++k) {
            const std::uint64_t bytes = extents[2 * k + 1];
            if (bytes > (std::uint64_t{1} << 40)) {  // a damaged extent: do not allocate it
              readable = false;
              break;
            }
            buffer.resize(bytes);
            if (bytes > 0 && !pread_full(values_file, buffer.data(), bytes, extents[2 * k])) {
              readable = false;
              break;
            }
            sum += row_hash(first + k, c, buffer.data(), bytes);
          }
        }
        continue;
      }
      const std::size_t row = column.row_bytes;
      if (row == 0) {
        for (std::uint64_t i = range.begin; i < range.end; ++i) sum += row_hash(i, c, nullptr, 0);
        continue;
      }
      if (!in.is_open()) {
        readable = false;
        break;
      }
      for (std::uint64_t i = range.begin; i < range.end;) {
        const std::uint64_t count = std::max<std::uint64_t>(1, std::min<std::uint64_t>(range.end - i, block_bytes / row));
        buffer.resize(count * row);
        if (!pread_full(in, buffer.data(), count * row, source_offsets[c] + i * row)) {
          readable = false;
          break;
        }
        for (std::uint64_t k = 0; k < count; ++k) sum += row_hash(i + k, c, buffer.data() + k * row, row);
        if (copy_to != nullptr) write_rows_at(*copy_to, buffer.data(), count * row, offsets_[c] + i * row);
        i += count;
      }
    }
    if (readable && sum == range.sum) verified.push_back(range);
  }
  return verified;
}

void h5_row_store::rewrite_journal(const std::vector<checked_range>& verified) {
  // A new journal that describes the file as it is now, swapped in atomically.
  const std::string new_journal = paths_.journal() + ".new";
  static_cast<void>(unlink_file(new_journal));
  {
    checkpoint_log fresh(new_journal, n_, descriptor_, record_kinds);
    fresh.append(record_layout_kind, as_bytes_of(offsets_));
    if (!verified.empty()) fresh.append(record_checked_rows_kind, as_bytes_of(flat_of(verified)));
  }
  journal_.reset();
  rename_file(new_journal, paths_.journal());  // and its directory synced
  journal_ = std::make_unique<checkpoint_log>(paths_.journal(), n_, descriptor_, record_kinds);
}

void h5_row_store::open_row_files() {
  partial_file_ = posix_file::open(paths_.partial(), O_WRONLY);
  int refused = 0;  // the file system takes no O_DIRECT (tmpfs): not open, and buffered writes only
  direct_file_ = posix_file::try_open(paths_.partial(), O_WRONLY | O_DIRECT, 0, refused);
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (!columns_[c].ragged) continue;
    values_files_[c] = posix_file::open(paths_.ragged_values(c), O_WRONLY | O_CREAT, 0644);
    rows_files_[c] = posix_file::open(paths_.ragged_rows(c), O_RDWR | O_CREAT, 0644);
    values_end_[c] = values_files_[c].size();
  }
}

void h5_row_store::close_row_files() noexcept {
  // Closed without a word: every row they took was synced (sync_and_record) before it counted, and commit
  // syncs the partial again by name.
  partial_file_ = posix_file();
  direct_file_ = posix_file();
  for (auto* files : {&values_files_, &rows_files_}) {
    for (posix_file& file : *files) file = posix_file();
  }
}

// --- adding rows ---------------------------------------------------------------------------------

void h5_row_store::begin_row(std::uint64_t index) {
  row_lock_ = std::unique_lock(mutex_);
  if (!writer_failure_ && filling_.bytes >= settings_.buffer_bytes) hand_over(row_lock_);
  if (writer_failure_) {
    const std::exception_ptr failure = writer_failure_;
    failure_thrown_ = true;
    row_lock_.unlock();
    std::rethrow_exception(failure);
  }
  mark_ = {filling_.rows.size(), filling_.bytes};
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    mark_fixed_[c] = filling_.fixed[c].size();
    mark_values_[c] = filling_.values[c].size();
    mark_extents_[c] = filling_.extents[c].size();
  }
  filling_.rows.push_back(index);
  filling_.bytes += sizeof(std::uint64_t);
}

char* h5_row_store::fixed_space(std::size_t column) {
  filling_.bytes += columns_[column].row_bytes;
  return filling_.fixed[column].grow(columns_[column].row_bytes);
}

char* h5_row_store::ragged_space(std::size_t column, std::size_t size) {
  auto& values = filling_.values[column];
  filling_.extents[column].push_back(values.size());
  filling_.extents[column].push_back(size);
  filling_.bytes += size + extent_bytes;
  return values.grow(size);
}

void h5_row_store::end_row(bool keep) noexcept {
  if (!keep) {  // the row was not filled (packing it threw): take it back out
    filling_.rows.resize(mark_.rows);
    filling_.bytes = mark_.bytes;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      filling_.fixed[c].shrink_to(mark_fixed_[c]);
      filling_.values[c].shrink_to(mark_values_[c]);
      filling_.extents[c].resize(mark_extents_[c]);
    }
  }
  if (row_lock_.owns_lock()) row_lock_.unlock();
}

void h5_row_store::hand_over(std::unique_lock<std::mutex>& lock) {
  write_requested_ = true;
  wake_writer_.notify_one();
  writer_done_.wait(lock, [&] { return !write_requested_ || writer_failure_; });
}

// --- the writer ----------------------------------------------------------------------------------

void h5_row_store::writer_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_writer_.wait_for(lock, settings_.checkpoint_interval, [&] { return write_requested_ || stopping_; });
    const bool due = write_requested_ || stopping_ ||
                     std::chrono::steady_clock::now() - last_flush_ >= settings_.checkpoint_interval;
    if (!due || filling_.rows.empty()) {
      write_requested_ = false;
      writer_done_.notify_all();
      if (due && !unsynced_.empty()) {  // rows written but not yet synced and recorded
        lock.unlock();
        std::exception_ptr failure;
        try {
          sync_and_record();
        } catch (...) {
          failure = std::current_exception();
        }
        lock.lock();
        if (failure) {
          writer_failure_ = failure;
          writer_done_.notify_all();
          return;
        }
      }
      if (stopping_) return;
      continue;
    }
    std::swap(filling_, writing_);
    write_requested_ = false;
    writer_done_.notify_all();  // the sink fills the other buffer meanwhile
    lock.unlock();
    std::exception_ptr failure;
    try {
      write_batch(writing_);
    } catch (...) {
      failure = std::current_exception();
    }
    writing_.clear();
    lock.lock();
    last_flush_ = std::chrono::steady_clock::now();
    if (failure) {
      writer_failure_ = failure;
      writer_done_.notify_all();
      return;
    }
  }
}

void h5_row_store::write_batch(batch& b) {
  // Runs of consecutive rows in arrival order (a chunk of a map arrives as one), then in row order.
  struct run {
    std::uint64_t first;
    std::size_t slot;
    std::size_t count;
  };
  std::vector<run> runs;
  for (std::size_t k = 0; k < b.rows.size(); ++k) {
    if (!runs.empty() && b.rows[k] == runs.back().first + runs.back().count) {
      ++runs.back().count;
    } else {
      runs.push_back({b.rows[k], k, 1});
    }
  }
  std::sort(runs.begin(), runs.end(), [](const run& x, const run& y) { return x.first < y.first; });

  // The checksum of each run, over every column (see checked_range), before the writes.
  std::vector<std::uint64_t> sums(runs.size(), 0);
  for (std::size_t j = 0; j < runs.size(); ++j) {
    const run& r = runs[j];
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const std::size_t row = columns_[c].row_bytes;
      for (std::size_t k = 0; k < r.count; ++k) {
        if (columns_[c].ragged) {
          const std::uint64_t at = b.extents[c][2 * (r.slot + k)];
          const std::uint64_t bytes = b.extents[c][2 * (r.slot + k) + 1];
          sums[j] += row_hash(r.first + k, c, bytes > 0 ? b.values[c].data() + at : nullptr, bytes);
        } else {
          sums[j] += row_hash(r.first + k, c, row > 0 ? b.fixed[c].data() + (r.slot + k) * row : nullptr, row);
        }
      }
    }
  }

  for (std::size_t c = 0; c < columns_.size(); ++c) {
    const auto& column = columns_[c];
    if (column.ragged) {
      // Values in arrival order, then each row's (offset, length) at row * 16, one write per run.
      const std::uint64_t base = values_end_[c];
      const auto& values = b.values[c];
      if (!values.empty()) write_rows_at(values_files_[c], values.data(), values.size(), base);
      values_end_[c] += values.size();
      std::vector<std::uint64_t> extents;
      for (const run& r : runs) {
        extents.resize(2 * r.count);
        for (std::size_t k = 0; k < r.count; ++k) {
          extents[2 * k] = base + b.extents[c][2 * (r.slot + k)];
          extents[2 * k + 1] = b.extents[c][2 * (r.slot + k) + 1];
        }
        write_rows_at(rows_files_[c], reinterpret_cast<const char*>(extents.data()),
                      extents.size() * sizeof(std::uint64_t), r.first * extent_bytes);
      }
      continue;
    }
    const std::size_t row = column.row_bytes;
    if (row == 0) continue;
    const bool direct = row % direct_io_alignment == 0 && offsets_[c] % direct_io_alignment == 0;
    // Runs that touch in row order become one pwritev.
    std::vector<iovec> iov;
    std::uint64_t start = 0;
    std::uint64_t next = 0;
    for (const run& r : runs) {
      if (!iov.empty() && r.first != next) {
        write_run(iov, offsets_[c] + start * row, direct);
        iov.clear();
      }
      if (iov.empty()) start = r.first;
      iov.push_back({b.fixed[c].data() + r.slot * row, r.count * row});
      next = r.first + r.count;
    }
    if (!iov.empty()) write_run(iov, offsets_[c] + start * row, direct);
  }
  for (std::size_t j = 0; j < runs.size(); ++j) unsynced_.push_back({runs[j].first, runs[j].first + runs[j].count, sums[j]});
  if (std::chrono::steady_clock::now() - last_sync_ >= settings_.checkpoint_interval) sync_and_record();
}

void h5_row_store::write_run(std::vector<iovec>& iov, std::uint64_t offset, bool direct) {
  fail_if_injected(partial_file_);
  if (direct && direct_file_.is_open()) {
    try {
      direct_file_.pwritev_all(iov, offset);
      return;
    } catch (const file_error& e) {
      if (e.error_number() != EINVAL) throw;
      direct_file_ = posix_file();  // the file system takes no direct writes after all: buffered from now on
    }
  }
  partial_file_.pwritev_all(iov, offset);
}

void h5_row_store::sync_and_record() {
  if (unsynced_.empty()) return;
  // Rows written with O_DIRECT are on the disk's cache already; the sync of the same file flushes that.
  partial_file_.sync_data();
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (!columns_[c].ragged) continue;
    values_files_[c].sync_data();
    rows_files_[c].sync_data();
  }
  // The rows are on disk: now they count.
  journal_->append(record_checked_rows_kind, as_bytes_of(flat_of(merged(std::move(unsynced_)))));
  unsynced_.clear();
  last_sync_ = std::chrono::steady_clock::now();
}

void h5_row_store::stop_writer() noexcept {
  if (!writer_.joinable()) return;
  if (row_lock_.owns_lock()) end_row(false);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_writer_.notify_one();
  writer_.join();
}

void h5_row_store::finish_rows() {
  stop_writer();
  if (writer_failure_) {
    failure_thrown_ = true;
    std::rethrow_exception(writer_failure_);
  }
}

// --- the end -------------------------------------------------------------------------------------

void h5_row_store::mark_finalizing() {
  if (!finalizing_seen_) journal_->append(record_finalizing_kind, {});
  finalizing_seen_ = true;
}

void h5_row_store::finalize() {
  mark_finalizing();
  const communicator self = communicator::borrow(MPI_COMM_SELF);
  io::h5_file file = io::h5_file::open_write(self, paths_.partial());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (columns_[c].ragged) build_ragged(file, c);
    io::set_attribute(file, columns_[c].path, "rows_done", n_);
  }
  write_h5_dimensions(file, columns_, n_, settings_.row_dimension, settings_.coordinates);
  file.close();
  sync_path(paths_.partial());
}

void h5_row_store::build_ragged(io::h5_file& file, std::size_t c) {
  const auto& column = columns_[c];
  const std::size_t value_bytes = column.row_bytes;
  const std::string values_path = column.path + "/values";
  const std::string offsets_path = column.path + "/offsets";
  posix_file& rows_file = rows_files_[c];
  posix_file values_file = posix_file::open(paths_.ragged_values(c), O_RDONLY);

  // Pass 1: the total, from the row table in blocks.
  constexpr std::uint64_t block_rows = 1 << 16;
  std::vector<std::uint64_t> extents;
  const auto read_block = [&](std::uint64_t first, std::uint64_t count) {
    extents.resize(2 * count);
    rows_file.pread_all(std::as_writable_bytes(std::span(extents.data(), 2 * count)), first * extent_bytes);
  };
  std::uint64_t total_values = 0;
  for (std::uint64_t first = 0; first < n_; first += block_rows) {
    const std::uint64_t count = std::min(block_rows, n_ - first);
    read_block(first, count);
    for (std::uint64_t k = 0; k < count; ++k) {
      if (value_bytes == 0 || extents[2 * k + 1] % value_bytes != 0) {
        throw io_error(fmt::format("map_to_h5: row {} of '{}' is damaged in '{}'", first + k, column.path,
                                   paths_.ragged_rows(c)));
      }
      total_values += extents[2 * k + 1] / value_bytes;
    }
  }

  std::vector<hsize_t> value_dims = row_dataset_dims(total_values, column.layout.dims);
  const std::vector<hsize_t> offset_dims{static_cast<hsize_t>(n_ + 1)};
  io::h5_id values = create_row_dataset(file, values_path, column.layout.type.get(), value_dims);
  io::h5_id offsets = create_row_dataset(file, offsets_path, io::detail::native_uint64(), offset_dims);

  // Pass 2: values in row order through a bounded buffer; offsets (in values) as CSR's n + 1.
  std::vector<char> buffer;
  buffer.reserve(std::min<std::size_t>(settings_.buffer_bytes, total_values * value_bytes + 1));
  std::uint64_t buffered_from = 0;  // the value index where `buffer` starts
  std::uint64_t position = 0;       // values so far
  const auto flush_values = [&] {
    write_rows(file, values, values_path, column.layout.type.get(), value_dims, buffered_from, buffer.size() / value_bytes,
               buffer.data());
    buffered_from += buffer.size() / value_bytes;
    buffer.clear();
  };
  std::vector<std::uint64_t> offset_block;
  for (std::uint64_t first = 0; first < n_; first += block_rows) {
    const std::uint64_t count = std::min(block_rows, n_ - first);
    read_block(first, count);
    offset_block.clear();
    for (std::uint64_t k = 0; k < count; ++k) {
      offset_block.push_back(position);
      const std::uint64_t bytes = extents[2 * k + 1];
      if (buffer.size() + bytes > settings_.buffer_bytes && !buffer.empty()) flush_values();
      const std::size_t at = buffer.size();
      buffer.resize(at + bytes);
      if (bytes > 0) values_file.pread_all(std::as_writable_bytes(std::span(buffer.data() + at, bytes)), extents[2 * k]);
      position += bytes / value_bytes;
    }
    write_rows(file, offsets, offsets_path, io::detail::native_uint64(), offset_dims, first, count, offset_block.data());
  }
  if (!buffer.empty()) flush_values();
  const std::uint64_t end = position;
  write_rows(file, offsets, offsets_path, io::detail::native_uint64(), offset_dims, n_, 1, &end);
}

void h5_row_store::commit() {
  close_row_files();
  sync_path(paths_.partial());
  try {
    rename_file(paths_.partial(), paths_.final_path);  // and its directory synced
  } catch (const file_error& e) {
    throw file_error(std::string(e.what()) + " (the finished file is kept under the first name)", e.error_number());
  }
  journal_.reset();
  paths_.remove_work_files();
}

}  // namespace plx::detail
