#!/usr/bin/python3
"""The cosmology workshop pipeline in plain numpy, one core: the benchmark peer of `plx-cosmo`.

`plx-bench fft` runs this script next to parallax's own pipeline and compares the two in the same run,
so the algorithm is exactly the workshop's (vectorised numpy, float64, no tricks):

noise         white noise: a real Gaussian field, np.random.default_rng(seed).standard_normal
density       FFT of the noise, times sqrt(P(k)) with P(k) = exp(-k^2/100) / sqrt(k) and the k=0 mode
              removed, inverse FFT, normalised to unit standard deviation (the density contrast delta)
potential     phi = -IFFT(FFT(delta) / k^2), the k=0 mode set to zero (Poisson's equation)
displacement  Zel'dovich displacement Psi = -grad(phi), taken spectrally (Psi_k = -i k phi_k, the
              Nyquist wave number of each derivative zeroed so that both variants give the same field)
frames        particles start on the grid points q and move to x = q + D * Psi (periodic box) for 10
              growth factors D from 0 to 4; each frame is their cloud-in-cell (CIC) density on the grid,
              in units of the mean density (1 = one particle per cell)

Wave numbers are k = 2 pi / L * (integer FFT frequency) = 2 pi * np.fft.fftfreq(N, d=L/N). Density and
potential take 4 transforms. Two variants: `fftn` is the workshop's own way (complex np.fft.fftn/ifftn,
keeping the real part), `rfftn` uses real transforms (np.fft.rfftn/irfftn: half the spectrum).

Everything is timed, k grids included; only the imports happen before the clock starts. With
--repeats K the whole pipeline runs K times and each stage (and the total) reports its median. The peak
resident memory of the process is reported too (ru_maxrss, so the largest over all repeats).

Run with the system python (numpy only):

    /usr/bin/python3 apps/cosmo/workshop_numpy.py                        # 3D, N=256, density+potential
    /usr/bin/python3 apps/cosmo/workshop_numpy.py --variant rfftn --repeats 3 --json
    /usr/bin/python3 apps/cosmo/workshop_numpy.py --dim 2 --stages all   # the whole 2D workshop

--json prints one JSON object per line, with the field names of `plx-bench fft --json`:
{"benchmark": "fft", "variant": "numpy" | "numpy-rfftn", "dim", "n", "ranks": 1, "threads": 1,
 "seconds", "peak_rss_mb", "stages": {"noise", "density", "potential"[, "displacement", "frames"]}}.

The functions below can also be imported (e.g. to make test data): `run_pipeline` returns the fields.
"""

import os

# One core, as in the workshop: keep any threaded library numpy may pull in to a single thread.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

try:
    import numpy as np
except ImportError as missing:
    sys.exit(f"workshop_numpy.py: {missing} in {sys.executable}; ./bootstrap.sh bench installs Debian's "
             f"python3-numpy, for /usr/bin/python3: run /usr/bin/python3 {sys.argv[0]}")

VARIANT_NAMES = {"fftn": "numpy", "rfftn": "numpy-rfftn"}  # --variant -> the JSON "variant" field
STAGES = {"density-potential": ("noise", "density", "potential"),
          "all": ("noise", "density", "potential", "displacement", "frames")}
FRAME_TIMES = np.linspace(0.0, 4.0, 10)  # growth factors D of the frames


def power_spectrum(k):
    """The workshop's input spectrum P(k) = exp(-k^2/100) / sqrt(k); P(0) is infinite (handled by callers)."""
    return np.exp(-k**2 / 100.0) / np.sqrt(k)


class Transforms:
    """Forward/inverse FFTs and wave-number grids of one variant on an N^dim grid of a periodic box L^dim."""

    def __init__(self, variant, dim, n, box):
        self.real = variant == "rfftn"
        self.shape = (n,) * dim
        k1d = 2.0 * np.pi * np.fft.fftfreq(n, d=box / n)  # 2 pi / L * integer frequency
        axes = [k1d] * dim
        if self.real:  # the last axis keeps only the non-negative frequencies 0..N/2
            axes[-1] = 2.0 * np.pi * np.fft.rfftfreq(n, d=box / n)
        self.k = np.meshgrid(*axes, indexing="ij", sparse=True)  # k_x, k_y[, k_z], broadcastable
        self.nyquist = np.pi * n / box

    def forward(self, field):
        return np.fft.rfftn(field) if self.real else np.fft.fftn(field)

    def inverse(self, spectrum):
        if self.real:
            return np.fft.irfftn(spectrum, s=self.shape)
        return np.fft.ifftn(spectrum).real

    def k_squared(self):
        """|k|^2 on the (half) spectrum grid."""
        return sum(kj**2 for kj in self.k)

    def k_derivative(self, axis):
        """k along one axis for a first derivative: the Nyquist wave number (no sign for a real field) is 0."""
        kj = self.k[axis].copy()
        kj[np.isclose(np.abs(kj), self.nyquist)] = 0.0
        return kj


def white_noise(shape, seed):
    """A real Gaussian white-noise field with unit variance per cell."""
    return np.random.default_rng(seed).standard_normal(shape)


def density_field(noise, tr):
    """Filter the noise by sqrt(P(k)) (k=0 removed) and normalise it to unit standard deviation.

    Returns (delta, k2): the density contrast and |k|^2, which the potential reuses.
    """
    k2 = tr.k_squared()
    with np.errstate(divide="ignore"):
        amplitude = np.sqrt(power_spectrum(np.sqrt(k2)))
    amplitude.flat[0] = 0.0  # k = 0: remove the mean
    delta = tr.inverse(tr.forward(noise) * amplitude)
    delta /= delta.std()
    return delta, k2


