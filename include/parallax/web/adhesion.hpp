/// @file
/// The adhesion model of the cosmic web: where the mass of a Zel'dovich flow has gone once streams cross.
///
/// Each Lagrangian grid point q carries the weight w = 2 D phi(q) (D the growth factor, phi plx-cosmo's
/// /potential). The regular (weighted Delaunay) triangulation of these weighted points is the lower convex
/// hull of the lifted points (q, |q|^2 - w). Every simplex of it is a node (a cluster candidate): its
/// Eulerian position is its power vertex, the point with equal power distance |x - q_i|^2 - w_i to its
/// d + 1 vertices, which tends to Zel'dovich's x = q - D grad phi as D -> 0 (plx-cosmo's displacement is
/// -grad phi of the same /potential), and its mass is its Lagrangian area (2D) or volume (3D). Faces
/// between two simplices are filaments: the segment between the two simplices' power vertices (the dual
/// edge of the power diagram), weighted by the face's Lagrangian length (2D, a Delaunay edge) or area (3D,
/// a Delaunay triangle).
///
/// Units: positions in box units, wrapped into [0, L); masses in cells (one cell = (L/N)^d), so the
/// masses of all simplices of one time sum to N^d exactly. The box is periodic: each periodic simplex and
/// face is counted once.
///
/// Index conventions: `potential` is the whole real-space grid in C order (axis 0 slowest), the value at
/// index (i, j[, k]) being phi at q = (i, j[, k]) * L / N, as plx-cosmo writes /potential. Vectors of
/// points are row-major k x dim: node_position[3 * s + 1] is the y of node s in 3D.
///
/// @code
///   auto web = plx::web::adhesion(2, 64, 50.0, phi, 2.0, {});      // one time, D = 2
///   // web.node_position.size() == 2 * web.node_mass.size(); web.total_mass == 64 * 64
/// @endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/dist/options.hpp>
#include <parallax/io/hdf5_file.hpp>

namespace plx::web {

/// Which structures are stored (all are counted in total_mass). A structure is stored when its mass is at
/// least the minimum; the defaults (0) store everything.
struct adhesion_options {
  double min_node_mass = 0;      ///< cells (area in 2D, volume in 3D); plx-web's --min-node-mass
  double min_filament_mass = 0;  ///< cells (length in 2D, area in 3D); plx-web's --min-filament-mass
};

/// The nodes and filaments of one time.
struct adhesion_structures {
  int dim = 0;                                ///< 2 or 3
  double time = 0;                            ///< growth factor D
  std::vector<double> node_position;          ///< k x dim, row-major, box units, wrapped into [0, L)
  std::vector<double> node_mass;              ///< k, Lagrangian measure in cell units
  /// k x dim each: a inside the box, b - a the short periodic vector from one power vertex to the other.
  /// Orientation (reproducible by other codes): with the face's vertices in lexicographic order of their
  /// grid coordinates (u < v [< w]), a belongs to the simplex whose remaining vertex p lies on the positive
  /// side: det(v - u, p - u) > 0 in 2D, det(v - u, w - u, p - u) > 0 in 3D.
  std::vector<double> filament_a, filament_b;  ///< the other end of each filament: see filament_a
  std::vector<double> filament_mass;          ///< 2D: the Delaunay edge's length, 3D: the triangle's area (cells)
  double total_mass = 0;                      ///< the masses of ALL simplices, stored or not: N^dim
  /// The node mass function: how many nodes (ALL simplices, stored or not) fall in each mass bin, bin b
  /// holding the masses m (cells) with floor(10 log10(m dim!)) = b: ten bins per decade from the smallest
  /// simplex's 1/dim! cell (mass_function_bins(dim, n) of them). Whole numbers, kept as doubles.
  std::vector<double> mass_count;

