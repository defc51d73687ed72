#!/usr/bin/python3
"""Render the deformation-tensor classes of a `plx-web` HDF5 output file as a PNG (h5py + matplotlib).

Writes classes.png into the output directory: /deformation/class as a categorical image (2D: the whole box;
3D: the slice z = INDEX), one colour per class (2D: void, filament, node; 3D: void, sheet, filament, knot),
the legend giving each class's fraction of the whole box (the attribute class_fraction) and the threshold.

Run with the system python, for which ./bootstrap.sh installs Debian's python3-h5py and python3-matplotlib:

    /usr/bin/python3 apps/web/plot.py web.h5                       # classes.png next to web.h5
    /usr/bin/python3 apps/web/plot.py web.h5 --out figures --slice 10

Images are in box units with x (the first array axis) to the right and y up, as apps/cosmo/plot.py draws
/density. Exit codes: 0 success, 1 failure writing the figure or missing Python packages, 2 bad command line,
missing file or missing dataset (the message names it).
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
InputError, attr, save = cosmo_plot.InputError, cosmo_plot.attr, cosmo_plot.save

import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
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
        info = {"dim": dim, "n": n, "box": float(attr(h5, "L", n)), "seed": attr(h5, "seed"),
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
    ax.set_xlabel("x  [box units]")
    ax.set_ylabel("y  [box units]")
    seed = f", seed {info['seed']}" if info["seed"] is not None else ""
    ax.set_title(f"Deformation-tensor classes (T-web){info['where']}\n"
                 f"{dim}D, N={info['n']}, L={box:g}{seed}, from {os.path.basename(str(info['input']))}", fontsize=10)
    save(fig, out_dir, "classes.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Render the deformation-tensor classes of a plx-web HDF5 file.")
    parser.add_argument("file", help="HDF5 file written by plx-web")
    parser.add_argument("--out", metavar="DIR", help="directory for the PNG (default: the file's directory)")
    parser.add_argument("--slice", type=int, metavar="INDEX", help="z index of the 3D slice (default N/2)")
    parser.add_argument("--dpi", type=int, default=cosmo_plot.DPI,
                        help=f"resolution of the PNG (default {cosmo_plot.DPI})")
    args = parser.parse_args(argv)
    if args.dpi < 10:
        parser.error("--dpi must be at least 10")
    cosmo_plot.DPI = args.dpi  # save() reads it
    out_dir = args.out if args.out is not None else (os.path.dirname(args.file) or ".")

    def render():
        image, info = read_classes(args.file, args.slice)
        os.makedirs(out_dir, exist_ok=True)
        plot_classes(image, info, out_dir)

    return cosmo_plot.exit_code(render)


if __name__ == "__main__":
    sys.exit(main())
