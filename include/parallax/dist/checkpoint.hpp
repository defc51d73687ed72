// Checkpointed maps: a map whose results persist on root as they arrive, so that a run stopped at any
// instant (a time limit, kill -9, a crash) is resumed by calling it again with the same file: only the
// items missing from the file are computed. The same mechanism as the task farm's journal, for results.
//
//   auto r = plx::checkpointed_map(rt.world(), 100'000, simulate, "sims.ckpt");   // run again after a stop
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include <mpi.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/detail/checkpoint_log.hpp>
#include <parallax/dist/map.hpp>

namespace plx {

/// Collective. Ordered map over [0, n) (results on root, in order, as plx::map) whose results are appended
/// to the checkpoint file `path` on root, durably, the moment they arrive; items already in the file are
/// not computed again. A file of another map (other n or result type) is refused with plx::config_error.
/// Failures follow the fail-fast policy; everything finished before the failure stays in the file.
template <class Fn>
auto checkpointed_map(const communicator& comm, std::size_t n, Fn&& fn, const std::string& path,
                      const map_options& options = {}) {
  static_assert(std::invocable<Fn&, std::size_t>,
                "plx::checkpointed_map: the task must be callable as fn(std::size_t index)");
  using Result = detail::index_result_t<Fn>;
  detail::require_result_payload<Result>();
  std::unique_ptr<detail::checkpoint_log> log;
  std::vector<Result> results;
  std::vector<std::uint64_t> missing;
  std::string problem;
  if (comm.is_root()) {
    try {
      log = std::make_unique<detail::checkpoint_log>(path, n, typeid(Result).name());
      results.resize(n);
      std::vector<bool> have(n, false);
      for (const auto& r : log->existing()) {
        results[r.index] = detail::decode_from<Result>(r.bytes);
        have[r.index] = true;
      }
      for (std::uint64_t i = 0; i < n; ++i) {
        if (!have[i]) missing.push_back(i);
      }
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  // Root's verdict and the list of missing items, on every rank.
  detail::broadcast_from_root(comm, problem);
  if (!problem.empty()) throw detail::collective(config_error(problem));
  std::uint64_t count = missing.size();
  detail::check_mpi(MPI_Bcast(&count, 1, MPI_UINT64_T, 0, comm.native()), "MPI_Bcast");
  missing.resize(count);
  detail::check_mpi(MPI_Bcast(missing.data(), static_cast<int>(count), MPI_UINT64_T, 0, comm.native()), "MPI_Bcast");

  map_unordered(
      comm, missing.size(), [&](std::size_t k) { return std::invoke(fn, static_cast<std::size_t>(missing[k])); },
      [&](std::size_t k, Result&& value) {
        std::vector<char> bytes;
        detail::encode_into(bytes, value);
        log->append(missing[k], bytes);  // durable before it counts as done
        results[missing[k]] = std::move(value);
      },
      options);
  return results;
}

}  // namespace plx
