#!/usr/bin/python3
"""Render a `plx-web` HDF5 output file: the deformation classes and the adhesion model's movie (h5py +
matplotlib + Pillow).

Writes into the output directory:
- classes.png: /deformation/class as a categorical image (2D: the whole box; 3D: the slice z = INDEX), one
  colour per class (2D: void, filament, node; 3D: void, sheet, filament, knot), the legend giving each
  class's fraction of the whole box (the attribute class_fraction) and the threshold;
- web_NNN.png, one per time in /adhesion/NNN (the workshop's movie frames): the adhesion model's structures
  over the Zel'dovich density of that time (grey, logarithmic). Filaments are segments whose width and
  opacity grow with their mass; nodes are dots whose area grows with their mass. 3D files show a projected
  slab: structures and particles with z in [L/2, L/2 + SLAB L), seen along z;
- web.gif: those frames as an animated GIF, FPS frames per second, at half their size in 32 colours (the
  2D workshop run's 10 frames take 0.7 MB, not 1.7);
- mass_function.png: the adhesion nodes' mass function dn/dlog10 M per time (/adhesion/NNN/mass_function,
  D > 0), in 3D beside Press & Schechter's for the same realization: sigma(M) from the cosmology file's own
  linear density (delta_k = -k^2 phi_k, spherical top hat of Lagrangian radius R, M = 4/3 pi R^3 in cells),
  scaled by the growth factor, delta_c = 1.686.

The Zel'dovich density is computed here from the cosmology file's /potential (displacement -grad phi by the
spectral derivative plx-cosmo uses, particles moved to x = q + D Psi and counted per cell), so it exists at
every adhesion time. The cosmology file is the one named by the web file's `input` attribute (relative
paths also tried next to the web file), or --cosmo.

Run with the system python, for which ./bootstrap.sh installs Debian's python3-h5py and python3-matplotlib:

    /usr/bin/python3 apps/web/plot.py web.h5                # classes.png, web_NNN.png, web.gif next to web.h5
    /usr/bin/python3 apps/web/plot.py web.h5 --out figures --slice 10 --cosmo cosmo.h5

Images have x (the first array axis) to the right and y up, as apps/cosmo/plot.py draws /density, and their
axes the file's length units (the `units` attribute of /x: Mpc/h after an eisenstein-hu or table spectrum, box
units otherwise). A rerun of the same command writes the same bytes, given the same matplotlib and Pillow.

Exit codes: 0 success, 1 failure writing the figure or missing Python packages, 2 bad command line, missing
file or missing dataset (the message names it).
"""

import argparse
import importlib.util
import os
import sys

# plx-cosmo's plot.py checks the imports (and says what to install), and has InputError, attr, save, open_h5
# and exit_code.
_cosmo_plot_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cosmo", "plot.py")
_spec = importlib.util.spec_from_file_location("cosmo_plot", _cosmo_plot_path)
cosmo_plot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cosmo_plot)
InputError, attr, save, in_units = cosmo_plot.InputError, cosmo_plot.attr, cosmo_plot.save, cosmo_plot.in_units

import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

NAMES = {2: ("void", "filament", "node"), 3: ("void", "sheet", "filament", "knot")}
COLOURS = ("#f7f7f7", "#9ecae1", "#3182bd", "#b30000")  # from empty to collapsed


