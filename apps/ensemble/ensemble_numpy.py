#!/usr/bin/python3
"""plx-ensemble's ensemble in plain numpy over a multiprocessing.Pool: the reference peer of `plx-bench ensemble`.

Each realization i (seed S + i) is one task of the pool, computed as plx-ensemble computes it, with numpy's
own tools (vectorised, float64, no tricks):

noise        complex Gaussian white noise drawn directly in Fourier space on the real-FFT half grid
             [N]..[N][N/2+1] (numpy's default_rng, so not plx's Philox stream: the fields differ, their
             statistics do not), made Hermitian on the self-conjugate planes (last index 0 and N/2)
density      noise times sqrt(P(k)), the k = 0 mode removed. --normalisation none: the spectrum in physical
             units, E[measured P] = P(k); unit-variance (the default, as plx-cosmo's): rescaled so that the
             real-space density has unit variance (Parseval), which ties every bin to the realization's
             total power and so correlates the bins
P(k)         measured like plx-cosmo: shell b holds the modes with round(|k| / k_f) = b, b = 1 .. N/2,
             k_f = 2 pi / L; P = L^d / N^(2d) |F_k|^2 averaged over the shell, k and -k counted apart.
             The initial spectrum needs no transform: the Fourier field is at hand
evolved      potential phi_k = -delta_k / k^2, Zel'dovich displacement Psi = -grad(phi) (spectrally, the
             Nyquist frequency of each derivative zeroed; one inverse rfftn per axis), particles moved from
             the grid points q to x = q + D Psi for each growth factor D of --times, deposited by
             cloud-in-cell (CIC) on the grid (1 = one particle per cell; workshop_numpy.cic_density),
             forward rfftn, P(k) with the CIC window deconvolved mode by mode: |F_k|^2 / W(k)^2,
             W(k) = prod_axes sinc^2(pi k_j / (2 k_N)) = prod_axes sinc^2(m_j / N) for the integer
             frequency m_j (k_N = pi N / L, the Nyquist wave number)
covariance   over the realizations, for the initial spectrum and for each time: mean, unbiased covariance,
             correlation, eigenvalues, and the precision matrix with the Hartlap factor (M - bins - 2)/(M - 1)

Only the workshop spectrum P(k) = exp(-k^2/100) / sqrt(k) is implemented. Everything after the imports is
timed: pool start-up, the realizations, the covariance, and writing --out.

    /usr/bin/python3 apps/ensemble/ensemble_numpy.py --dim 3 --n 64 --realizations 40 --times 1 --json
    /usr/bin/python3 apps/ensemble/ensemble_numpy.py --dim 3 --n 32 --realizations 64 --out ens.h5

The options and their defaults are plx-ensemble's (2D, N = 256, L = 50, seed 42, --times 1), less those of
other spectra. --json prints one JSON object (the fields of `plx-bench ensemble --json`): {"benchmark":
"ensemble", "tool": "numpy-pool", "n", "realizations", "seconds", "realizations_per_s"} plus "dim",
"processes" and "times". --out writes plx-ensemble's layout with h5py: /realizations/{power,power_evolved,
seed}, /power_spectrum/{k,modes,input}, /covariance/{mean,matrix,correlation,eigenvalues,precision,
gaussian_diagonal} and /covariance/evolved/ the same with a leading axis of times. Exit codes: 0 success,
1 a missing package, 2 bad command line (the message names the option).
"""

import argparse
import json
import multiprocessing
import os
import sys
import time

# The workshop's spectrum and CIC deposit are those of plx-cosmo's numpy peer, apps/cosmo/workshop_numpy.py.
# Importing it also keeps any threaded library numpy may pull in to one thread per worker process, and says
# what to install when numpy is missing.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cosmo"))
from workshop_numpy import cic_density  # noqa: E402
from workshop_numpy import power_spectrum as workshop_spectrum  # noqa: E402

import numpy as np  # noqa: E402

DEFAULT_TIMES = "1"


