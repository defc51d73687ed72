#!/usr/bin/python3
"""The numpy peer of plx-ensemble (apps/ensemble/ensemble_numpy.py) measures the same thing as plx-ensemble.

    ensemble_peer_test.py PEER_SCRIPT PLX_ENSEMBLE MPIEXEC WORK_DIR

The two draw different noise (numpy's generator, plx's Philox), so their ensembles agree only within
sampling error. On a small case (3D, N = 16, L = 50, 8 bins, --normalisation none, one evolved time D = 1,
the same seeds) this checks, bin by bin, with z = difference / its standard error:
- the peer's mean initial P(k) against the input spectrum, the error being the Gaussian one,
  P sqrt(2 / modes) / sqrt(M), and its variance against the Gaussian expectation 2 P^2 / modes;
- the peer's mean initial and evolved P(k) against plx-ensemble's, the error from both ensembles' sample
  variances;
- the bins, k and mode counts, which must be the same (the same shells);
and that apps/ensemble/plot.py renders plx-ensemble's file (when matplotlib is there).
Each |z| must stay under 4 and the chi^2 of each comparison under its 99.9% quantile: with fixed seeds the
test is deterministic, and a wrong convention (a factor in the spectrum's normalisation, a missing CIC
deconvolution, other bins) moves the means by many standard errors. Also: the peer's bad input exits 2.
Exit 0 pass, 1 fail, 77 skipped (no numpy or h5py for this interpreter).
"""

import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as missing:
    print(f"skipped: {missing} for {sys.executable}")
    sys.exit(77)

DIM, N, BOX, M, SEED, TIMES = 3, 16, 50.0, 160, 1000, "1"
CHI2_999 = {8: 26.12}  # chi^2 quantile 0.999 for 8 degrees of freedom
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"FAIL: {message}", flush=True)


def run(command, **kwargs):
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


def compare(name, z):
    z = np.asarray(z)
    chi2 = float(np.sum(z**2))
    print(f"{name}: max |z| {np.max(np.abs(z)):.2f}, chi^2 {chi2:.1f} for {z.size} bins", flush=True)
    check(np.all(np.abs(z) < 4),
          f"{name}: a bin is off by {np.max(np.abs(z)):.1f} standard errors: z = {np.round(z, 2)}")
    check(chi2 < CHI2_999[z.size], f"{name}: chi^2 {chi2:.1f} for {z.size} bins")


def main(peer, plx_ensemble, mpiexec, work):
    os.makedirs(work, exist_ok=True)
    common = ["--dim", str(DIM), "--n", str(N), "--box", str(BOX), "--realizations", str(M), "--seed", str(SEED),
              "--times", TIMES, "--normalisation", "none"]

    # Bad input: a message naming the option, exit 2.
    bad = run([sys.executable, peer, "--realizations", "1"])
    check(bad.returncode == 2 and "--realizations" in bad.stderr, f"M = 1: exit {bad.returncode}, {bad.stderr!r}")

    numpy_file, plx_file = os.path.join(work, "numpy.h5"), os.path.join(work, "plx.h5")
    peer_run = run([sys.executable, peer, *common, "--out", numpy_file])
    check(peer_run.returncode == 0, f"the peer failed: {peer_run.stdout}{peer_run.stderr}")
    oversubscribe = ["--oversubscribe"] if "OpenRTE" in run([mpiexec, "--version"]).stdout else []  # Open MPI
    plx_run = run([mpiexec, "-n", "2", *oversubscribe, plx_ensemble, *common, "--out", plx_file, "--force"])
    check(plx_run.returncode == 0, f"plx-ensemble failed: {plx_run.stdout}{plx_run.stderr}")
    if failures:
        return 1

    with h5py.File(numpy_file, "r") as a, h5py.File(plx_file, "r") as b:
        for name in ("k", "modes"):
            ours, theirs = a[f"power_spectrum/{name}"][...], b[f"power_spectrum/{name}"][...]
            check(np.allclose(ours, theirs, rtol=1e-12), f"/power_spectrum/{name} differs: {ours} vs {theirs}")
        modes = b["power_spectrum/modes"][...]
        expected = b["power_spectrum/input"][...]
        peer_initial, plx_initial = a["realizations/power"][...], b["realizations/power"][...]
        peer_evolved, plx_evolved = a["realizations/power_evolved"][:, 0, :], b["realizations/power_evolved"][:, 0, :]
    check(peer_initial.shape == plx_initial.shape == (M, N // 2),
          f"/realizations/power: {peer_initial.shape} and {plx_initial.shape}, expected {(M, N // 2)}")
    if failures:
        return 1

    gaussian_error = expected * np.sqrt(2.0 / modes / M)
    compare("peer's mean initial P(k) vs the input", (peer_initial.mean(axis=0) - expected) / gaussian_error)
    # The relative error of a sample variance is sqrt(2 / (M - 1) + kurtosis / M): a shell's P is the mean of
    # modes / 2 independent exponential |z|^2 (excess kurtosis 6 each), so its excess kurtosis is 12 / modes.
    variance_ratio = peer_initial.var(axis=0, ddof=1) / (2.0 * expected**2 / modes)
    compare("peer's variance / (2 P^2 / modes)", (variance_ratio - 1.0) / np.sqrt(2.0 / (M - 1) + 12.0 / modes / M))

    def two_sample(x, y):
        error = np.sqrt(x.var(axis=0, ddof=1) / len(x) + y.var(axis=0, ddof=1) / len(y))
        return (x.mean(axis=0) - y.mean(axis=0)) / error

    compare("mean initial P(k), peer vs plx-ensemble", two_sample(peer_initial, plx_initial))
    compare(f"mean evolved P(k) at D = {TIMES}, peer vs plx-ensemble", two_sample(peer_evolved, plx_evolved))

    # The pictures of plx-ensemble's file (apps/ensemble/plot.py, when matplotlib is there).
    try:
        import matplotlib  # noqa: F401  (only whether it is there)
    except ImportError:
        print("plot.py not tried: no matplotlib")
        return 1 if failures else 0
    pictures = os.path.join(work, "pictures")
    plot = run([sys.executable, os.path.join(os.path.dirname(peer), "plot.py"), plx_file, "--out", pictures])
    check(plot.returncode == 0, f"plot.py failed: {plot.stdout}{plot.stderr}")
    for name in ("ensemble_power.png", "ensemble_correlation.png"):
        check(os.path.getsize(os.path.join(pictures, name)) > 10000 if os.path.exists(os.path.join(pictures, name))
              else False, f"plot.py did not write {name}")
    missing = run([sys.executable, os.path.join(os.path.dirname(peer), "plot.py"), os.path.join(work, "none.h5")])
    check(missing.returncode == 2 and "none.h5" in missing.stderr, f"a missing file: exit {missing.returncode}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