def read_classes(path, slice_index):
    """The class image (rows = y), the box's attributes and the legend's numbers, checked up front."""
    with cosmo_plot.open_h5(path) as h5:
        dset = h5.get("deformation/class")
        if not isinstance(dset, h5py.Dataset):
            raise InputError(f"{path}: missing /deformation/class")
        if dset.ndim not in (2, 3):
            raise InputError(f"{path}: /deformation/class has shape {dset.shape}, expected a 2D or 3D grid")
        dim, n = dset.ndim, dset.shape[0]
        fractions = np.asarray(dset.attrs.get("class_fraction", []), dtype=float).ravel()
        if fractions.size != dim + 1:
            raise InputError(f"{path}: attribute class_fraction of /deformation/class has {fractions.size} "
                             f"values, expected {dim + 1}")
        where = ""
        if dim == 3:
            slice_index = n // 2 if slice_index is None else slice_index
            if not 0 <= slice_index < dset.shape[2]:
                raise InputError(f"--slice {slice_index} is outside 0..{dset.shape[2] - 1}")
            where = f", slice z = {slice_index}"
        image = (dset[...] if dim == 2 else dset[:, :, slice_index]).T
        length = cosmo_plot.units_of(h5, "x") or cosmo_plot.Units(h5, dim).length
        info = {"dim": dim, "n": n, "box": float(attr(h5, "L", n)), "seed": attr(h5, "seed"), "length": length,
                "input": attr(h5, "input", "?"), "threshold": float(dset.attrs.get("threshold", 0.0)),
                "fractions": fractions, "where": where}
    return image, info


def plot_classes(image, info, out_dir):
    dim, box = info["dim"], info["box"]
    colours = ListedColormap(COLOURS[:dim + 1])
    fig, ax = plt.subplots(figsize=(7.6, 5.4))
    fig.subplots_adjust(left=0.09, right=0.70, bottom=0.1, top=0.88)  # room on the right for the legend
    ax.imshow(image, origin="lower", extent=(0, box, 0, box), cmap=colours,
              norm=BoundaryNorm(np.arange(dim + 2) - 0.5, dim + 1), interpolation="nearest")
    legend = [Patch(facecolor=COLOURS[k], edgecolor="0.4", label=f"{k} {NAMES[dim][k]}: {100 * f:.1f}%")
              for k, f in enumerate(info["fractions"])]
    fig.legend(handles=legend, loc="upper left", bbox_to_anchor=(0.72, 0.88), fontsize=9,
               title=f"eigenvalues > {info['threshold']:g}", title_fontsize=9)
    ax.set_xlabel(in_units("x", info["length"]))
    ax.set_ylabel(in_units("y", info["length"]))
    seed = f", seed {info['seed']}" if info["seed"] is not None else ""
    ax.set_title(f"Deformation-tensor classes (T-web){info['where']}\n"
                 f"{dim}D, N={info['n']}, L={box:g}{seed}, from {os.path.basename(str(info['input']))}", fontsize=10)
    save(fig, out_dir, "classes.png")


