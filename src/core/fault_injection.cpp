#include <parallax/core/detail/fault_injection.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>

namespace plx::detail {

namespace {

constexpr fault_site mpi_site(const char* name) {
  return {name, fault_kind::mpi, 0, "this MPI call fails with MPI_ERR_OTHER (after it completed; an exchange it starts: before it)"};
}

// Every site, the MPI calls last. A check_mpi name missing here is found by the registry test, which reads
// the sources (tests/core/fault_registry_test.cpp).
constexpr auto registry = std::to_array<fault_site>({
    fault_sites::checkpoint_write, fault_sites::h5map_write, fault_sites::hdf5_write, fault_sites::hdf5_read,
    fault_sites::hdf5_create, fault_sites::hdf5_close, fault_sites::hdf5_flush, fault_sites::output_sync,
    fault_sites::fs_open, fault_sites::fs_write, fault_sites::fs_read, fault_sites::fs_sync, fault_sites::fs_rename,
    fault_sites::fs_unlink, fault_sites::fs_truncate, fault_sites::fs_close, fault_sites::alloc_buffer,
    fault_sites::web_adhesion,
    mpi_site("MPI_Allgather"), mpi_site("MPI_Allgatherv"), mpi_site("MPI_Allreduce"), mpi_site("MPI_Alltoall"),
    mpi_site("MPI_Barrier"), mpi_site("MPI_Bcast"), mpi_site("MPI_Ibarrier"), mpi_site("MPI_Comm_create_keyval"), mpi_site("MPI_Comm_dup"),
    mpi_site("MPI_Comm_get_attr"), mpi_site("MPI_Comm_set_attr"), mpi_site("MPI_Comm_set_errhandler"),
    mpi_site("MPI_Comm_split"), mpi_site("MPI_Comm_split_type"), mpi_site("MPI_Fetch_and_op"),
    mpi_site("MPI_Gather"), mpi_site("MPI_Get"), mpi_site("MPI_Get_count"), mpi_site("MPI_Get_processor_name"),
    mpi_site("MPI_Improbe"), mpi_site("MPI_Init_thread"), mpi_site("MPI_Irecv"), mpi_site("MPI_Isend"),
    mpi_site("MPI_Mprobe"), mpi_site("MPI_Mrecv"), mpi_site("MPI_Recv"), mpi_site("MPI_Send"), mpi_site("MPI_Test"),
    mpi_site("MPI_Type_commit"), mpi_site("MPI_Type_contiguous"), mpi_site("MPI_Wait"), mpi_site("MPI_Waitall"),
    mpi_site("MPI_Win_allocate"), mpi_site("MPI_Win_allocate_shared"), mpi_site("MPI_Win_create"),
    mpi_site("MPI_Win_flush"), mpi_site("MPI_Win_lock_all"), mpi_site("MPI_Win_set_errhandler"),
    mpi_site("MPI_Win_shared_query"), mpi_site("MPI_Win_sync"),
});

// MPI calls that leave something in flight when they return (a matched message, a request, an RMA read into
// a buffer): a failure injected after them would leave that behind, which no real failure does (a failed call
// starts nothing). They fail before the call instead (check_mpi_before).
constexpr auto injected_before_the_call =
    std::to_array<std::string_view>({"MPI_Mprobe", "MPI_Improbe", "MPI_Irecv", "MPI_Isend", "MPI_Get", "MPI_Ibarrier"});

bool is_injected_before(std::string_view call) {
  for (const auto name : injected_before_the_call) {
    if (name == call) return true;
  }
  return false;
}

struct armed_site {
  std::string site;
  int skip = 0;
  int fail = 0;
  int error_number = 0;
};

std::mutex sites_mutex;
std::vector<armed_site> sites;             // guarded by sites_mutex
std::map<std::string, long long> passes;   // guarded by sites_mutex: every site's passes, while counting
std::string count_prefix;                  // guarded by sites_mutex: PLX_FAULT_COUNT
std::atomic<bool> any_armed{false};        // fast path: nothing armed
std::atomic<bool> counting{false};         // PLX_FAULT_COUNT is set
std::once_flag environment_read;

int parse_int(std::string_view text, std::string_view what) {
  int value = 0;
  const auto [end, failure] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (failure != std::errc() || end != text.data() + text.size() || value < 0) {
    throw config_error("PLX_FAULT: " + std::string(what) + " '" + std::string(text) + "' is not a whole number >= 0");
  }
  return value;
}

int parse_errno(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, int>, 5> names{
      {{"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EDQUOT", EDQUOT}, {"EFBIG", EFBIG}, {"EINTR", EINTR}}};
  for (const auto& [name, number] : names) {
    if (text == name) return number;
  }
  return parse_int(text, "errno");
}

// PLX_FAULT=site[@rank][:count][,after=k][,errno=NAME]
void arm_from_text(std::string spec) {
  int after = 0;
  int error_number = 0;
  for (auto comma = spec.rfind(','); comma != std::string::npos; comma = spec.rfind(',')) {
    const std::string option = spec.substr(comma + 1);
    if (option.starts_with("after=")) {
      after = parse_int(std::string_view(option).substr(6), "after");
    } else if (option.starts_with("errno=")) {
      error_number = parse_errno(std::string_view(option).substr(6));
    } else {
      throw config_error("PLX_FAULT: unknown option '" + option + "' (after=k or errno=NAME)");
    }
    spec.resize(comma);
  }
  int count = 1;
  if (const auto colon = spec.find(':'); colon != std::string::npos) {
    count = parse_int(std::string_view(spec).substr(colon + 1), "count");
    spec.resize(colon);
  }
  int rank = -1;
  if (const auto at = spec.find('@'); at != std::string::npos) {
    rank = parse_int(std::string_view(spec).substr(at + 1), "rank");
    spec.resize(at);
  }
  const fault_site* site = find_fault_site(spec);
  if (site == nullptr) throw config_error("PLX_FAULT: no fault site is called '" + spec + "'");
  if (rank < 0 || rank == world_rank_or_zero()) arm_fault(*site, count, after, error_number);
}

void read_environment() {
  if (const char* prefix = std::getenv("PLX_FAULT_COUNT"); prefix != nullptr && *prefix != '\0') {
    std::lock_guard lock(sites_mutex);
    count_prefix = prefix;
    counting.store(true, std::memory_order_release);
  }
  if (const char* text = std::getenv("PLX_FAULT"); text != nullptr && *text != '\0') arm_from_text(text);
}

// The environment, for programs without a plx::runtime (which reads it first, and reports a bad one).
void read_environment_quietly() noexcept {
  try {
    std::call_once(environment_read, read_environment);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parallax: warning: %s: nothing armed\n", e.what());
  }
}

// The armed failure of this pass of `name`, or 0; counts the pass. Returns -1 for a failure without errno.
int take_pass(const char* name, int default_errno) noexcept {
  read_environment_quietly();
  const bool count = counting.load(std::memory_order_acquire);
  if (!any_armed.load(std::memory_order_acquire) && !count) return 0;
  std::lock_guard lock(sites_mutex);
  if (count) {
    try {
      ++passes[name];
    } catch (...) {  // a count lost to memory: the sweep then under-counts, nothing fails
    }
  }
  for (armed_site& armed : sites) {
    if (armed.fail <= 0 || armed.site != name) continue;
    if (armed.skip > 0) {
      --armed.skip;
      return 0;
    }
    --armed.fail;
    if (armed.error_number != 0) return armed.error_number;
    return default_errno != 0 ? default_errno : -1;
  }
  return 0;
}

}  // namespace

std::span<const fault_site> all_fault_sites() noexcept { return registry; }

const fault_site* find_fault_site(std::string_view name) noexcept {
  for (const fault_site& site : registry) {
    if (name == site.name) return &site;
  }
  return nullptr;
}

void arm_fault(const fault_site& site, int count, int after, int error_number) {
  std::lock_guard lock(sites_mutex);
  sites.push_back({site.name, after, count, error_number});
  any_armed.store(true, std::memory_order_release);
}

void arm_fault(std::string_view name, int count, int after, int error_number) {
  const fault_site* site = find_fault_site(name);
  if (site == nullptr) throw std::invalid_argument("no fault site is called '" + std::string(name) + "'");
  arm_fault(*site, count, after, error_number);
}

void disarm_faults() {
  std::lock_guard lock(sites_mutex);
  sites.clear();
  any_armed.store(false, std::memory_order_release);
}

void arm_faults_from_environment() { std::call_once(environment_read, read_environment); }

std::string write_fault_counts() noexcept {
  if (!counting.load(std::memory_order_acquire)) return {};
  try {
    std::lock_guard lock(sites_mutex);
    const std::string path = count_prefix + "." + std::to_string(world_rank_or_zero());
    std::FILE* file = std::fopen(path.c_str(), "w");
    if (file == nullptr) return path + ": " + std::strerror(errno);
    for (const auto& [name, count] : passes) std::fprintf(file, "%s %lld\n", name.c_str(), count);
    if (std::fclose(file) != 0) return path + ": " + std::strerror(errno);
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

bool fault_point(const fault_site& site) noexcept { return take_pass(site.name, site.error_number) != 0; }

int injected_errno(const fault_site& site) noexcept {
  const int result = take_pass(site.name, site.error_number);
  return result < 0 ? EIO : result;
}

void allocation_point(const fault_site& site) {
  if (fault_point(site)) throw std::bad_alloc();
}

bool mpi_fault_point(const char* call) noexcept {
  if (is_injected_before(call)) return false;  // counted and armed by mpi_fault_before
  return take_pass(call, 0) != 0;
}

bool mpi_fault_before(const char* call) noexcept { return is_injected_before(call) && take_pass(call, 0) != 0; }

bool leaves_operation_in_flight(const char* call) noexcept { return is_injected_before(call); }

}  // namespace plx::detail