  /// cereal's hook: lets the map layer carry the structures between ranks (see dist/payload.hpp).
  template <class Archive>
  void serialize(Archive& archive) {
    archive(dim, time, node_position, node_mass, filament_a, filament_b, filament_mass, total_mass, mass_count);
  }
};

/// The bins of adhesion_structures::mass_count for an N^dim grid: up to the whole box's mass,
/// floor(10 log10(dim! N^dim)) + 1.
[[nodiscard]] std::size_t mass_function_bins(int dim, std::ptrdiff_t n);

/// The adhesion structures of the potential `potential` (n^dim values, C order, box units, as plx-cosmo's
/// /potential) at growth factor `growth`, in a periodic box of side `box`, dim 2 or 3.
///
/// Exact predicates (CGAL) decide the triangulation, so the fully degenerate grid at growth 0 is handled;
/// periodicity comes from ghost copies of a margin around the box, grown until every simplex that touches
/// the box is proven right (no ghost outside the margin could change it). At growth 0 (every weight equal)
/// the grid is fully degenerate: CGAL's symbolic perturbation (points ordered lexicographically, which
/// periodic translations keep) picks one triangulation, the same in every copy and every domain.
///
/// Rows are in a canonical order: nodes by their simplex's vertices, filaments by their face's vertices,
/// each vertex list sorted lexicographically (grid coordinates), then compared lexicographically. The order
/// and every bit of every value are the same whatever the domains, threads and ranks that computed them.
///
/// Pure (no MPI) and thread-safe: it may run in several threads at once (the map layer's tasks).
/// @throws plx::config_error for dim not 2 or 3, n < 2, a potential of another size, a box that is not
///         positive, a growth factor that is negative or not finite, or a non-finite potential value;
///         std::bad_alloc when the ghost grid does not fit in memory.
adhesion_structures adhesion(int dim, std::ptrdiff_t n, double box, std::span<const double> potential, double growth,
                             const adhesion_options& options);

/// adhesion() of one spatial domain: the slab of grid planes domain_planes(n, index, count) along axis 0,
/// triangulated with its own periodic ghost margin. It holds the nodes and filaments whose lowest vertex (in
/// grid coordinates) lies in its planes, in the canonical order, and their total mass; join_domains() of all
/// Hears each stage of adhesion_domain() as it starts, e.g. "triangulating 1234567 points (margin 9)".
using adhesion_stage_callback = std::function<void(const std::string& stage)>;
/// `count` domains of one time, in index order, is bitwise adhesion() of the whole box. A domain costs the
/// memory of its planes and their margin, not the box's: domains split one time over threads and ranks.
/// `on_stage`, when given, hears each stage as it starts (for a progress line: a 3D domain takes minutes),
/// e.g. "triangulating 1234567 points (margin 9)", "margin 9 too small: inserting the shell to 14",
/// "building the structures"; it is called on the calling thread.
/// @throws what adhesion() throws, and plx::config_error for an index or count that does not fit n planes.
adhesion_structures adhesion_domain(int dim, std::ptrdiff_t n, double box, std::span<const double> potential,
                                    double growth, const adhesion_options& options, int index, int count,
                                    const adhesion_stage_callback& on_stage = {});

/// The grid planes [first, last) along axis 0 of domain `index` of `count` (as even as integers allow).
/// @throws plx::config_error unless 0 <= index < count <= n.
[[nodiscard]] std::pair<std::ptrdiff_t, std::ptrdiff_t> domain_planes(std::ptrdiff_t n, int index, int count);

/// The domains of one time (adhesion_domain, index 0, 1, ...) as one: their rows one after the other, and
/// the total mass summed exactly.
adhesion_structures join_domains(std::vector<adhesion_structures> parts);

/// Collective. The adhesion structures at each of `times` (growth factors), written into `file` as
///   /adhesion/NNN/nodes/position     (k x dim)      NNN = the time's index, 3 digits (000, 001, ...)
///   /adhesion/NNN/nodes/mass         (k)
///   /adhesion/NNN/filaments/a, /b    (k x dim)
///   /adhesion/NNN/filaments/mass     (k)
///   /adhesion/NNN/mass_function/count       (B)      adhesion_structures::mass_count
///   /adhesion/NNN/mass_function/log10_mass  (B + 1)  the bins' edges: log10 of the mass in cells
///   /adhesion/NNN/mass_function/dn_dlog10m  (B)      count / (0.1 box^dim): nodes per box unit^dim per dex
/// with the attributes `time` and `total_mass` on /adhesion/NNN.
///
/// Every rank passes the same arguments (each rank read the potential once). Each time is cut into `domains`
/// spatial domains (adhesion_domain; 0: as many as needed for every worker to have one when there are fewer
/// times than workers, else 1), and the (time, domain) tasks go out dynamically over the ranks and their
/// threads through the map layer (plx::map with `map`: progress, label, timeout, threads), in batches of
/// about twice the workers (ranks x threads), whole times each. Each rank keeps the structures it computed and
/// writes their rows itself, at offsets from the summaries (row counts, masses) that root gathers and
/// shares, before the next batch starts: no rank holds more than its own tasks of one batch, and no O(N^d)
/// structure moves between ranks. The file is the same, bit for bit, for any ranks, threads and domains.
/// @throws plx::config_error (every rank) for bad arguments, as adhesion() does, and for domains outside
///         [0, n] (checked before any work); plx::task_error (every rank) when a time fails on any rank; plx::io_error (every
///         rank) when a write fails on any rank.
void write_adhesion_times(const communicator& comm, int dim, std::ptrdiff_t n, double box,
                          std::span<const double> potential, std::span<const double> times,
                          const adhesion_options& options, io::h5_file& file, const map_options& map = {},
                          int domains = 0);

/// Collective. The `units` and `long_name` attributes of every dataset write_adhesion_times wrote for
/// `times` times (lengths in `length` units, masses in cells), for xarray and other readers.
void describe_adhesion(io::h5_file& file, int dim, std::size_t times, const std::string& length);

/// The benchmark floor of the adhesion model (plx-bench web): seconds of CGAL's own serial regular
/// triangulation (the same kernel and data structure as adhesion()) of `count` weighted points, uniformly
/// random in a cube (square) of unit point density, weights uniform in [0, 0.5), inserted in one range (CGAL
/// sorts them spatially). The time of the insertion only, not of drawing the points.
[[nodiscard]] double regular_triangulation_floor_seconds(int dim, std::size_t count, std::uint64_t seed);

/// The domains per time that write_adhesion_times makes of `domains` = 0: with fewer times than workers, enough
/// for every worker to have a task (at most n), else 1.
[[nodiscard]] int adhesion_domains_for_workers(std::ptrdiff_t n, std::size_t times, std::uint64_t workers);

/// The weighted points of one domain's first triangulation (its planes and its first ghost margin) at growth
/// factor `growth`, for a potential whose values span `potential_range` (max - min, box units): what a
/// (time, domain) task of write_adhesion_times holds, before a margin that proves too small grows.
[[nodiscard]] double adhesion_domain_points(int dim, std::ptrdiff_t n, double box, double potential_range,
                                            double growth, int domains);

/// plx-web's estimated peak memory on one rank, bytes, for an N^dim input: its share of the node's one copy
/// of the whole potential (`ranks_on_node` share it), the deformation stage's slab fields (`slab_doubles`:
/// fft::slab_geometry::alloc_doubles() of the rank's slab, one per tensor component) and, per thread, the
/// adhesion model's triangulation of `domain_points` weighted points (adhesion_domain_points of the largest
/// time; 0 without the adhesion model) and the structures of about two tasks of `domains_per_time` kept until
/// their batch is written (write_adhesion_times).
[[nodiscard]] double web_memory_estimate_bytes(int dim, std::ptrdiff_t n, std::ptrdiff_t slab_doubles, int threads,
                                               int ranks_on_node, double domain_points, int domains_per_time = 1);

}  // namespace plx::web
