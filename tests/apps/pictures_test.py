#!/usr/bin/python3
"""The pictures in apps/*/pictures/ (README's) are what the plot scripts of this build draw for the documented
commands (issue 20).

    pictures_test.py PLX_COSMO PLX_ENSEMBLE PLX_WEB MPIEXEC WORK_DIR [--update]

Runs each documented command on 2 ranks in WORK_DIR, renders its file with the app's plot.py (this
interpreter, default options) and compares the pictures README shows with the tracked files:

  default 2D run   plx-cosmo --out cosmo.h5; plot.py cosmo.h5        density, potential, frames, power_spectrum
                   plx-web cosmo.h5 --out web.h5; plot.py web.h5     classes, web_007.png (D = 3.1) as
                                                                     adhesion_2d.png, web.gif as adhesion.gif
  ensemble         plx-ensemble --dim 3 --n 32 --times 1,2,4 --realizations 2000 --normalisation none
                   --out ensemble.h5; plot.py ensemble.h5            ensemble_power, ensemble_correlation
  3D slab          plx-cosmo --dim 3 --n 64 --times 0 --out cosmo.h5;
                   plx-web cosmo.h5 --times 2 --out web.h5; plot.py  web_000.png as adhesion_3d.png
  mass function    plx-cosmo --dim 3 --n 48 --times 0 --out cosmo.h5;
                   plx-web cosmo.h5 --times 0.5,1,2,4 --out web.h5   mass_function.png as mass_function_3d.png

A picture matches when its bytes are equal, or else when its pixels are: the same size (and for the GIF the
same frames and durations), and at most 0.02% of the pixels differing by more than 16 of 255 levels in a
channel. The scripts write the same bytes for the same data and library versions; the tolerance admits
last-bit differences of the data (FFTW's SIMD codelets differ between CPUs) and of anti-aliasing, while a
changed label, line or layout differs in hundreds of pixels. Every tracked picture must be one of the above
and under 1 MiB.

--update copies the rendered pictures over the tracked ones (how they are regenerated). Exit 0 pass, 1 fail
(naming each picture and how it differs), 77 skipped: this interpreter lacks h5py, matplotlib or Pillow.
"""
import filecmp
import os
import shutil
import subprocess
import sys
import time

try:
    import h5py  # noqa: F401  (the plot scripts need it)
    import matplotlib  # noqa: F401
    import numpy as np
    from PIL import Image
except ImportError as missing:
    print(f"skipped: {missing} in {sys.executable}")
    sys.exit(77)

SOURCE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LEVELS = 16  # a pixel differs when a channel differs by more than this
FRACTION = 2e-4  # of a picture's pixels that may differ
MAX_BYTES = 1 << 20

# (scenario, [(app, arguments)], [(rendered file in the scenario's directory, tracked file under apps/)])
SCENARIOS = [
    ("default_2d",
     [("cosmo", ["--out", "cosmo.h5"]), ("web", ["cosmo.h5", "--out", "web.h5"]),
      ("plot", ["cosmo", "cosmo.h5"]), ("plot", ["web", "web.h5"])],
     [("density.png", "cosmo/pictures/density.png"), ("potential.png", "cosmo/pictures/potential.png"),
      ("frames.png", "cosmo/pictures/frames.png"), ("power_spectrum.png", "cosmo/pictures/power_spectrum.png"),
      ("classes.png", "web/pictures/classes.png"), ("web_007.png", "web/pictures/adhesion_2d.png"),
      ("web.gif", "web/pictures/adhesion.gif")]),
    ("ensemble",
     [("ensemble", ["--dim", "3", "--n", "32", "--times", "1,2,4", "--realizations", "2000", "--normalisation",
                    "none", "--out", "ensemble.h5"]),
      ("plot", ["ensemble", "ensemble.h5"])],
     [("ensemble_power.png", "ensemble/pictures/ensemble_power.png"),
      ("ensemble_correlation.png", "ensemble/pictures/ensemble_correlation.png")]),
    ("slab_3d",
     [("cosmo", ["--dim", "3", "--n", "64", "--times", "0", "--out", "cosmo.h5"]),
      ("web", ["cosmo.h5", "--times", "2", "--out", "web.h5"]), ("plot", ["web", "web.h5"])],
     [("web_000.png", "web/pictures/adhesion_3d.png")]),
    ("mass_function_3d",
     [("cosmo", ["--dim", "3", "--n", "48", "--times", "0", "--out", "cosmo.h5"]),
      ("web", ["cosmo.h5", "--times", "0.5,1,2,4", "--out", "web.h5"]), ("plot", ["web", "web.h5"])],
     [("mass_function.png", "web/pictures/mass_function_3d.png")]),
]


