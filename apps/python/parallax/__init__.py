"""Read parallax's HDF5 files as xarray Datasets: plx-cosmo, plx-ensemble, plx-web and any map_to_h5 output.

    >>> import parallax
    >>> groups = parallax.open("cosmo.h5")          # {"/": Dataset, "/power_spectrum": Dataset, ...}
    >>> ps = parallax.open("cosmo.h5", "/power_spectrum")
    >>> ps.power.plot(xscale="log", yscale="log")    # axes labelled with long_name and units

Every group that holds datasets becomes one xarray.Dataset, keyed by its path. The files name their
dimensions with HDF5 dimension scales and carry `units` and `long_name`, which xarray shows; datasets
without named dimensions get phony ones (phony_dims="access"). Two layouts that xarray does not know are
turned into ones that it does:

- A ragged map_to_h5 column (CSR: <path>/values and <path>/offsets, row i being
  values[offsets[i]:offsets[i+1]]) gets a variable `row` along its values: the row each value belongs to,
  so `ds.values.groupby(ds.row)` iterates the rows. `parallax.rows(ds)` gives them as a list of arrays.
- plx-web's per-time groups (/adhesion/000/nodes, /adhesion/001/nodes, ...) are joined into one Dataset
  per kind (/adhesion/nodes, /adhesion/filaments), along their rows (node, filament), with a variable
  `time` (the growth factor D of each row,
  from each group's `time` attribute): `nodes.where(nodes.time == 4.0, drop=True)`. The per-time groups
  stay available under their own paths.

Needs h5py, xarray and h5netcdf (Debian: python3-h5py python3-xarray python3-h5netcdf). Installed with the
apps under PREFIX/share/parallax/python (add it to PYTHONPATH; ./bootstrap.sh install prints the line).
"""

import re

import h5py
import numpy as np
import xarray as xr

__all__ = ["open", "rows"]

_TIME_GROUP = re.compile(r"^(.*)/(\d{3,})/([^/]+)$")


def _is_variable(dataset):
    """Whether xarray shows `dataset` as a variable (not a netCDF dimension without one)."""
    name = dataset.attrs.get("NAME", b"")
    if isinstance(name, str):
        name = name.encode()
    return b"This is a netCDF dimension but not a netCDF variable" not in name


def _groups_with_data(h5):
    """Paths of the groups that hold at least one dataset shown as a variable, in file order."""
    found = []

    def visit(path, group):
        if any(isinstance(item, h5py.Dataset) and _is_variable(item) for item in group.values()):
            found.append(path)
        for name, item in group.items():
            if isinstance(item, h5py.Group):
                visit(f"{path.rstrip('/')}/{name}", item)

    visit("/", h5)
    return found


def _read_group(path, group):
    """One group as an in-memory Dataset (the file is closed afterwards)."""
    with xr.open_dataset(path, engine="h5netcdf", group=group, phony_dims="access") as ds:
        ds = ds.load()
    names = set(ds.variables)
    if {"values", "offsets"} <= names and ds["offsets"].ndim == 1 and ds["values"].ndim >= 1:
        ds = _with_row_index(ds)
    return ds


def _with_row_index(ds):
    """A CSR column's Dataset with `row`: the row of each value."""
    offsets = ds["offsets"].values.astype(np.int64)
    counts = np.diff(offsets)
    row = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    value_dim = ds["values"].dims[0]
    return ds.assign(row=((value_dim,), row, {"units": "1", "long_name": "row of the value (CSR)"}))


def _join_times(parts):
    """plx-web's per-time groups of one kind, joined along their rows with a `time` variable."""
    first = parts[0][1]
    row_dim = next(v.dims[0] for v in first.variables.values() if v.ndim > 0)
    joined = []
    for time, ds in parts:
        # Files without named dimensions give each group its own phony names: one name for the rows.
        renames = {v.dims[0]: row_dim for v in ds.variables.values() if v.ndim > 0 and v.dims[0] != row_dim}
        ds = ds.rename_dims(renames) if renames else ds
        ds = ds.assign(time=((row_dim,), np.full(ds.sizes[row_dim], time),
                             {"units": "1", "long_name": "growth factor D of the row's time"}))
        joined.append(ds)
    return xr.concat(joined, dim=row_dim, data_vars="minimal", coords="minimal", compat="override",
                     combine_attrs="drop_conflicts")


def open(path, group=None):  # noqa: A001 (shadows the built-in on purpose: parallax.open)
    """The file's groups as {group path: xarray.Dataset}, or the one Dataset of `group` ("/power_spectrum")."""
    if group is not None:
        return _read_group(path, group.strip("/") or "/")
    result = {}
    per_time = {}
    with h5py.File(path, "r") as h5:
        groups = _groups_with_data(h5)
        times = {g: h5[g.rsplit("/", 1)[0]].attrs.get("time") for g in groups if _TIME_GROUP.match(g)}
    for g in groups:
        ds = _read_group(path, g.strip("/") or "/")
        result[g] = ds
        match = _TIME_GROUP.match(g)
        if match and times.get(g) is not None:
            per_time.setdefault(f"{match.group(1)}/{match.group(3)}", []).append((float(times[g]), ds))
    for joined_path, parts in per_time.items():
        if joined_path not in result and all("offsets" not in ds.variables for _, ds in parts):
            try:
                result[joined_path] = _join_times(parts)
            except ValueError:
                pass  # kinds whose per-time groups do not line up (bins of other lengths) stay per time only
    return result


def rows(ds):
    """A ragged (CSR) column's rows as a list of numpy arrays: row i is values[offsets[i]:offsets[i+1]]."""
    values = ds["values"].values
    offsets = ds["offsets"].values.astype(np.int64)
    return [values[offsets[i]:offsets[i + 1]] for i in range(offsets.size - 1)]
