/// @file
/// XDMF sidecar files: a small XML text that tells ParaView and VisIt how to read the grids in an HDF5
/// file written by parallax (open the .xmf in ParaView with the "Xdmf3 Reader").
///
/// The grid is uniform: a periodic box of side L with N cells per side in 2D or 3D, origin 0, spacing L/N
/// (XDMF topology 2DCoRectMesh/3DCoRectMesh, geometry ORIGIN_DXDY/ORIGIN_DXDYDZ). Fields are node-centred
/// (Center="Node") on N points per side: the value of cell (i, j, k) is drawn at the point (i, j, k) * L/N,
/// its lower corner, so the shown box spans [0, L - L/N] per axis (the periodic image at L is not repeated).
/// Point data keeps the array shape of the HDF5 dataset (cell data would need N + 1 points per side) and
/// is what contour, glyph and probe filters work on directly.
///
/// Axes: XDMF lists dimensions slowest first, like HDF5's C order, so a dataset (N0, N1, N2) is
/// "N0 N1 N2" and ParaView's x axis runs along the LAST array index (z along dim 0, the slab-split one).
/// Vector fields are datasets (N, N[, N], d) with the d = 2 or 3 components last. In 3D they become one
/// AttributeType="Vector" whose component 0 ParaView shows as x: a field whose component a points along
/// array dim a therefore appears with x and z swapped (store components in reverse order if glyph
/// directions matter). ParaView vectors have 3 components, so a 2D vector field becomes one scalar
/// attribute per component, "<name>_0" and "<name>_1" (component a of the dataset), each a HyperSlab of it.
///
/// The text refers to the HDF5 file by its base name ("run.h5:/density"): keep the .xmf beside it, and
/// pass the final name, not atomic_output's temporary one.
///
/// Generating the text is pure (no MPI, no files); write_xdmf_file() puts it on disk.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace plx::io {

/// The uniform grid the fields live on.
struct xdmf_grid {
  int dimensions = 3;              ///< 2 or 3
  std::size_t cells_per_side = 0;  ///< N
  double box_size = 1.0;           ///< L, in the run's length unit (e.g. Mpc/h)
};

/// A field stored as one float64 dataset of the HDF5 file.
struct xdmf_field {
  std::string name;     ///< the name ParaView shows, e.g. "density"
  std::string dataset;  ///< absolute path in the HDF5 file, e.g. "/frames/003/density"
  /// false: a scalar, shape (N, N[, N]); true: one component per grid dimension, shape (N, N[, N], d).
  bool vector = false;
};

/// One time step of a series.
struct xdmf_frame {
  double time = 0.0;  ///< in the run's time unit (e.g. scale factor); ParaView sorts frames by it
  std::vector<xdmf_field> fields;  ///< the datasets of this time (each under its own HDF5 path)
};

/// XDMF 3 text describing the HDF5 file `h5_path` (only its base name is written): a uniform grid named
/// "fields" carrying `fields` (if any), and a temporal collection named "frames" with one grid per frame
/// (if any); ParaView shows them as two blocks. Throws plx::config_error for an invalid description
/// (dimensions not 2 or 3, N = 0, L not positive, a relative dataset path, an empty name, a ':' in the
/// file name, a non-finite time, nothing to describe).
[[nodiscard]] std::string xdmf_document(const xdmf_grid& grid, const std::string& h5_path,
                                        std::span<const xdmf_field> fields,
                                        std::span<const xdmf_frame> frames = {});

/// The sidecar's conventional name: `h5_path` with its extension replaced by ".xmf" ("out/run.h5" ->
/// "out/run.xmf"; ParaView and VisIt recognise .xmf and .xdmf alike).
[[nodiscard]] std::string xdmf_path_for(const std::string& h5_path);

/// Writes xdmf_document(grid, h5_path, fields, frames) to `xdmf_path` through a temporary file in the same
/// directory and a rename, so readers never see half a file. Not collective: call it on one rank (root),
/// after the HDF5 file has its final name. Throws plx::config_error as above, plx::io_error naming the path.
void write_xdmf_file(const std::string& xdmf_path, const std::string& h5_path, const xdmf_grid& grid,
                     std::span<const xdmf_field> fields, std::span<const xdmf_frame> frames = {});

}  // namespace plx::io