def run(command, cwd):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def frames(path):
    """[(RGBA array, duration in ms)] of every frame of a PNG or GIF."""
    with Image.open(path) as image:
        result = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            result.append((np.asarray(image.convert("RGBA"), dtype=np.int16), image.info.get("duration")))
    return result


def difference(rendered, tracked):
    """None when the pictures match, else why not."""
    if filecmp.cmp(rendered, tracked, shallow=False):
        return None
    new, old = frames(rendered), frames(tracked)
    if len(new) != len(old):
        return f"{len(new)} frames, the tracked file {len(old)}"
    for index, ((a, a_ms), (b, b_ms)) in enumerate(zip(new, old)):
        where = f"frame {index}: " if len(new) > 1 else ""
        if a.shape != b.shape:
            return f"{where}{a.shape[1]} x {a.shape[0]} pixels, the tracked file {b.shape[1]} x {b.shape[0]}"
        if a_ms != b_ms:
            return f"{where}{a_ms} ms, the tracked file {b_ms} ms"
        differing = int(np.count_nonzero(np.abs(a - b).max(axis=2) > LEVELS))
        if differing > FRACTION * a.shape[0] * a.shape[1]:
            return (f"{where}{differing} of {a.shape[0] * a.shape[1]} pixels differ by more than {LEVELS} levels "
                    f"(at most {FRACTION:.2%} may)")
    return None


def main(argv):
    update = "--update" in argv
    args = [a for a in argv if a != "--update"]
    if len(args) != 5:
        sys.exit(__doc__)
    apps = {"cosmo": os.path.abspath(args[0]), "ensemble": os.path.abspath(args[1]), "web": os.path.abspath(args[2])}
    mpiexec, work = args[3], os.path.abspath(args[4])
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True).stdout
    oversubscribe = ["--oversubscribe"] if "OpenRTE" in version or "Open MPI" in version else []

    problems = []
    tracked = {os.path.join(kind, "pictures", name) for kind in ("cosmo", "ensemble", "web")
               for name in os.listdir(os.path.join(SOURCE, "apps", kind, "pictures"))}
    covered = {picture for _, _, pictures in SCENARIOS for _, picture in pictures}
    problems += [f"apps/{p}: tracked, but no documented command of this test draws it"
                 for p in sorted(tracked - covered)]

    for scenario, steps, pictures in SCENARIOS:
        started = time.monotonic()
        directory = os.path.join(work, scenario)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        for app, arguments in steps:
            if app == "plot":
                kind, file = arguments
                run([sys.executable, os.path.join(SOURCE, "apps", kind, "plot.py"), file], directory)
            else:
                run([mpiexec, "-n", "2", *oversubscribe, apps[app], *arguments, "--quiet"], directory)
        for name, picture in pictures:
            rendered, path = os.path.join(directory, name), os.path.join(SOURCE, "apps", picture)
            if update:
                shutil.copyfile(rendered, path)
            why = difference(rendered, path) if os.path.isfile(path) else "no tracked file"
            if why:
                problems.append(f"apps/{picture} is not what {scenario}'s commands draw ({rendered}): {why}")
            if os.path.getsize(path) > MAX_BYTES:
                problems.append(f"apps/{picture}: {os.path.getsize(path)} bytes, more than 1 MiB")
        print(f"{scenario}: {len(pictures)} pictures, {time.monotonic() - started:.1f} s", flush=True)

    if problems:
        print("\n".join(problems))
        print("regenerate with: /usr/bin/python3 tests/apps/pictures_test.py PLX_COSMO PLX_ENSEMBLE PLX_WEB MPIEXEC "
              "WORK_DIR --update")
        return 1
    print("ok: every tracked picture is what its documented command draws")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
