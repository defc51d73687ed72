#!/usr/bin/python3
"""xarray opens the apps' and map_to_h5's files with named dimensions, coordinates and units (issue 20).

    xarray_test.py PLX_COSMO PLX_WEB PLX_ENSEMBLE H5MAP_DRIVER MPIEXEC WORK_DIR

Runs plx-cosmo (2D workshop, 3D Eisenstein-Hu), plx-web, plx-ensemble and a map_to_h5 program (tests/dist/
h5map_driver.cpp: shaped, ragged and scalar columns, no names given) on 2 ranks, then opens every group with
xarray.open_dataset(engine="h5netcdf"): the fields' dimensions are x, y (, z) with the grid's coordinates,
the spectrum's is k, the ensemble's realization, time and k, map_to_h5's defaults row, <path>_<axis>,
<path>_value and row_edge; every data variable has `units` and `long_name` (map_to_h5's own columns only
where the program gave them). plx-web's adhesion rows (ragged per time) have named dimensions per time group, and
carry their units too. Then the Python reader (apps/python/parallax: parallax.open, parallax.rows) on the same
files: every group, plx-web's times joined, map_to_h5's ragged rows. Exit 0, or 1 naming what is wrong.
"""
import os
import subprocess
import sys

import numpy as np
import xarray as xr

cosmo, web, ensemble, h5map = (os.path.abspath(p) for p in sys.argv[1:5])
mpiexec, work = sys.argv[5:7]
os.makedirs(work, exist_ok=True)
os.chdir(work)
problems = []


def run(*args, quiet=True):
    result = subprocess.run([mpiexec, "--oversubscribe", "-n", "2", *args, *(["--quiet"] if quiet else []), "--force"],
                            capture_output=True, text=True, timeout=300)
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
dims_of_parts = {"nodes": {"position": ("node", "component"), "mass": ("node",)},
                 "filaments": {"a": ("filament", "component"), "b": ("filament", "component"), "mass": ("filament",)},
                 "mass_function": {"count": ("bin",), "dn_dlog10m": ("bin",), "log10_mass": ("bin_edge",)}}
for time in ("000", "001"):
    for part, dims in dims_of_parts.items():
        with xr.open_dataset("w3.h5", engine="h5netcdf", group=f"adhesion/{time}/{part}") as ds:
            described(ds, f"w3.h5:/adhesion/{time}/{part}")
            for name, expected in dims.items():
                expect(ds[name].dims == expected, f"w3.h5:/adhesion/{time}/{part}/{name} dims {ds[name].dims}")

run(ensemble, "--dim", "2", "--n", "16", "--realizations", "12", "--times", "0.5,1,2", "--spectrum", "eisenstein-hu",
    "--out", "e.h5")
with xr.open_dataset("e.h5", engine="h5netcdf", group="realizations") as rows:
    described(rows, "e.h5:/realizations")
    expect(rows["power"].dims == ("realization", "k"), f"e.h5: power dims {rows['power'].dims}")
    expect(rows["power_evolved"].dims == ("realization", "time", "k"),
           f"e.h5: power_evolved dims {rows['power_evolved'].dims}")
    expect(rows["seed"].dims == ("realization",), f"e.h5: seed dims {rows['seed'].dims}")
    expect(rows["power"].attrs.get("units") == "(Mpc/h)^2", f"e.h5: power in {rows['power'].attrs.get('units')}")
with xr.open_dataset("e.h5", engine="h5netcdf", group="power_spectrum") as ps:
    described(ps, "e.h5:/power_spectrum")
    expect("k" in ps.coords and ps["k"].attrs.get("units") == "h/Mpc", f"e.h5: k is not an h/Mpc coordinate")
    expect(ps["input"].dims == ("k",), f"e.h5: input dims {ps['input'].dims}")
