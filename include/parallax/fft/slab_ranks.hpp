/// @file
/// The ranks a slab-decomposed box is spread over: a communicator's, or none. A box with no communicator is a
/// serial box: the whole grid in one thread's memory, laid out exactly as the 1-rank slab (see slab.hpp), so
/// every kernel that visits planes or modes works on it unchanged. Sums over a serial box run over its planes
/// in order, the same additions as ordered_plane_sum on any number of ranks, and nothing touches MPI: a serial
/// box is what a map task uses (tasks run on OpenMP threads, which must not call MPI).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>

namespace plx::fft {

/// The ranks a slab-decomposed box is spread over: a communicator's, or none (a serial box).
class slab_ranks {
 public:
  /// The ranks of `comm` (which must outlive this object). Implicit: every distributed kernel that took a
  /// communicator takes its ranks.
  slab_ranks(const communicator& comm) noexcept : comm_(&comm) {}  // NOLINT(google-explicit-constructor)
  /// No ranks: a serial box, held whole by the calling thread.
  [[nodiscard]] static slab_ranks serial() noexcept { return slab_ranks(); }

  /// Whether the box is serial: whole in one thread's memory, no MPI.
  [[nodiscard]] bool is_serial() const noexcept { return comm_ == nullptr; }
  /// The communicator; only for a box that is not serial.
  [[nodiscard]] const communicator& comm() const noexcept { return *comm_; }

 private:
  slab_ranks() = default;
  const communicator* comm_ = nullptr;
};

/// `width` totals of per-plane partial sums `local` (width values per plane, planes in order), added plane by
/// plane from 0.0: the serial loop that ordered_plane_sum continues across ranks. Pure; thread-safe.
[[nodiscard]] std::vector<double> serial_plane_sum(std::span<const double> local, std::size_t width);

/// Adds the planes of `local` to `total` (width = total.size()), plane by plane in order. Pure.
void add_planes(std::span<double> total, std::span<const double> local);

/// Collective unless serial: ordered_plane_sum over the ranks of `ranks`, or serial_plane_sum for a serial
/// box (no MPI). Bitwise the same totals either way for the same global planes.
[[nodiscard]] std::vector<double> ordered_plane_sum(const slab_ranks& ranks, std::span<const double> local,
                                                    std::size_t width, std::size_t max_chunk = detail::max_mpi_count);

}  // namespace plx::fft
