#include <parallax/core/detail/fault_injection.hpp>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include <parallax/core/communicator.hpp>

namespace plx::detail {

namespace {

struct armed_site {
  std::string site;
  int skip = 0;
  int fail = 0;
};

std::mutex sites_mutex;
std::vector<armed_site> sites;        // guarded by sites_mutex
std::atomic<bool> any_armed{false};   // fast path: nothing armed
std::once_flag environment_read;

// PLX_FAULT=site[@rank][:count][,after=k]
void arm_from_environment() {
  const char* text = std::getenv("PLX_FAULT");
  if (text == nullptr || *text == '\0') return;
  std::string spec = text;
  int after = 0;
  if (const auto comma = spec.find(",after="); comma != std::string::npos) {
    after = std::atoi(spec.c_str() + comma + 7);
    spec.resize(comma);
  }
  int count = 1;
  if (const auto colon = spec.find(':'); colon != std::string::npos) {
    count = std::atoi(spec.c_str() + colon + 1);
    spec.resize(colon);
  }
  if (const auto at = spec.find('@'); at != std::string::npos) {
    const int rank = std::atoi(spec.c_str() + at + 1);
    spec.resize(at);
    if (rank != world_rank_or_zero()) return;
  }
  arm_fault(spec, count, after);
}

}  // namespace

void arm_fault(const std::string& site, int count, int after) {
  std::lock_guard lock(sites_mutex);
  sites.push_back({site, after, count});
  any_armed.store(true, std::memory_order_release);
}

void disarm_faults() {
  std::lock_guard lock(sites_mutex);
  sites.clear();
  any_armed.store(false, std::memory_order_release);
}

bool fault_point(const char* site) noexcept {
  std::call_once(environment_read, arm_from_environment);
  if (!any_armed.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(sites_mutex);
  for (armed_site& armed : sites) {
    if (armed.fail <= 0 || armed.site != site) continue;
    if (armed.skip > 0) {
      --armed.skip;
      return false;
    }
    --armed.fail;
    return true;
  }
  return false;
}

}  // namespace plx::detail
