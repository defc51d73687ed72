#!/usr/bin/python3
"""Render the figures of a `plx-cosmo` HDF5 output file as PNGs (h5py + matplotlib, no display needed).

Writes four files into the output directory:

density.png         the density contrast delta (2D), or the slice z = INDEX of the 3D field
potential.png       the gravitational potential phi, same slice, diverging colours centred on 0
frames.png          every Zel'dovich frame in a grid (about twice as wide as high: 10 frames are 2 x 5), on one
                    logarithmic colour scale, each with its time
power_spectrum.png  the measured P(k) (points, error bars P * sqrt(2 / modes)) over the input P(k) (line)

Run with the system python, for which ./bootstrap.sh installs Debian's python3-h5py and
python3-matplotlib (a `python3` found first on PATH, from pyenv, conda or a venv, usually lacks them; the
script says so and exits 1). The first line names it, so `apps/cosmo/plot.py cosmo.h5` works too:

    /usr/bin/python3 apps/cosmo/plot.py cosmo.h5                       # PNGs next to cosmo.h5
    /usr/bin/python3 apps/cosmo/plot.py cosmo.h5 --out figures --slice 10

--slice picks the z index of the 3D slices (default N/2); 2D files ignore it. Images have x (the first array
axis) to the right and y up. Axes are labelled with the file's units: the `units` attribute of each dataset
(Mpc/h, h/Mpc and (Mpc/h)^d for eisenstein-hu and table spectra, box units otherwise); a file without them
gets the same units from its root attribute `spectrum`. A rerun of the same command writes the same bytes
(fixed size and resolution, no date in the files), given the same matplotlib, numpy and libpng.

Exit codes: 0 success, 1 failure writing a figure or missing Python packages, 2 bad command line, missing file
or missing dataset (the message names it).

Layout read (float64 datasets, as plx-cosmo writes them; root attributes dim, N, L, seed, spectrum):
/density (N,N) or (N,N,N); /potential the same; /frames/000/density, /frames/001/density, ... each with
a float attribute `time`; /power_spectrum/{k,power,modes,input}, 1D and of equal length.
"""

import argparse
import os
import re
import sys

try:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display

    import h5py
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
except ImportError as missing:
    if os.path.realpath(sys.executable) == os.path.realpath("/usr/bin/python3"):
        fix = "install Debian's python3-h5py and python3-matplotlib (./bootstrap.sh deps does)"
    else:
        fix = (f"./bootstrap.sh installs them for Debian's /usr/bin/python3: run /usr/bin/python3 {sys.argv[0]} "
               f"(or install h5py and matplotlib for this interpreter)")
    sys.exit(f"plot.py: {missing} in {sys.executable}, and it needs h5py, matplotlib and numpy: {fix}")

DENSITY_CMAP = "viridis"
POTENTIAL_CMAP = "RdBu_r"
REQUIRED = ("density", "potential", "power_spectrum/k", "power_spectrum/power", "power_spectrum/modes",
            "power_spectrum/input")
DPI = 120


class InputError(Exception):
    """A missing file, dataset or bad parameter: exit code 2."""


def attr(h5, name, default=None):
    value = h5.attrs.get(name, default)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    return value