class WebFile:
    """The structures of a plx-web file, read and checked up front."""

    def __init__(self, path, cosmo_path):
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such file")
        try:
            self.h5 = h5py.File(path, "r")
        except OSError as err:
            raise InputError(f"{path}: not a readable HDF5 file ({err})") from None
        self.path = path
        adhesion = self.h5.get("adhesion")
        self.times = []  # (name, time, group), in the order of the group names 000, 001, ...
        missing = []
        if isinstance(adhesion, h5py.Group):
            for name in sorted(adhesion):
                group = adhesion[name]
                for dset in ("nodes/position", "nodes/mass", "filaments/a", "filaments/b", "filaments/mass"):
                    if not isinstance(group.get(dset), h5py.Dataset):
                        missing.append(f"/adhesion/{name}/{dset}")
                if "time" not in group.attrs:
                    missing.append(f"attribute 'time' of /adhesion/{name}")
                else:
                    self.times.append((name, float(np.asarray(group.attrs["time"]).ravel()[0]), group))
        if missing:
            raise InputError(f"{path}: missing {', '.join(missing)}")

        cosmo_path = cosmo_path or attr(self.h5, "input")
        if not cosmo_path:
            raise InputError(f"{path}: no 'input' attribute naming the cosmology file: pass --cosmo")
        if not os.path.isabs(cosmo_path) and not os.path.isfile(cosmo_path):
            # A relative input path is relative to where plx-web ran; try next to the web file too.
            beside = os.path.join(os.path.dirname(os.path.abspath(path)), os.path.basename(cosmo_path))
            cosmo_path = beside if os.path.isfile(beside) else cosmo_path
        if not os.path.isfile(cosmo_path):
            raise InputError(f"{cosmo_path}: no such cosmology file (the input of {path}; pass --cosmo)")
        with h5py.File(cosmo_path, "r") as cosmo:
            if not isinstance(cosmo.get("potential"), h5py.Dataset):
                raise InputError(f"{cosmo_path}: missing /potential")
            self.potential = np.asarray(cosmo["potential"][...], dtype=float)
            self.dim = self.potential.ndim
            self.n = self.potential.shape[0]
            self.box = float(attr(cosmo, "L", self.n))
            self.seed = attr(cosmo, "seed")
            # The web file's units where it has them, else those of its cosmology file (which knows its spectrum).
            self.length = cosmo_plot.units_of(self.h5, "x") or cosmo_plot.Units(cosmo, self.potential.ndim).length
        if self.dim not in (2, 3):
            raise InputError(f"{cosmo_path}: /potential has shape {self.potential.shape}, expected a 2D or 3D grid")
        self._psi = None

    def displacement(self):
        """Psi = -grad phi in the box's length units, by the spectral derivative (Nyquist modes zeroed, as
        plx-cosmo)."""
        if self._psi is None:
            n, dim = self.n, self.dim
            phi_k = np.fft.rfftn(self.potential)
            k_unit = 2 * np.pi / self.box
            full = np.fft.fftfreq(n, d=1.0 / n)
            half = np.fft.rfftfreq(n, d=1.0 / n)
            axes = [full] * (dim - 1) + [half]
            psi = []
            for axis in range(dim):
                k = axes[axis].copy()
                if n % 2 == 0:
                    k[np.abs(k) == n // 2] = 0
                shape = [1] * dim
                shape[axis] = k.size
                grad_k = -1j * k_unit * k.reshape(shape) * phi_k
                psi.append(np.fft.irfftn(grad_k, s=self.potential.shape))
            self._psi = psi
        return self._psi

    def zeldovich_density(self, time, z_range=None):
        """Particles per cell (mean 1) at growth factor `time`, in the plane (2D) or projected over a z slab."""
        n, dim = self.n, self.dim
        cell = self.box / n
        q = np.meshgrid(*[np.arange(n) * cell] * dim, indexing="ij")
        x = [np.mod(q[a] + time * self.displacement()[a], self.box) for a in range(dim)]
        if dim == 3:
            keep = (x[2] >= z_range[0]) & (x[2] < z_range[1])
            x = [c[keep] for c in x]
        counts, _, _ = np.histogram2d(x[0].ravel(), x[1].ravel(), bins=n, range=[[0, self.box], [0, self.box]])
        return counts / max(counts.mean(), 1e-300)


def periodic_segments(a, b, box):
    """Segments a -> b (b - a the short periodic vector, a in the box) plus the copy shifted back into the box
    where b lies outside it, so a segment crossing an edge shows on both sides."""
    segments = [np.stack([a, b], axis=1)]
    shift = np.floor(b / box) * box
    outside = np.any(shift != 0, axis=1)
    if np.any(outside):
        segments.append(np.stack([a[outside] - shift[outside], b[outside] - shift[outside]], axis=1))
    return np.concatenate(segments)


def scaled(mass, reference, low, high, power=0.5):
    """low .. high growing with (mass / reference)^power (masses span decades)."""
    if reference <= 0:
        return np.full(mass.shape, low)
    return low + (high - low) * np.clip(mass / reference, 0, 1) ** power


NODE_COLOUR = "#d6301d"
FILAMENT_COLOUR = (0.05, 0.25, 0.75)


def draw_time(web, name, time, group, slab, min_mass, min_filament_mass, out_dir):
    dim, box = web.dim, web.box
    z_range = None
    positions = np.asarray(group["nodes/position"][...], dtype=float).reshape(-1, dim)
    node_mass = np.asarray(group["nodes/mass"][...], dtype=float)
    a = np.asarray(group["filaments/a"][...], dtype=float).reshape(-1, dim)
    b = np.asarray(group["filaments/b"][...], dtype=float).reshape(-1, dim)
    filament_mass = np.asarray(group["filaments/mass"][...], dtype=float)
    title = f"adhesion model, D = {time:.3g}"
    # Uncollapsed grid simplices and their faces would cover the picture: only what carries at least
    # min_mass (nodes) and min_filament_mass (filaments) cells is drawn.
    keep = node_mass >= min_mass
    positions, node_mass = positions[keep], node_mass[keep]
    keep = filament_mass >= min_filament_mass
    a, b, filament_mass = a[keep], b[keep], filament_mass[keep]
    if dim == 3:
        # A slab of finite thickness, projected along z: the filaments (segments between nodes) within it draw
        # the web as lines, which single dots in a thin slice cannot.
        z0 = box / 2
        z_range = (z0, z0 + slab * box)
        in_slab = (positions[:, 2] >= z_range[0]) & (positions[:, 2] < z_range[1])
        positions, node_mass = positions[in_slab], node_mass[in_slab]
        middle = np.mod((a[:, 2] + b[:, 2]) / 2, box)
        keep = (middle >= z_range[0]) & (middle < z_range[1])
        a, b, filament_mass = a[keep], b[keep], filament_mass[keep]
        title += f", slab {z_range[0]:.3g} <= z < {z_range[1]:.3g} {web.length}, projected"
    density = web.zeldovich_density(time, z_range)

    fig, ax = plt.subplots(figsize=(7.6, 6.6))
    fig.subplots_adjust(left=0.1, right=0.86, bottom=0.09, top=0.88)
    # The Zel'dovich density of the same time behind the structures: log10 of particles per cell over the mean,
    # clipped at 0.1 (empty cells) so that voids stay readable.
    image = ax.imshow(np.log10(np.maximum(density.T, 0.1)), origin="lower", extent=(0, box, 0, box), cmap="Greys",
                      interpolation="nearest", vmin=-1, vmax=1.5)
    colour_bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    colour_bar.set_label("Zel'dovich density, log10(rho / mean)" + (" (slab)" if dim == 3 else ""))
    if len(node_mass):
        # Area in proportion to the mass, from a dot to a disc of about a cell: the many small nodes along
        # a filament stay points and the filaments between them visible; the massive ones stand out.
        reference = node_mass.max()
        cell_points = (72.0 * 6.6 * 0.79 / web.n) ** 2  # a cell's area in points^2, roughly
        ax.scatter(positions[:, 0], positions[:, 1], s=scaled(node_mass, reference, 0.5, max(4.0, cell_points), 1.0),
                   c=NODE_COLOUR, alpha=0.75, linewidths=0, zorder=2)
    if len(filament_mass):
        segments = periodic_segments(a[:, :2], b[:, :2], box)
        mass = np.concatenate([filament_mass, filament_mass[np.any(np.floor(b[:, :2] / box) != 0, axis=1)]])
        reference = filament_mass.max()
        colours = np.zeros((len(mass), 4))
        colours[:, :3] = FILAMENT_COLOUR
        colours[:, 3] = scaled(mass, reference, 0.35, 0.95)
        ax.add_collection(LineCollection(segments, linewidths=scaled(mass, reference, 0.4, 2.2), colors=colours,
                                         zorder=3))
    if time == 0:
        ax.text(0.5, 0.5, "D = 0: the uniform Lagrangian grid,\nno node or filament has formed yet",
                transform=ax.transAxes, ha="center", va="center", fontsize=11,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "0.6"})
    legend = [Line2D([], [], marker="o", ls="none", color=NODE_COLOUR, alpha=0.75,
                     label=f"node (area ~ mass, >= {min_mass:g} cells)"),
              Line2D([], [], color=FILAMENT_COLOUR, lw=1.6,
                     label=f"filament (width ~ mass, >= {min_filament_mass:g} cells)")]
    ax.legend(handles=legend, loc="upper right", fontsize=8, framealpha=0.85)
    ax.set_xlim(0, box)
    ax.set_ylim(0, box)
    ax.set_aspect("equal")
    ax.set_xlabel(in_units("x", web.length))
    ax.set_ylabel(in_units("y", web.length))
    ax.set_title(f"{title}\n{len(node_mass)} nodes, {len(filament_mass)} filaments drawn")
    save(fig, out_dir, f"web_{name}.png")
    return os.path.join(out_dir, f"web_{name}.png")


