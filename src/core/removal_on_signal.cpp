#include <parallax/core/detail/removal_on_signal.hpp>

#include <limits.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>

namespace plx::detail {

namespace {

// A slot's life: free -> filling (one registering thread owns it) -> armed -> free (unregistered) or
// removing (a handler took it) -> free. Only the thread that moved a slot out of `armed` touches its path.
enum slot_state : int { free_slot = 0, filling = 1, armed = 2, removing = 3 };

struct slot {
  std::atomic<int> state{free_slot};
  char path[PATH_MAX] = {};
};

// A run has one or two unfinished outputs at a time; 32 leaves room for library users with more.
constexpr std::size_t slot_count = 32;
std::array<slot, slot_count> slots;

static_assert(std::atomic<int>::is_always_lock_free, "a signal handler may only touch lock-free atomics");

}  // namespace

bool register_removal_on_signal(const std::string& path) noexcept {
  if (path.empty() || path.size() >= PATH_MAX) return false;
  for (slot& s : slots) {
    int expected = free_slot;
    if (!s.state.compare_exchange_strong(expected, filling)) continue;
    std::memcpy(s.path, path.c_str(), path.size() + 1);
    s.state.store(armed);
    return true;
  }
  return false;
}

void unregister_removal_on_signal(const std::string& path) noexcept {
  for (slot& s : slots) {
    if (s.state.load() != armed || path != s.path) continue;
    int expected = armed;
    if (s.state.compare_exchange_strong(expected, filling)) {
      s.path[0] = '\0';
      s.state.store(free_slot);
      return;
    }
  }
}

bool is_registered_for_removal(const std::string& path) noexcept {
  for (const slot& s : slots) {
    if (s.state.load() == armed && path == s.path) return true;
  }
  return false;
}

int remove_registered_files() noexcept {
  int removed = 0;
  for (slot& s : slots) {
    int expected = armed;
    if (!s.state.compare_exchange_strong(expected, removing)) continue;
    if (::unlink(s.path) == 0) ++removed;
    s.path[0] = '\0';
    s.state.store(free_slot);
  }
  return removed;
}

}  // namespace plx::detail