def parse_times(text):
    """Growth factors as plx-cosmo reads --times: a list 'a,b,c' or 'start:stop:count'."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            count = float(count)
            if count < 1 or count != int(count):
                raise ValueError
            count = int(count)
            if count == 1:
                return [float(start)]
            return [float(start) + (float(stop) - float(start)) * i / (count - 1) for i in range(count)]
        return [float(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list a,b,c or start:stop:count") from None


class Grid:
    """Everything about the N^dim half-spectrum grid that does not depend on the realization."""

    def __init__(self, dim, n, box, normalisation):
        self.dim, self.n, self.box = dim, n, box
        self.shape = (n,) * dim
        self.half_shape = (n,) * (dim - 1) + (n // 2 + 1,)
        self.cells = float(n**dim)
        self.volume = box**dim
        k_f = 2.0 * np.pi / box
        # Integer frequencies per axis (the last one halved), broadcastable.
        freqs = [np.fft.fftfreq(n, d=1.0 / n)] * (dim - 1) + [np.fft.rfftfreq(n, d=1.0 / n)]
        self.m = np.meshgrid(*freqs, indexing="ij", sparse=True)
        m2 = sum(mj**2 for mj in self.m)
        m_abs = np.sqrt(m2)
        last = np.arange(n // 2 + 1)
        # A half-spectrum mode stands for itself and its mirror, except on the self-conjugate planes.
        self.weight = np.broadcast_to(np.where((last == 0) | ((n % 2 == 0) & (last == n // 2)), 1.0, 2.0),
                                      self.half_shape)
        shell = np.rint(m_abs).astype(np.int64)
        self.bins = n // 2
        self.shell = np.where(shell <= self.bins, shell, 0).ravel()  # shell 0 (k = 0 and corners) dropped
        self.modes = np.bincount(self.shell, self.weight.ravel(), minlength=self.bins + 1)[1:]
        self.k = np.bincount(self.shell, (self.weight * m_abs).ravel(), minlength=self.bins + 1)[1:] * k_f / self.modes

        # sqrt(P) per mode, the k = 0 mode zero; for `none` scaled so that E[measured P] = P.
        with np.errstate(divide="ignore"):
            power = workshop_spectrum(k_f * m_abs)
        power.flat[0] = 0.0
        self.amplitude = np.sqrt(power * (self.cells**2 / self.volume))
        self.normalisation = normalisation
        # The input row: P at each shell's mean k, times the expected factor of unit-variance scaling.
        factor = 1.0 if normalisation == "none" else self.volume / np.sum(self.weight * power)
        self.input = factor * workshop_spectrum(self.k)

        with np.errstate(divide="ignore", invalid="ignore"):
            self.minus_inv_k2 = np.where(m2 > 0, -1.0 / (k_f**2 * m2), 0.0)
        # -i k_j for the derivative along j, its Nyquist frequency zeroed (i k there has no real counterpart).
        self.minus_ik = []
        for mj in self.m:
            kj = k_f * np.where((n % 2 == 0) & (np.abs(mj) == n // 2), 0.0, mj)
            self.minus_ik.append(-1j * kj)
        window = 1.0
        for mj in self.m:
            window = window * np.sinc(mj / n) ** 2  # np.sinc(x) = sin(pi x) / (pi x)
        self.inv_window2 = 1.0 / window**2
        self.q = np.stack(np.meshgrid(*[np.arange(n, dtype=float)] * dim, indexing="ij")).reshape(dim, -1)

    def measure(self, fourier_power):
        """Shell means of L^d / N^(2d) |F_k|^2, given |F_k|^2 on the half grid."""
        sums = np.bincount(self.shell, (self.weight * fourier_power).ravel(), minlength=self.bins + 1)[1:]
        return sums * (self.volume / self.cells**2) / self.modes

    def white_noise(self, seed):
        """Hermitian complex white noise on the half grid, E|z_k|^2 = 1 per mode."""
        rng = np.random.default_rng(seed)
        z = (rng.standard_normal(self.half_shape) + 1j * rng.standard_normal(self.half_shape)) * np.sqrt(0.5)
        # On the planes last = 0 (and N/2 for even N) the mode at -m is the same array element's mirror: the
        # average of a draw and its mirror's conjugate is Hermitian and keeps the variance (a self-mirrored
        # mode becomes sqrt(2) Re z, real with E = 1).
        planes = [0] + ([self.n // 2] if self.n % 2 == 0 else [])
        axes = tuple(range(self.dim - 1))
        for c in planes:
            plane = z[..., c]
            mirror = np.roll(np.flip(plane, axis=axes), 1, axis=axes)
            z[..., c] = (plane + np.conj(mirror)) * np.sqrt(0.5)
        return z


_grid = None  # one per worker process, built by the pool's initializer
_times = None


def _init_worker(dim, n, box, normalisation, times):
    global _grid, _times
    _grid = Grid(dim, n, box, normalisation)
    _times = times


def realization(seed):
    """(initial P(k), evolved P(k) per time) of the realization with this seed."""
    g = _grid
    delta_k = g.white_noise(seed) * g.amplitude
    if g.normalisation == "unit-variance":
        variance = np.sum(g.weight * np.abs(delta_k) ** 2) / g.cells**2  # Parseval, k = 0 already zero
        delta_k /= np.sqrt(variance)
    power = g.measure(np.abs(delta_k) ** 2)

    phi_k = delta_k * g.minus_inv_k2
    psi_cells = np.stack([np.fft.irfftn(ik * phi_k, s=g.shape).ravel() for ik in g.minus_ik]) * (g.n / g.box)
    evolved = []
    for growth in _times:
        rho_k = np.fft.rfftn(cic_density(g.q + growth * psi_cells, g.n))
        evolved.append(g.measure(np.abs(rho_k) ** 2 * g.inv_window2))
    return power, np.array(evolved)


def covariance(samples, modes):
    """Mean, unbiased covariance, correlation, eigenvalues, Hartlap-corrected precision and the Gaussian
    expectation of the variance, 2 P^2 / modes with P the mean, of (M, bins) samples."""
    bins = samples.shape[1]
    m = samples.shape[0]
    mean = samples.mean(axis=0)
    cov = np.cov(samples, rowvar=False, ddof=1)
    sigma = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sigma, sigma)
    hartlap = (m - bins - 2) / (m - 1)
    try:
        precision = hartlap * np.linalg.inv(cov)
    except np.linalg.LinAlgError:  # no scatter at all (D = 0: every realization is the uniform grid)
        precision = np.full_like(cov, np.nan)
    return {"mean": mean, "matrix": cov, "correlation": corr, "eigenvalues": np.linalg.eigvalsh(cov),
            "precision": precision, "gaussian_diagonal": 2.0 * mean**2 / modes}


def write_output(path, args, grid, seeds, power, evolved, initial_cov, evolved_cov):
    """plx-ensemble's layout (include/parallax/cosmo/ensemble.hpp), the evolved estimates with a leading times axis."""
    import h5py

    with h5py.File(path, "w") as f:
        f["realizations/power"] = power
        f["realizations/power_evolved"] = evolved
        f.create_dataset("realizations/seed", data=np.asarray(seeds, dtype=np.uint64))
        f["power_spectrum/k"] = grid.k
        f["power_spectrum/modes"] = grid.modes
        f["power_spectrum/input"] = grid.input
        for group, estimates in (("covariance", [initial_cov]), ("covariance/evolved", evolved_cov)):
            for name in estimates[0]:
                values = np.array([e[name] for e in estimates])
                f[f"{group}/{name}"] = values[0] if group == "covariance" else values
        f["covariance/evolved"].attrs["times"] = args.times
        f.attrs["dim"], f.attrs["N"], f.attrs["L"] = args.dim, args.n, args.box
        f.attrs["seed"] = np.uint64(args.seed)
        f.attrs["realizations"] = args.realizations
        f.attrs["times"] = args.times
        f.attrs["normalisation"] = args.normalisation
        f.attrs["spectrum"] = "workshop"
        f.attrs["tool"] = "numpy-pool"
        f.attrs["processes"] = args.processes