DELTA_C = 1.686  # spherical collapse, linear threshold


def sigma_of_mass(web, mass_cells):
    """The realization's linear rms density in spherical top hats of mass_cells (3D), at D = 1."""
    n, box = web.n, web.box
    k_unit = 2 * np.pi / box
    full = np.fft.fftfreq(n, d=1.0 / n) * k_unit
    half = np.fft.rfftfreq(n, d=1.0 / n) * k_unit
    kx, ky, kz = np.meshgrid(full, full, half, indexing="ij", sparse=True)
    k2 = kx ** 2 + ky ** 2 + kz ** 2
    delta_k = -k2 * np.fft.rfftn(web.potential)  # phi_k = -delta_k / k^2 (plx-cosmo)
    weight = np.full(half.size, 2.0)  # the half spectrum stands for its conjugates too
    weight[0] = 1
    if n % 2 == 0:
        weight[-1] = 1
    power = (np.abs(delta_k) ** 2 * weight).ravel() / float(n) ** 6  # sum = the field's variance
    k = np.broadcast_to(np.sqrt(k2), delta_k.shape).ravel()
    cell = box / n
    sigmas = []
    for m in mass_cells:
        x = k * cell * (3 * m / (4 * np.pi)) ** (1 / 3)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(x > 1e-8, 3 * (np.sin(x) - x * np.cos(x)) / x ** 3, 1.0)
        sigmas.append(np.sqrt(np.sum(power * w * w)))
    return np.asarray(sigmas)


