#!/usr/bin/python3
"""Render the figures of a `plx-ensemble` HDF5 output file as PNGs (h5py + matplotlib, no display needed).

Writes two files into the output directory:

ensemble_power.png        the mean P(k) of the initial density and of each evolved one, each with the band
                          mean +- one standard deviation of a single realization (the square root of the
                          covariance's diagonal), over the input spectrum; a lower panel shows the scatter
                          relative to the Gaussian expectation sqrt(2 / modes)
ensemble_correlation.png  the correlation matrix of the bins, as an image on a fixed scale [-1, 1], for the
                          initial spectrum and for each evolved one (at most --panels, the last times first
                          dropped): the off-diagonal correlation that mode coupling builds up with D

Mean and covariance are computed here from /realizations/power (M x bins) and /realizations/power_evolved
(M x times x bins), the same way plx-ensemble computes /covariance (unbiased, over the M realizations), so
any version of the file's covariance layout plots the same. Also read: /power_spectrum/{k,modes,input} and
the root attributes (dim, N, L, times, normalisation, spectrum) when present. Axes carry the units of k and P(k):
the datasets' `units` attributes, or for a file without them h/Mpc and (Mpc/h)^d after an eisenstein-hu or
table spectrum, box units otherwise.

Run with the system python, for which ./bootstrap.sh installs Debian's python3-h5py and python3-matplotlib:

    /usr/bin/python3 apps/ensemble/plot.py ensemble.h5                  # PNGs next to ensemble.h5
    /usr/bin/python3 apps/ensemble/plot.py ensemble.h5 --out figures

Exit codes: 0 success, 1 failure writing a figure or missing Python packages, 2 bad command line, missing
file or missing dataset (the message names it).
"""

import argparse
import importlib.util
import os
import sys

# plx-cosmo's plot.py checks the imports (and says what to install), and has InputError, attr and save.
_cosmo_plot_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cosmo", "plot.py")
_spec = importlib.util.spec_from_file_location("cosmo_plot", _cosmo_plot_path)
cosmo_plot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cosmo_plot)
InputError, attr, save, in_units = cosmo_plot.InputError, cosmo_plot.attr, cosmo_plot.save, cosmo_plot.in_units

import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

REQUIRED = ("realizations/power", "realizations/power_evolved", "power_spectrum/k", "power_spectrum/modes",
            "power_spectrum/input")


class EnsembleFile:
    """The datasets the figures need, read and checked up front."""

    def __init__(self, path):
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such file")
        try:
            h5 = h5py.File(path, "r")
        except OSError as err:
            raise InputError(f"{path}: not a readable HDF5 file ({err})") from None
        with h5:
            missing = [f"/{name}" for name in REQUIRED if not isinstance(h5.get(name), h5py.Dataset)]
            if missing:
                raise InputError(f"{path}: missing {', '.join(missing)}")
            self.k, self.modes, self.input = (np.asarray(h5[f"power_spectrum/{name}"][...], dtype=float)
                                              for name in ("k", "modes", "input"))
            self.initial = np.asarray(h5["realizations/power"][...], dtype=float)
            self.evolved = np.asarray(h5["realizations/power_evolved"][...], dtype=float)
            bins = len(self.k)
            if self.initial.ndim != 2 or self.initial.shape[1] != bins or self.evolved.ndim != 3 \
                    or self.evolved.shape[0] != self.initial.shape[0] or self.evolved.shape[2] != bins:
                raise InputError(f"{path}: /realizations/power {self.initial.shape} and power_evolved "
                                 f"{self.evolved.shape} do not match {bins} bins")
            if self.initial.shape[0] < 2:
                raise InputError(f"{path}: {self.initial.shape[0]} realization(s), a covariance needs 2")
            times = attr(h5, "times")
            self.times = list(np.atleast_1d(times)) if times is not None else list(range(self.evolved.shape[1]))
            if len(self.times) != self.evolved.shape[1]:
                self.times = list(range(self.evolved.shape[1]))
            self.dim, self.n, self.box = attr(h5, "dim"), attr(h5, "N", attr(h5, "n")), attr(h5, "L", attr(h5, "box"))
            self.normalisation = attr(h5, "normalisation")
            self.units = cosmo_plot.Units(h5, self.dim if self.dim is not None else 3)
        self.path = path
        self.realizations = self.initial.shape[0]

    def spectra(self):
        """(label, samples (M x bins)) for the initial density and each evolved time."""
        yield "initial", self.initial
        for t, time in enumerate(self.times):
            yield f"D = {time:g}", self.evolved[:, t, :]

    def describe(self):
        parts = [f"{self.realizations} realizations"]
        if self.dim is not None and self.n is not None:
            parts.append(f"{self.dim}D N={self.n}" + (f" L={self.box:g}" if self.box is not None else ""))
        if self.normalisation:
            parts.append(f"normalisation {self.normalisation}")
        return ", ".join(parts)


def correlation(samples):
    cov = np.cov(samples, rowvar=False, ddof=1)
    sigma = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / np.outer(sigma, sigma)