def run(args):
    """The whole ensemble; returns (grid, seeds, power (M, bins), evolved (M, times, bins))."""
    seeds = [args.seed + i for i in range(args.realizations)]
    init = (args.dim, args.n, args.box, args.normalisation, args.times)
    with multiprocessing.Pool(args.processes, initializer=_init_worker, initargs=init) as pool:
        results = pool.map(realization, seeds, chunksize=1)
    grid = Grid(*init[:4])  # the bins, for the output (cheap next to one realization)
    power = np.array([r[0] for r in results])
    evolved = np.array([r[1] for r in results]).reshape(args.realizations, len(args.times), grid.bins)
    return grid, seeds, power, evolved


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="plx-ensemble's ensemble (initial and Zel'dovich-evolved P(k) per realization, then their "
                    "covariance) in numpy over multiprocessing.Pool: the peer of plx-bench ensemble.")
    parser.add_argument("--dim", type=int, choices=(2, 3), default=2, help="2 or 3 dimensions (default 2)")
    parser.add_argument("--n", type=int, default=256, help="cells per side (default 256; P(k) has n/2 bins)")
    parser.add_argument("--box", type=float, default=50.0, help="box side L (default 50)")
    parser.add_argument("--realizations", type=int, required=True, help="realizations M (more than bins + 2)")
    parser.add_argument("--seed", type=int, default=42, help="realization i uses seed S + i (default 42)")
    parser.add_argument("--times", type=parse_times, default=parse_times(DEFAULT_TIMES),
                        help=f"growth factors: list a,b,c or start:stop:count (default {DEFAULT_TIMES})")
    parser.add_argument("--normalisation", choices=("unit-variance", "none"), default="unit-variance",
                        help="unit-variance (default) | none")
    parser.add_argument("--spectrum", choices=("workshop",), default="workshop", help="workshop (the only one)")
    parser.add_argument("--processes", type=int, default=2, help="multiprocessing.Pool workers (default 2)")
    parser.add_argument("--out", help="write the realizations and covariance to this HDF5 file (h5py)")
    parser.add_argument("--json", action="store_true", help="one JSON object, the fields of plx-bench ensemble")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error(f"--n must be at least 2, not {args.n}")
    if args.box <= 0:
        parser.error(f"--box must be positive, not {args.box}")
    if args.realizations < 2:
        parser.error(f"--realizations must be at least 2 for a covariance, not {args.realizations}")
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, not {args.processes}")
    if args.seed < 0 or args.seed + args.realizations > 2**64:
        parser.error(f"--seed must be 0 .. 2^64 - M, not {args.seed}")
    if any(b <= a for a, b in zip(args.times, args.times[1:])):
        parser.error("--times must be increasing")
    bins = args.n // 2
    if bins >= args.realizations - 2:
        parser.error(f"--realizations {args.realizations} leaves the precision matrix undefined for {bins} bins: "
                     f"need M > bins + 2 = {bins + 2}")

    start = time.perf_counter()
    grid, seeds, power, evolved = run(args)
    initial_cov = covariance(power, grid.modes)
    evolved_cov = [covariance(evolved[:, t, :], grid.modes) for t in range(len(args.times))]
    if args.out:
        write_output(args.out, args, grid, seeds, power, evolved, initial_cov, evolved_cov)
    seconds = time.perf_counter() - start

    record = {"benchmark": "ensemble", "tool": "numpy-pool", "n": args.n, "realizations": args.realizations,
              "seconds": round(seconds, 6), "realizations_per_s": round(args.realizations / seconds, 3),
              "dim": args.dim, "processes": args.processes, "times": args.times}
    if args.json:
        print(json.dumps(record), flush=True)
    else:
        print(f"numpy-pool: {args.realizations} realizations of {args.dim}D N={args.n}, {len(args.times)} "
              f"time(s), {args.processes} processes: {seconds:.3f} s, {record['realizations_per_s']:.2f} "
              f"realizations/s" + (f", wrote {args.out}" if args.out else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