def plot_mass_function(web, out_dir):
    """dn/dlog10 M of the nodes at each time D > 0, and in 3D Press & Schechter's for the same field."""
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    cell_volume = (web.box / web.n) ** web.dim
    times = [(name, time, group) for name, time, group in web.times if time > 0 and "mass_function" in group]
    if not times:
        plt.close(fig)
        return
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(times)))
    grid = None
    low, high = np.inf, 0.0
    density_units = f"({web.length})^-{web.dim} dex^-1"
    for (name, time, group), colour in zip(times, colours):
        edges = np.asarray(group["mass_function/log10_mass"][...])
        density = np.asarray(group["mass_function/dn_dlog10m"][...])
        density_units = cosmo_plot.units_of(group, "mass_function/dn_dlog10m") or density_units
        centre = 10 ** (0.5 * (edges[:-1] + edges[1:]))
        keep = density > 0
        ax.plot(centre[keep], density[keep], "o", ms=3, color=colour, label=f"D = {time:g}")
        if np.any(keep):
            low, high = min(low, density[keep].min()), max(high, density[keep].max())
        if web.dim == 3:
            if grid is None:
                grid = np.logspace(np.log10(0.5), np.log10(web.n ** 3 / 8), 40)
                sigma = sigma_of_mass(web, grid)
                slope = np.abs(np.gradient(np.log(sigma), np.log(grid)))
            nu = DELTA_C / (time * sigma)
            # dn/dlog10 M = ln 10 sqrt(2/pi) (rho/M) nu |dln sigma/dln M| exp(-nu^2/2), rho = 1 cell per cell
            ps = np.log(10) * np.sqrt(2 / np.pi) / grid * nu * slope * np.exp(-nu ** 2 / 2) / cell_volume
            ax.plot(grid, ps, "-", lw=1, color=colour)
    ax.set_xscale("log")
    ax.set_yscale("log")
    if high > 0:  # the data's range: Press & Schechter's exponential tail would squash it
        ax.set_ylim(low / 10, high * 10)
    ax.set_xlabel("node mass M  [cells, Lagrangian]")
    ax.set_ylabel(in_units(r"$dn \,/\, d\log_{10} M$", density_units))
    title = "adhesion nodes' mass function"
    if web.dim == 3:
        title += "\npoints: plx-web; lines: Press & Schechter of the same field"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    save(fig, out_dir, "mass_function.png")