def open_h5(path):
    """The HDF5 file `path`, open for reading; an InputError if it is missing or not HDF5."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path}: not a readable HDF5 file ({err})") from None


# Spectra given in physical units: plx-cosmo then measures lengths in Mpc/h (the others use box units).
PHYSICAL_SPECTRA = ("eisenstein-hu", "table")


def units_of(h5, name):
    """The `units` attribute of dataset `name` as text, or None where the file has no such attribute."""
    dset = h5.get(name)
    if not isinstance(dset, h5py.Dataset) or "units" not in dset.attrs:
        return None
    return attr(dset, "units")


class Units:
    """The units of a parallax file's lengths, wave numbers and power, as the files write them ("Mpc/h",
    "h/Mpc", "(Mpc/h)^3"; "box units", "1/(box units)", "(box units)^2"): the datasets' `units` attributes
    where the file has them, else derived from the root attribute `spectrum` as plx-cosmo derives them."""

    def __init__(self, h5, dim):
        spectrum = attr(h5, "spectrum")
        derived = "Mpc/h" if spectrum in PHYSICAL_SPECTRA else "box units"
        self.length = units_of(h5, "x") or derived
        self.wave_number = units_of(h5, "power_spectrum/k") or (
            "h/Mpc" if self.length == "Mpc/h" else f"1/({self.length})")
        self.power = (units_of(h5, "power_spectrum/power") or units_of(h5, "power_spectrum/input")
                      or f"({self.length})^{dim}")


def math_units(units):
    """Units text for a matplotlib label: powers as superscripts ("(Mpc/h)^3" -> "(Mpc/h)$^{3}$")."""
    return re.sub(r"\^\(?(-?\d+)\)?", r"$^{\1}$", units)


def in_units(label, units):
    """`label  [units]`, or the label alone for a dimensionless quantity (units "1" or none)."""
    return label if units in (None, "", "1") else f"{label}  [{math_units(units)}]"


def log_ticks(axis, values):
    """On a log axis spanning under three decades, labels at 1, 2, 5 x 10^n (under one and a half: 1, 2, 3, 5)
    instead of 10^n alone, which leaves one to three labelled ticks, or none."""
    values = np.asarray(values, dtype=float)
    values = values[values > 0]
    decades = np.log10(values.max() / values.min()) if values.size else np.inf
    if decades < 3:
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0) if decades < 1.5 else (1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())


class CosmoFile:
    """The parts of a plx-cosmo file the figures need, validated up front."""

    def __init__(self, path, slice_index):
        self.h5 = open_h5(path)
        self.path = path
        missing = [f"/{name}" for name in REQUIRED if not isinstance(self.h5.get(name), h5py.Dataset)]
        frames = self.h5.get("frames")
        self.frames = []  # (time, dataset), in the order of the group names 000, 001, ...
        if not isinstance(frames, h5py.Group) or len(frames) == 0:
            missing.append("/frames/000/density")
        else:
            for name in sorted(frames):
                dset = frames[name].get("density") if isinstance(frames[name], h5py.Group) else None
                if not isinstance(dset, h5py.Dataset):
                    missing.append(f"/frames/{name}/density")
                elif "time" not in dset.attrs:
                    missing.append(f"attribute 'time' of /frames/{name}/density")
                else:
                    self.frames.append((float(np.asarray(dset.attrs["time"]).ravel()[0]), dset))
        if missing:
            raise InputError(f"{path}: missing {', '.join(missing)}")

        density = self.h5["density"]
        self.dim = int(attr(self.h5, "dim", density.ndim))
        self.n = int(attr(self.h5, "N", density.shape[0]))
        self.box = float(attr(self.h5, "L", self.n))
        self.units = Units(self.h5, self.dim)
        if density.ndim != self.dim or density.ndim not in (2, 3):
            raise InputError(f"{path}: /density has shape {density.shape}, expected a {self.dim}D grid")
        for name, dset in [("potential", self.h5["potential"])] + [(f"frames/{i:03d}", d)
                                                                     for i, (_, d) in enumerate(self.frames)]:
            if dset.shape != density.shape:
                raise InputError(f"{path}: /{name} has shape {dset.shape}, /density {density.shape}")
        if self.dim == 3:
            self.slice = self.n // 2 if slice_index is None else slice_index
            if not 0 <= self.slice < density.shape[2]:
                raise InputError(f"--slice {slice_index} is outside 0..{density.shape[2] - 1}")
        else:
            self.slice = None

    def plane(self, dset):
        """The 2D field, or the z slice of a 3D one, as an image array (rows = y, columns = x)."""
        field = dset[...] if self.dim == 2 else dset[:, :, self.slice]
        return np.asarray(field, dtype=float).T

    def describe(self):
        seed, spectrum = attr(self.h5, "seed"), attr(self.h5, "spectrum")
        text = f"{self.dim}D, N={self.n}, L={self.box:g}"
        if seed is not None:
            text += f", seed {seed}"
        if spectrum:
            text += f", P(k) = {spectrum}"
        return text

    def where(self):
        """Suffix naming the slice in titles."""
        if self.dim == 2:
            return ""
        return f", slice z = {self.slice} ({(self.slice * self.box / self.n):.4g} {self.units.length})"


def image(ax, data, box, length_units, **kwargs):
    """Show a field over the box [0, L)^2, its axes in length_units."""
    im = ax.imshow(data, origin="lower", extent=(0, box, 0, box), interpolation="nearest", **kwargs)
    ax.set_xlabel(in_units("x", length_units))
    ax.set_ylabel(in_units("y", length_units))
    return im


def save(fig, out_dir, name):
    """Writes fig as out_dir/name at DPI. Agg's PNGs hold no date: the bytes follow from the figure, DPI and the
    library versions (the Software chunk names matplotlib's), so the same command redraws the same file."""
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print(f"wrote {path}", flush=True)


def plot_density(cf, out_dir):
    data = cf.plane(cf.h5["density"])
    fig, ax = plt.subplots(figsize=(6.4, 5.4), layout="constrained")
    limit = np.abs(data).max()
    im = image(ax, data, cf.box, cf.units.length, cmap=DENSITY_CMAP, vmin=-limit, vmax=limit)
    fig.colorbar(im, ax=ax, label=r"density contrast $\delta$  (unit standard deviation)")
    ax.set_title(f"Initial density contrast{cf.where()}\n{cf.describe()}", fontsize=10)
    save(fig, out_dir, "density.png")


def plot_potential(cf, out_dir):
    data = cf.plane(cf.h5["potential"])
    fig, ax = plt.subplots(figsize=(6.4, 5.4), layout="constrained")
    limit = np.abs(data).max() or 1.0
    im = image(ax, data, cf.box, cf.units.length, cmap=POTENTIAL_CMAP, vmin=-limit, vmax=limit)
    potential_units = units_of(cf.h5, "potential") or f"({cf.units.length})^2"
    fig.colorbar(im, ax=ax, label=in_units(r"potential $\phi$, $\nabla^2\phi = \delta$", potential_units))
    ax.set_title(f"Gravitational potential{cf.where()}\n{cf.describe()}", fontsize=10)
    save(fig, out_dir, "potential.png")


def grid_shape(count):
    """(rows, columns) for count panels, about twice as wide as high so that the grid fits a page's width:
    10 panels are 2 x 5, 4 are 1 x 4, 6 are 2 x 3."""
    rows = max(1, round(np.sqrt(count / 2)))
    return rows, -(-count // rows)


def plot_frames(cf, out_dir):
    planes = [cf.plane(dset) for _, dset in cf.frames]
    count = len(planes)
    rows, columns = grid_shape(count)
    # 1.6 inches a panel: at the default 120 dpi 10 frames are 1100 pixels wide, readable where a page shows them
    # 900 pixels wide, and their PNG (a 256^2 field is noise to zlib) stays under 1 MiB.
    fig, axes = plt.subplots(rows, columns, figsize=(max(1.6 * columns + 1.1, 5.0), 1.6 * rows + 1.2),
                             layout="constrained", sharex=True, sharey=True, squeeze=False)
    low = min(p.min() for p in planes)
    high = max(p.max() for p in planes)
    cmap = plt.get_cmap(DENSITY_CMAP)
    if low >= 0 and high > 0:
        # rho / mean rho: a log scale shows voids and caustics alike; empty cells take the lowest colour
        norm = LogNorm(vmin=min(0.1, high / 10), vmax=high)
        cmap = cmap.with_extremes(bad=cmap(0.0), under=cmap(0.0))
        label = r"$\rho / \bar\rho$  (CIC, log scale)"
    else:
        norm = plt.Normalize(vmin=low, vmax=high)
        label = "density"
    for index, ax in enumerate(axes.flat):
        if index >= count:
            ax.set_axis_off()  # the last row's empty places
            continue
        data = planes[index]
        im = image(ax, np.ma.masked_less_equal(data, 0) if isinstance(norm, LogNorm) else data, cf.box,
                   cf.units.length, cmap=cmap, norm=norm)
        ax.set_title(f"D = {cf.frames[index][0]:.3g}", fontsize=10)
        if index % columns > 0:
            ax.set_ylabel("")
        if index + columns < count:  # a panel below this one carries the x label and tick labels
            ax.set_xlabel("")
            ax.tick_params(labelbottom=False)
    fig.colorbar(im, ax=axes, label=label, fraction=0.03, pad=0.01, shrink=0.9)
    title = [f"Zel'dovich approximation: particles at x = q + D Psi(q)", cf.describe()]
    if cf.where():
        title.append(cf.where().lstrip(", "))  # a line of its own: 3 frames are a narrow figure
    fig.suptitle("\n".join(title), fontsize=11)
    save(fig, out_dir, "frames.png")


def plot_power_spectrum(cf, out_dir):
    group = cf.h5["power_spectrum"]
    k, power, modes, expected = (np.asarray(group[name][...], dtype=float).ravel()
                                 for name in ("k", "power", "modes", "input"))
    if not len(k) == len(power) == len(modes) == len(expected):
        raise InputError(f"{cf.path}: /power_spectrum/k, power, modes, input differ in length")
    ok = (k > 0) & (power > 0) & (modes > 0)
    k, power, modes, expected = k[ok], power[ok], modes[ok], expected[ok]
    error = power * np.sqrt(2.0 / modes)
    lower = np.minimum(error, 0.999 * power)  # keep the lower bar above zero on the log axis

    fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
    order = np.argsort(k)
    ax.plot(k[order], expected[order], "-", color="C3", lw=1.8, label="input P(k)", zorder=3)
    ax.errorbar(k, power, yerr=(lower, error), fmt="o", ms=3.5, color="C0", ecolor="C0", elinewidth=0.8,
                capsize=1.5, label=r"measured, error $P\sqrt{2/\mathrm{modes}}$", zorder=2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_ticks(ax.xaxis, k)
    log_ticks(ax.yaxis, np.concatenate([power, expected]))
    ax.set_xlabel(in_units(r"wave number $k$", cf.units.wave_number))
    ax.set_ylabel(in_units(r"power $P(k)$", cf.units.power))
    ax.set_title(f"Power spectrum of the initial density\n{cf.describe()}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    save(fig, out_dir, "power_spectrum.png")


def exit_code(render):
    """Runs render() and returns the exit code: 0, 2 after an InputError, 1 after a failure writing a figure
    (each printed as one line); for the plot scripts of the other apps."""
    try:
        render()
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    global DPI  # --dpi sets one resolution for every figure of the run
    parser = argparse.ArgumentParser(description="Render density, potential, Zel'dovich frames and power "
                                                 "spectrum PNGs from a plx-cosmo HDF5 file.")
    parser.add_argument("file", help="HDF5 file written by plx-cosmo")
    parser.add_argument("--out", metavar="DIR", help="directory for the PNGs (default: the file's directory)")
    parser.add_argument("--slice", type=int, metavar="INDEX", help="z index of the 3D slices (default N/2)")
    parser.add_argument("--dpi", type=int, default=DPI, help=f"resolution of the PNGs (default {DPI})")
    args = parser.parse_args(argv)
    if args.dpi < 10:
        parser.error("--dpi must be at least 10")
    DPI = args.dpi
    out_dir = args.out if args.out is not None else (os.path.dirname(args.file) or ".")


    def render():
        cf = CosmoFile(args.file, args.slice)
        with cf.h5:
            os.makedirs(out_dir, exist_ok=True)
            plot_density(cf, out_dir)
            plot_potential(cf, out_dir)
            plot_frames(cf, out_dir)
            plot_power_spectrum(cf, out_dir)

    return exit_code(render)


if __name__ == "__main__":
    sys.exit(main())
