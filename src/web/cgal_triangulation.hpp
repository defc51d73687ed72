// Private to src/web: what the 2D and 3D CGAL triangulations share, as templates over the triangulation
// type, included only by the two files that include CGAL: the ghost points inserted shell by shell, the
// simplices handed back as a simplex_list, and the benchmark floor.
#pragma once

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "regular_triangulation.hpp"

namespace plx::web::detail {

/// The finite simplices of `rt` with an owned vertex, numbered through their `info()` (an index, or -1).
/// `finite` ranges over the finite faces (2D) or cells (3D) and [first, last) over all of them.
template <class Triangulation, class FiniteRange, class AllIterator>
simplex_list touching_simplices(const Triangulation& rt, const ghost_grid& grid, const FiniteRange& finite,
                                AllIterator first, AllIterator last) {
  const int per = grid.dim + 1;
  std::vector<std::ptrdiff_t> c(static_cast<std::size_t>(grid.dim));
  for (; first != last; ++first) first->info() = -1;
  std::int64_t count = 0;
  for (const auto simplex : finite) {
    for (int v = 0; v < per; ++v) {
      grid.coordinates(simplex->vertex(v)->info(), c);
      if (grid.is_owned(c)) {
        simplex->info() = count++;
        break;
      }
    }
  }
  simplex_list out;
  out.dim = grid.dim;
  out.vertex.reserve(static_cast<std::size_t>(count * per));
  out.neighbor.reserve(static_cast<std::size_t>(count * per));
  for (const auto simplex : finite) {
    if (simplex->info() < 0) continue;
    // CGAL's convention, in 2D and 3D alike: neighbor(v) is across the face opposite vertex(v).
    for (int v = 0; v < per; ++v) {
      out.vertex.push_back(simplex->vertex(v)->info());
      const auto other = simplex->neighbor(v);
      out.neighbor.push_back(rt.is_infinite(other) ? -1 : other->info());
    }
  }
  return out;
}

/// The weighted point at `x` (dim 2 or 3) of weight `w`.
template <class Triangulation, std::size_t Dim>
typename Triangulation::Weighted_point weighted_point(const std::array<double, Dim>& x, double w) {
  using bare = typename Triangulation::Bare_point;
  if constexpr (Dim == 2) {
    return {bare(x[0], x[1]), w};
  } else {
    return {bare(x[0], x[1], x[2]), w};
  }
}

/// The ghost points of `grid` that lie outside the extended range of margin `inserted` (all of them when
/// `inserted` < 0), into `rt` in one range (CGAL sorts them spatially), with their ids as the vertices' info.
template <class Triangulation, std::size_t Dim>
void insert_ghost_points(Triangulation& rt, const ghost_grid& grid, std::ptrdiff_t inserted) {
  std::vector<std::pair<typename Triangulation::Weighted_point, std::int64_t>> points;
  points.reserve(grid.point_count());
  std::array<std::ptrdiff_t, Dim> c{};
  for (std::size_t a = 0; a < Dim; ++a) c[a] = grid.lo(static_cast<int>(a));
  for (;;) {  // c runs over the extended range in C order, the last axis fastest
    if (inserted < 0 || !grid.within_margin(c, inserted)) {
      std::array<double, Dim> x{};
      for (std::size_t a = 0; a < Dim; ++a) x[a] = static_cast<double>(c[a]);
      points.emplace_back(weighted_point<Triangulation, Dim>(x, grid.weight_at(c)), grid.id(c));
    }
    std::size_t a = Dim;
    while (a > 0 && ++c[a - 1] == grid.hi(static_cast<int>(a - 1))) {
      c[a - 1] = grid.lo(static_cast<int>(a - 1));
      --a;
    }
    if (a == 0) break;
  }
  rt.insert(points.begin(), points.end());
}

/// See regular_triangulation_floor_seconds (<parallax/web/adhesion.hpp>).
template <class Triangulation, std::size_t Dim>
double random_triangulation_seconds(std::size_t count, std::uint64_t seed) {
  // Unit density: the points as dense as a grid's, with weights below half a cell squared (few hidden).
  const double side = std::pow(static_cast<double>(count), 1.0 / Dim);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, side);
  std::uniform_real_distribution<double> weight(0.0, 0.5);
  std::vector<std::pair<typename Triangulation::Weighted_point, std::int64_t>> points;
  points.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::array<double, Dim> x{};
    for (double& coordinate : x) coordinate = uniform(rng);
    points.emplace_back(weighted_point<Triangulation, Dim>(x, weight(rng)), static_cast<std::int64_t>(i));
  }
  const auto start = std::chrono::steady_clock::now();
  {
    Triangulation rt;
    rt.insert(points.begin(), points.end());
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace plx::web::detail
