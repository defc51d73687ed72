/// @file
/// The deformation tensor T_ij = d_i d_j phi of the potential, and the cosmic-web class of every cell by its
/// eigenvalues (Zel'dovich's criterion, the "T-web" of Hahn et al. 2007): a cell where k eigenvalues exceed a
/// threshold collapses along k axes. In 3D class 0 is a void, 1 a sheet, 2 a filament, 3 a knot; in 2D 0 a
/// void, 1 a filament, 2 a node. For a Gaussian field and threshold 0 the 3D fractions are Doroshkevich's
/// (1970): 8%, 42%, 42%, 8% (0.0797, 0.4203, 0.4203, 0.0797 by a Monte Carlo of 4 million tensors); in 2D
/// (1 - 1/sqrt 3)/2, 1/sqrt 3, (1 - 1/sqrt 3)/2 = 21%, 58%, 21%.
///
/// phi is the potential plx-cosmo writes (phi_k = -delta_k / k^2), so the trace of T, the sum of the
/// eigenvalues, is the Laplacian of phi: the density contrast delta, cell by cell.
///
/// Components are stored as the upper triangle row by row: (0,0), (0,1), ..., (0,d-1), (1,1), ..., (d-1,d-1);
/// in 3D xx xy xz yy yz zz (tensor_component gives the index). Cells are in the slab order of slab.hpp, the
/// order of plx-cosmo's /density: a rank's eigenvalues are its cells x d values, C order, components last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <parallax/fft/field.hpp>
#include <parallax/fft/slab_ranks.hpp>
#include <parallax/fft/transforms.hpp>
#include <parallax/io/hdf5_file.hpp>

namespace plx::cosmo {

/// Independent components of T in `dim` dimensions: dim (dim + 1) / 2 (3 in 2D, 6 in 3D).
[[nodiscard]] constexpr int tensor_components(int dim) noexcept { return dim * (dim + 1) / 2; }

/// The index of component (i, j) (either order) in the upper triangle row by row: 3D (0,0) 0, (0,1) 1,
/// (0,2) 2, (1,1) 3, (1,2) 4, (2,2) 5.
[[nodiscard]] constexpr int tensor_component(int dim, int i, int j) noexcept {
  if (i > j) return tensor_component(dim, j, i);
  return i * dim - i * (i - 1) / 2 + (j - i);
}

/// Collective unless serial (the transforms). T_ij = d_i d_j phi, one real-space field per component (in
/// tensor_component order) in box units, from the potential in Fourier space, ready to invert (phi_k / N^d):
/// `components` has tensor_components(dim) fields, and the last one holds phi_k on entry (it becomes T_dd,
/// as displacement_from_fourier_potential does). d (d + 1) / 2 inverse transforms. T_ij,k = -k_i k_j phi_k;
/// for i != j a Nyquist frequency of i or j (even N) is zeroed, since i k there has no real counterpart (as
/// for the displacement), while T_ii keeps it (-k_i^2 is real), so the trace is exactly -k^2 phi_k = delta_k.
/// Throws plx::error when the number of fields is not tensor_components(dim).
void deformation_from_fourier_potential(const fft::transforms& plans, std::span<fft::field* const> components,
                                        double box);

/// The eigenvalues and classes of a rank's cells.
struct web_classes {
  int dim = 0;             ///< 2 or 3: eigenvalues per cell
  double threshold = 0;    ///< an eigenvalue above it counts as collapsing along its axis
  std::vector<double> eigenvalues;    ///< local cells x dim, slab order, each cell's sorted descending
  std::vector<std::uint8_t> classes;  ///< local cells: how many eigenvalues exceed the threshold
  /// dim + 1 counts of cells per class: over the whole box once deformation_classes returns (every rank),
  /// over this rank's cells from classify_cells.
  std::vector<std::int64_t> class_counts;
  /// class_counts / N^d (whole box; empty from classify_cells).
  std::vector<double> class_fraction;
};

/// Eigenvalues of T (Eigen's SelfAdjointEigenSolver, the closed form computeDirect for 2x2 and 3x3) and
/// class at every cell of the fields' slab, OpenMP threads over the planes. The closed form is exact to
/// round-off for distinct eigenvalues and in their sum, but resolves a (nearly) repeated eigenvalue only to
/// about sqrt(eps) ~ 1e-8 of the largest |eigenvalue|: a cell that close to the threshold may be classed
/// either way. `components` as
/// deformation_from_fourier_potential leaves them (real space). Counts are this rank's. Not collective;
/// the result is bitwise the same for any number of threads.
[[nodiscard]] web_classes classify_cells(std::span<const fft::field* const> components, double threshold);

/// Collective unless serial. The whole stage from the real-space potential (as plx-cosmo writes /potential):
/// one forward transform, the tensor (deformation_from_fourier_potential), the eigenvalues and classes
/// (classify_cells), and the counts summed over the ranks (integers: exact, so the same for any layout).
/// `potential` is used as scratch and holds T_dd afterwards; `plans` must transform fields of its geometry.
/// Bitwise the same eigenvalues for any ranks x threads with plans made by fft::plan_mode::estimate. A
/// failure of the counts' reduction on any rank throws on every rank (plx::io_error).
[[nodiscard]] web_classes deformation_classes(const fft::slab_ranks& ranks, const fft::transforms& plans,
                                              fft::field& potential, double box, double threshold);

/// Collective. Writes `web` into `file` by slabs (every rank its own cells, collective MPI-IO):
/// - `/deformation/eigenvalues`, float64, shape (N, ..., N, dim): /density's shape with the eigenvalues last;
/// - `/deformation/class`, uint8, /density's shape, with the attributes `threshold` (float64) and
///   `class_fraction` (float64[dim + 1]: entry k is the fraction of cells with k eigenvalues above the
///   threshold).
/// `geometry` is the slab the cells came from. Throws plx::io_error on every rank if a write fails on any.
void write_deformation(io::h5_file& file, const fft::slab_geometry& geometry, const web_classes& web);

/// Collective. Units, meanings and named dimensions of write_deformation's datasets, for xarray: the grid
/// scales /x, /y (, /z) of cosmo::write_grid_scales in `length` units (box `box`) and /eigenvalue (0 is the
/// largest) as the eigenvalues' last axis.
void describe_deformation(io::h5_file& file, int dim, std::ptrdiff_t n, double box, const std::string& length);

}  // namespace plx::cosmo