GIF_SCALE = 0.5  # of the frames' size: the movie stays under 1 MiB, the frames keep the detail
GIF_COLOURS = 32


def write_gif(frames, path, fps):
    from PIL import Image

    images = []
    for frame in frames:
        with Image.open(frame) as image:
            size = (round(image.width * GIF_SCALE), round(image.height * GIF_SCALE))
            images.append(image.convert("RGB").resize(size, Image.Resampling.LANCZOS).quantize(GIF_COLOURS))
    partial = path + ".partial.gif"
    images[0].save(partial, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    os.replace(partial, path)
    print(f"wrote {path}", flush=True)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Render the deformation-tensor classes of a plx-web HDF5 file.")
    parser.add_argument("file", help="HDF5 file written by plx-web")
    parser.add_argument("--out", metavar="DIR", help="directory for the PNG (default: the file's directory)")
    parser.add_argument("--slice", type=int, metavar="INDEX", help="z index of the 3D slice (default N/2)")
    parser.add_argument("--cosmo", help="the plx-cosmo file of the run (default: the web file's 'input' attribute)")
    parser.add_argument("--slab", type=float, default=0.1, help="3D movie: slab thickness, a fraction of the box")
    parser.add_argument("--min-mass", type=float,
                        help="movie: draw nodes of at least this mass in cells (default 2 in 2D, 1 in 3D, where "
                             "a grid tetrahedron holds 1/6 of a cell)")
    parser.add_argument("--min-filament-mass", type=float,
                        help="movie: draw filaments of at least this mass in cells (default 2 in 2D, 1.5 in 3D, where "
                             "a grid triangle has 1/2 and the walls' many small triangles would hide the web)")
    parser.add_argument("--fps", type=float, default=2.0, help="frames per second of web.gif (default 2)")
    parser.add_argument("--dpi", type=int, default=cosmo_plot.DPI,
                        help=f"resolution of the PNG (default {cosmo_plot.DPI})")
    args = parser.parse_args(argv)
    if args.dpi < 10:
        parser.error("--dpi must be at least 10")
    if not 0 < args.slab <= 1:
        parser.error(f"--slab {args.slab}: must be in (0, 1]")
    if args.fps <= 0:
        parser.error(f"--fps {args.fps}: must be positive")
    cosmo_plot.DPI = args.dpi  # save() reads it
    out_dir = args.out if args.out is not None else (os.path.dirname(args.file) or ".")

    def render():
        image, info = read_classes(args.file, args.slice)
        os.makedirs(out_dir, exist_ok=True)
        plot_classes(image, info, out_dir)
        with cosmo_plot.open_h5(args.file) as h5:
            has_adhesion = isinstance(h5.get("adhesion"), h5py.Group) and len(h5["adhesion"]) > 0
        if has_adhesion:
            web = WebFile(args.file, args.cosmo)
            if args.min_mass is None:
                args.min_mass = 2.0 if web.dim == 2 else 1.0
            if args.min_filament_mass is None:
                args.min_filament_mass = 2.0 if web.dim == 2 else 1.5
            frames = [draw_time(web, name, time, group, args.slab, args.min_mass, args.min_filament_mass, out_dir) for name, time, group in web.times]
            if len(frames) > 1:
                write_gif(frames, os.path.join(out_dir, "web.gif"), args.fps)
            plot_mass_function(web, out_dir)

    return cosmo_plot.exit_code(render)


if __name__ == "__main__":
    sys.exit(main())
