/// @file
/// Checkpointed maps: a map whose results persist on root as they arrive, so that a run stopped at any
/// instant (a time limit, kill -9, a crash) is resumed by calling it again with the same file: only the
/// items missing from the file are computed. The same mechanism as the task farm's journal, for results.
///
/// It shares its journal (checkpoint_log) and its resume (dist/detail/resumable_map.hpp) with map_to_h5,
/// which writes the results into an HDF5 file instead of keeping them: use map_to_h5 when the results do
/// not fit in root's memory or should end in HDF5; this one takes any payload type (strings, variants) and
/// returns every result on root.
///
/// @code
///   auto r = plx::checkpointed_map(rt.world(), 100'000, simulate, "sims.ckpt");   // run again after a stop
/// @endcode
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/detail/checkpoint_log.hpp>
#include <parallax/dist/detail/index_ranges.hpp>
#include <parallax/dist/detail/resumable_map.hpp>
#include <parallax/dist/map.hpp>

namespace plx {

/// Collective. Ordered map over [0, n) (results on root, in order, as plx::map) whose results are appended
/// to the checkpoint file `path` on root as they arrive, durable within map_options::commit_window (5 ms:
/// the results of one window share one fdatasync), and all of them before the call returns; items already
/// in the file are not computed again. A file of another map (other n or result type) is refused with
/// plx::config_error. Failures follow the fail-fast policy; everything finished before the failure is written
/// to the file.
template <class Fn>
auto checkpointed_map(const communicator& comm, std::size_t n, Fn&& fn, const std::string& path,
                      const map_options& options = {}) {
  static_assert(std::invocable<Fn&, std::size_t>,
                "plx::checkpointed_map: the task must be callable as fn(std::size_t index)");
  using Result = detail::index_result_t<Fn>;
  detail::require_result_payload<Result>();
  std::unique_ptr<detail::checkpoint_log> log;
  std::vector<Result> results;
  detail::index_ranges missing;
  std::string problem;
  if (comm.is_root()) {
    try {
      log = std::make_unique<detail::checkpoint_log>(path, n, typeid(Result).name());
      results.resize(n);
      std::vector<std::uint64_t> done;
      done.reserve(log->existing().size());
      for (const auto& r : log->existing()) {
        results[r.index] = detail::decode_from<Result>(r.bytes);
        done.push_back(r.index);
      }
      missing = detail::index_ranges::of_indices(std::move(done)).complement(n);
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  // Root's verdict and the missing items, on every rank.
  detail::broadcast_from_root(comm, problem);
  if (!problem.empty()) throw detail::collective(config_error(problem));
  missing = detail::share_missing(comm, missing);

  const bool grouped = options.commit_window.count() > 0;
  detail::map_missing(
      comm, missing, fn,
      [&](std::size_t index, Result&& value) {
        std::vector<char> bytes;
        detail::encode_into(bytes, value);
        if (grouped) {
          log->append_grouped(index, bytes, options.commit_window);  // durable within the window
        } else {
          log->append(index, bytes);  // durable now
        }
        results[index] = std::move(value);
      },
      options);
  // Every result durable before any is returned; a failure here is root's alone, so agreed on every rank.
  detail::on_all_ranks(comm, [&] {
    if (log) log->flush();
  });
  return results;
}

}  // namespace plx
