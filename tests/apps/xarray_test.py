#!/usr/bin/python3
"""xarray opens plx-cosmo's and plx-web's files with named dimensions, coordinates and units (issue 20).

    xarray_test.py PLX_COSMO PLX_WEB MPIEXEC WORK_DIR

Runs plx-cosmo (2D workshop, 3D Eisenstein-Hu) and plx-web on 2 ranks, then opens every group with
xarray.open_dataset(engine="h5netcdf"): the fields' dimensions are x, y (, z) with the grid's coordinates,
the spectrum's is k, and every data variable has `units` and `long_name`. plx-web's adhesion rows (ragged per
time) open with phony_dims="access" and carry their units too. Exit 0, or 1 naming what is wrong.
"""
import os
import subprocess
import sys

import numpy as np
import xarray as xr

cosmo, web = (os.path.abspath(p) for p in sys.argv[1:3])
mpiexec, work = sys.argv[3:5]
os.makedirs(work, exist_ok=True)
os.chdir(work)
problems = []


def run(*args):
    result = subprocess.run([mpiexec, "--oversubscribe", "-n", "2", *args, "--quiet", "--force"], capture_output=True,
                            text=True, timeout=300)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} exited {result.returncode}: {result.stderr}")


def expect(condition, what):
    if not condition:
        problems.append(what)


def described(ds, where):
    for name, variable in ds.variables.items():
        expect("units" in variable.attrs and "long_name" in variable.attrs, f"{where}/{name} lacks units or long_name")


run(cosmo, "--dim", "2", "--n", "32", "--times", "0,1", "--out", "c2.h5")
run(cosmo, "--dim", "3", "--n", "16", "--times", "1", "--spectrum", "eisenstein-hu", "--out", "c3.h5")
run(web, "c3.h5", "--times", "1,2", "--out", "w3.h5")

for path, dim, length in (("c2.h5", 2, "box units"), ("c3.h5", 3, "Mpc/h")):
    axes = ("x", "y", "z")[:dim]
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        described(ds, path)
        expect(ds["density"].dims == axes, f"{path}: /density dims {ds['density'].dims}, not {axes}")
        expect(ds["displacement"].dims == (*axes, "component"), f"{path}: /displacement dims {ds['displacement'].dims}")
        expect(ds["x"].attrs.get("units") == length, f"{path}: x in {ds['x'].attrs.get('units')}, not {length}")
        expect(np.isclose(float(ds["x"][1] - ds["x"][0]), float(ds.attrs["L"]) / int(ds.attrs["N"])),
               f"{path}: x is not the grid's spacing")
    with xr.open_dataset(path, engine="h5netcdf", group="power_spectrum") as ps:
        described(ps, path + ":/power_spectrum")
        expect(ps["power"].dims == ("k",) and "k" in ps.coords, f"{path}: power's dims {ps['power'].dims}")
        expect(ps["k"].attrs.get("units") == ("h/Mpc" if length == "Mpc/h" else "1/(box units)"),
               f"{path}: k in {ps['k'].attrs.get('units')}")
    with xr.open_dataset(path, engine="h5netcdf", group="frames/000") as frame:
        described(frame, path + ":/frames/000")
        expect(frame["density"].dims == axes, f"{path}: frame dims {frame['density'].dims}")

with xr.open_dataset("w3.h5", engine="h5netcdf", group="deformation") as deformation:
    described(deformation, "w3.h5:/deformation")
    expect(deformation["eigenvalues"].dims == ("x", "y", "z", "eigenvalue"),
           f"w3.h5: eigenvalues dims {deformation['eigenvalues'].dims}")
for time in ("000", "001"):
    for part in ("nodes", "filaments", "mass_function"):
        with xr.open_dataset("w3.h5", engine="h5netcdf", group=f"adhesion/{time}/{part}", phony_dims="access") as ds:
            described(ds, f"w3.h5:/adhesion/{time}/{part}")
            expect(len(ds.data_vars) >= 2, f"w3.h5:/adhesion/{time}/{part} has {list(ds.data_vars)}")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("ok: xarray reads plx-cosmo's and plx-web's files with named dimensions and units")