def potential_field(delta, k2, tr):
    """Solve Poisson's equation laplacian(phi) = delta: phi = -IFFT(FFT(delta) / k^2), the k=0 mode zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        phi_k = tr.forward(delta) / -k2
    phi_k.flat[0] = 0.0
    return tr.inverse(phi_k)


def displacement_field(phi, tr):
    """The Zel'dovich displacement Psi = -grad(phi), spectrally; shape (dim, N, ..., N)."""
    phi_k = tr.forward(phi)
    return np.stack([tr.inverse(-1j * tr.k_derivative(axis) * phi_k) for axis in range(len(tr.shape))])


def cic_density(u, n):
    """Cloud-in-cell density of particles at grid coordinates u (shape (dim, M), cell units, periodic).

    Grid node i sits at coordinate i; a particle shares its unit mass between the 2^dim nodes around it.
    Returned in units of the mean density for M = N^dim particles (1 = one particle per cell).
    """
    dim = u.shape[0]
    cell = np.floor(u)
    frac = u - cell
    lower = cell.astype(np.int64) % n
    upper = (lower + 1) % n
    rho = np.zeros(n**dim)
    for corner in itertools.product((0, 1), repeat=dim):
        index, weight = 0, 1.0
        for axis, up in enumerate(corner):
            index = index * n + (upper[axis] if up else lower[axis])
            weight = weight * (frac[axis] if up else 1.0 - frac[axis])
        rho += np.bincount(index, weights=weight, minlength=n**dim)
    return rho.reshape((n,) * dim) * (n**dim / u.shape[1])


def zeldovich_frames(psi, box, times=FRAME_TIMES):
    """CIC densities of the particles moved to x = q + D * Psi, one frame per growth factor D in times."""
    dim, n = psi.shape[0], psi.shape[1]
    q = np.stack(np.meshgrid(*[np.arange(n, dtype=float)] * dim, indexing="ij")).reshape(dim, -1)
    psi_cells = psi.reshape(dim, -1) * (n / box)  # displacements in cell units
    return [cic_density(q + D * psi_cells, n) for D in times]


def run_pipeline(dim, n, box, seed, variant="fftn", stages="density-potential"):
    """Run the pipeline once; returns (seconds per stage, fields).

    fields holds "density" and "potential", and with stages="all" also "displacement" (dim, N, ..., N)
    and "frames" (a list, one density per growth factor in FRAME_TIMES). The noise is dropped once used.
    """
    seconds = {}

    def timed(name, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        seconds[name] = time.perf_counter() - start
        return result

    def density(noise):
        tr = Transforms(variant, dim, n, box)  # the k grids are part of the timed work
        return (*density_field(noise, tr), tr)

    noise = timed("noise", white_noise, (n,) * dim, seed)
    delta, k2, tr = timed("density", density, noise)
    del noise
    fields = {"density": delta}
    fields["potential"] = timed("potential", potential_field, delta, k2, tr)
    if stages == "all":
        del k2
        fields["displacement"] = timed("displacement", displacement_field, fields["potential"], tr)
        fields["frames"] = timed("frames", zeldovich_frames, fields["displacement"], box)
    return seconds, fields


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="The cosmology workshop pipeline (white noise -> density -> potential [-> Zel'dovich "
                    "displacement -> CIC frames]) in numpy on one core: the peer of plx-bench fft.")
    parser.add_argument("--dim", type=int, choices=(2, 3), default=3, help="2 or 3 dimensions (default 3)")
    parser.add_argument("--n", type=int, default=256, help="grid points per side (default 256)")
    parser.add_argument("--box", type=float, default=50.0, help="box side L in box units (default 50)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the white noise (default 42)")
    parser.add_argument("--variant", choices=tuple(VARIANT_NAMES), default="fftn",
                        help="fftn: complex np.fft.fftn/ifftn, the workshop's way (default); "
                             "rfftn: real np.fft.rfftn/irfftn")
    parser.add_argument("--stages", choices=tuple(STAGES), default="density-potential",
                        help="density-potential: noise, density, potential (default); all: also the "
                             "displacement and the 10 CIC frames (heavy in 3D)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of the pipeline, medians reported (default 1)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    if args.n < 2 or args.box <= 0 or args.repeats < 1:
        parser.error("--n must be at least 2, --box and --repeats positive")

    runs = []
    for _ in range(args.repeats):
        seconds, fields = run_pipeline(args.dim, args.n, args.box, args.seed, args.variant, args.stages)
        del fields  # free the previous run's fields before the next one
        runs.append(seconds)
    stages = {name: statistics.median(run[name] for run in runs) for name in STAGES[args.stages]}
    total = statistics.median(sum(run.values()) for run in runs)
    record = {"benchmark": "fft", "variant": VARIANT_NAMES[args.variant], "dim": args.dim, "n": args.n,
              "ranks": 1, "threads": 1, "seconds": round(total, 6), "peak_rss_mb": round(peak_rss_mb(), 1),
              "stages": {name: round(s, 6) for name, s in stages.items()}}
    if args.json:
        print(json.dumps(record), flush=True)
    else:
        print(f"{record['variant']}: {args.dim}D N={args.n} L={args.box:g}, 1 core, median of {args.repeats}")
        for name, s in stages.items():
            print(f"  {name:<13} {s:9.3f} s")
        print(f"  {'total':<13} {total:9.3f} s   peak RSS {record['peak_rss_mb']:.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