def plot_power(ef, out_dir):
    fig, (ax, ratio) = plt.subplots(2, 1, figsize=(6.6, 7.0), sharex=True, layout="constrained",
                                    gridspec_kw={"height_ratios": (3, 1.5)})
    k = ef.k
    ax.plot(k, ef.input, ":", color="black", lw=1.4, label="input P(k)", zorder=5)
    for index, (label, samples) in enumerate(ef.spectra()):
        mean = samples.mean(axis=0)
        sigma = samples.std(axis=0, ddof=1)
        color = f"C{index}"
        shown = mean > 0  # a D = 0 "evolution" is the uniform grid: no power to draw on a log axis
        if not np.any(shown):
            continue
        # The initial spectrum as points above everything: at D = 1 the evolved mean lies on it at large scales,
        # and a line of its own would hide under that one.
        style = {"ls": "none", "marker": "o", "ms": 4.5, "mfc": "white", "mew": 1.3, "zorder": 6} \
            if label == "initial" else {"ls": "-", "lw": 1.6, "zorder": 3}
        ax.plot(k[shown], mean[shown], color=color, label=f"{label}: mean", **style)
        ax.fill_between(k[shown], np.maximum(mean - sigma, 1e-3 * mean)[shown], (mean + sigma)[shown], color=color,
                        alpha=0.2, lw=0, zorder=1)
        scatter = {"ls": "-", "lw": 0.8, "marker": "o", "ms": 4.5, "mfc": "white", "mew": 1.3, "zorder": 6} \
            if label == "initial" else {"ls": "-", "marker": ".", "ms": 5, "lw": 1.2, "zorder": 3}
        ratio.plot(k[shown], (sigma / mean)[shown] / np.sqrt(2.0 / ef.modes[shown]), color=color, label=label,
                   **scatter)
    ax.set_xscale("log")
    ax.set_yscale("log")
    cosmo_plot.log_ticks(ax.xaxis, k)
    cosmo_plot.log_ticks(ax.yaxis, np.concatenate([ef.input, ef.initial.mean(axis=0),
                                                   ef.evolved.mean(axis=0).ravel()]))
    ax.set_ylabel(in_units(r"mean $P(k)$, band $\pm 1\sigma$ of one realization", ef.units.power))
    ax.set_title(f"Ensemble mean power spectrum\n{ef.describe()}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    ratio.axhline(1.0, color="black", lw=0.8, ls="--", zorder=2)
    ratio.set_xlabel(in_units(r"wave number $k$", ef.units.wave_number))
    ratio.set_ylabel(r"$\sigma \,/\, P\sqrt{2/N_\mathrm{modes}}$", fontsize=9)
    ratio.set_title("scatter of one realization over the Gaussian expectation (dashed: 1)", fontsize=9)
    ratio.grid(True, alpha=0.3)
    ratio.legend(fontsize=8, ncol=4)
    save(fig, out_dir, "ensemble_power.png")


def plot_correlation(ef, out_dir, panels):
    spectra = [(label, s) for label, s in ef.spectra() if np.all(s.std(axis=0) > 0)]  # D = 0 has no scatter
    if len(spectra) > panels:  # the initial one, then times spread over the rest
        keep = np.unique(np.linspace(1, len(spectra) - 1, panels - 1).round().astype(int))
        spectra = [spectra[0]] + [spectra[i] for i in keep]
    count = len(spectra)
    # At most 3 in a row, else a near-square grid (4 matrices are 2 x 2): a page shows it about 900 pixels wide.
    columns = count if count <= 3 else int(np.ceil(np.sqrt(count)))
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns + 1.0, 3.3 * rows + 0.6), layout="constrained",
                             squeeze=False)
    edges = np.concatenate([[ef.k[0] - 0.5 * (ef.k[1] - ef.k[0])], 0.5 * (ef.k[1:] + ef.k[:-1]),
                            [ef.k[-1] + 0.5 * (ef.k[-1] - ef.k[-2])]]) if len(ef.k) > 1 else None
    k_label = in_units(r"$k$", ef.units.wave_number)
    for index, ax in enumerate(axes.flat):
        if index >= count:
            ax.set_axis_off()
            continue
        label, samples = spectra[index]
        corr = correlation(samples)
        if edges is not None:
            im = ax.pcolormesh(edges, edges, corr, cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set_aspect("equal")
            if index + columns >= count:  # the lowest panel of its column
                ax.set_xlabel(k_label)
            if index % columns == 0:
                ax.set_ylabel(k_label)
        else:
            im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1, origin="lower")
        off = corr[~np.eye(len(corr), dtype=bool)]
        ax.set_title(f"{label}: mean off-diagonal {off.mean():+.3f}", fontsize=10)
    fig.colorbar(im, ax=axes, label="correlation", fraction=0.03, pad=0.02, shrink=0.9)
    fig.suptitle(f"Correlation of the P(k) bins\n{ef.describe()}", fontsize=11)
    save(fig, out_dir, "ensemble_correlation.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Render the mean P(k) with its band and the bins' correlation "
                                                 "matrices from a plx-ensemble HDF5 file.")
    parser.add_argument("file", help="HDF5 file written by plx-ensemble")
    parser.add_argument("--out", metavar="DIR", help="directory for the PNGs (default: the file's directory)")
    parser.add_argument("--panels", type=int, default=4, help="correlation matrices at most (default 4)")
    parser.add_argument("--dpi", type=int, default=cosmo_plot.DPI,
                        help=f"resolution of the PNGs (default {cosmo_plot.DPI})")
    args = parser.parse_args(argv)
    if args.dpi < 10:
        parser.error("--dpi must be at least 10")
    if args.panels < 1:
        parser.error("--panels must be at least 1")
    cosmo_plot.DPI = args.dpi  # save() reads it
    out_dir = args.out if args.out is not None else (os.path.dirname(args.file) or ".")

    def render():
        ef = EnsembleFile(args.file)
        os.makedirs(out_dir, exist_ok=True)
        plot_power(ef, out_dir)
        plot_correlation(ef, out_dir, args.panels)

    return cosmo_plot.exit_code(render)


if __name__ == "__main__":
    sys.exit(main())