with xr.open_dataset("e.h5", engine="h5netcdf", group="covariance") as cov:
    described(cov, "e.h5:/covariance")
    expect(cov["matrix"].dims == ("k", "k_prime"), f"e.h5: matrix dims {cov['matrix'].dims}")
    expect(cov["matrix"].attrs.get("units") == "(Mpc/h)^4", f"e.h5: matrix in {cov['matrix'].attrs.get('units')}")
    expect(cov["eigenvalues"].dims == ("eigenvalue",), f"e.h5: eigenvalues dims {cov['eigenvalues'].dims}")
with xr.open_dataset("e.h5", engine="h5netcdf", group="covariance/evolved") as evolved:
    described(evolved, "e.h5:/covariance/evolved")
    expect(evolved["matrix"].dims == ("time", "k", "k_prime"), f"e.h5: evolved matrix dims {evolved['matrix'].dims}")
with xr.open_dataset("e.h5", engine="h5netcdf") as top:
    expect("time" in top.coords and list(top["time"].values) == [0.5, 1, 2], f"e.h5: time coordinate {top.coords}")

run(h5map, "m.h5", "--n", "40", quiet=False)
with xr.open_dataset("m.h5", engine="h5netcdf", group="rows") as rows:
    expect(rows["shaped"].dims == ("row", "rows_shaped_1") and rows["shaped"].shape == (40, 512),
           f"m.h5: shaped dims {rows['shaped'].dims}")
    expect(rows["seed"].dims == ("row",), f"m.h5: seed dims {rows['seed'].dims}")
with xr.open_dataset("m.h5", engine="h5netcdf", group="rows/ragged") as ragged:
    expect(ragged["values"].dims == ("rows_ragged_value",), f"m.h5: ragged values dims {ragged['values'].dims}")
    expect(ragged["offsets"].dims == ("row_edge",) and ragged["offsets"].shape == (41,),
           f"m.h5: ragged offsets dims {ragged['offsets'].dims}")
    expect(ragged["offsets"].attrs.get("units") == "1", "m.h5: offsets lack units")

# The Python reader (apps/python/parallax), as README's session uses it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "apps", "python"))
import parallax  # noqa: E402

groups = parallax.open("c2.h5")
expect({"/", "/power_spectrum", "/frames/000"} <= set(groups), f"parallax.open(c2.h5): {sorted(groups)}")
expect(groups["/power_spectrum"]["power"].dims == ("k",), "parallax.open: /power_spectrum's power is not along k")
expect(parallax.open("c2.h5", "/power_spectrum").equals(groups["/power_spectrum"]), "parallax.open(path, group)")
web_groups = parallax.open("w3.h5")
nodes = web_groups["/adhesion/nodes"]
sizes = [web_groups[f"/adhesion/{t}/nodes"].sizes["node"] for t in ("000", "001")]
expect(nodes.sizes["node"] == sum(sizes) and sorted(set(nodes["time"].values)) == [1.0, 2.0],
       f"parallax.open(w3.h5)['/adhesion/nodes']: {dict(nodes.sizes)}, times {set(nodes['time'].values)}")
expect(np.isclose(float(nodes["mass"].where(nodes["time"] == 2.0, drop=True).sum()), 16**3),
       "the nodes' masses at D = 2 do not add up to the box's cells")
ragged = parallax.open("m.h5", "/rows/ragged")
rows = parallax.rows(ragged)
expect(len(rows) == 40 and all(len(r) == i % 5 and (r == i).all() for i, r in enumerate(rows)),
       "parallax.rows(m.h5:/rows/ragged) is not the driver's rows (i % 5 values, each i)")
expect(list(ragged["row"].values) == [i for i in range(40) for _ in range(i % 5)], "the ragged column's row index")
ensemble_groups = parallax.open("e.h5")
expect(ensemble_groups["/realizations"]["power_evolved"].dims == ("realization", "time", "k"),
       "parallax.open(e.h5): power_evolved dims")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("ok: xarray reads plx-cosmo's and plx-web's files with named dimensions and units")
