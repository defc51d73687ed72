// Files that a signal handler removes: the unfinished outputs of a run that SIGINT or SIGTERM ends. An
// app's handler cannot run destructors, but it can call unlink(2), which is async-signal-safe. The owner
// of a temporary file registers its path while the file is unfinished and unregisters it once the file
// is committed (renamed to its final name), kept on purpose, or removed; the handler removes whatever is
// registered at that instant (plx::app's stop signals, src/app/stop_signals.cpp).
//
//   plx::detail::register_removal_on_signal("out.h5.tmp.node1.4242-9f3a");   // after creating it
//   ... write, rename ...
//   plx::detail::unregister_removal_on_signal("out.h5.tmp.node1.4242-9f3a"); // after the rename
//
// A fixed table of slots with lock-free states (no allocation or lock that a handler could meet half
// done). A path that does not fit, or a full table, is not registered: the file is then left for the next
// run's stale-temporary sweep (io::atomic_output), never a reason to fail the run.
#pragma once

#include <string>

namespace plx::detail {

/// Registers `path` for removal by remove_registered_files(). Thread-safe. Returns false when it could not
/// (no free slot, or a path longer than PATH_MAX).
bool register_removal_on_signal(const std::string& path) noexcept;
/// Forgets `path` (its first registration); nothing happens if it is not registered. Thread-safe.
void unregister_removal_on_signal(const std::string& path) noexcept;
/// True while `path` is registered. Thread-safe.
[[nodiscard]] bool is_registered_for_removal(const std::string& path) noexcept;
/// Unlinks every registered path and forgets it. Async-signal-safe (only atomics and unlink(2)); returns
/// how many it removed.
int remove_registered_files() noexcept;

}  // namespace plx::detail
