#!/usr/bin/env python3
"""The workshop's adhesion model with numpy and scipy.spatial.ConvexHull (Qhull): the reference for plx-web.

Reads a plx-cosmo file (its /potential and the attributes dim, N, L), and for each growth factor D lifts the
grid points q, with periodic ghost copies in a margin, to (q, |q|^2 - w), w = 2 D phi(q); the lower convex hull
is the regular triangulation. It writes the same structures as plx::web::write_adhesion_times, with the same
conventions (see include/parallax/web/adhesion.hpp):

  /adhesion/NNN/nodes/position (k x d), nodes/mass (k), filaments/a, filaments/b (k x d), filaments/mass (k)
  attributes time and total_mass on /adhesion/NNN

  python3 adhesion_scipy.py cosmo.h5 --times 0.5,2 --out reference.h5
  python3 adhesion_scipy.py cosmo.h5 --times 0:4:10 --json      # seconds per time and memory (plx-bench web)

Every periodic simplex is kept once, in the copy whose lexicographically lowest vertex lies in the box; a face
(edge in 2D, triangle in 3D) likewise, oriented so that `a` is the power vertex of the simplex on the positive
side of its sorted vertices. The margin is grown until no ghost beyond it can change a simplex that touches the
box (the same test as the library's). Only numpy, scipy and h5py.
"""
import argparse
import json
import math
import resource
import sys
import time

import numpy as np
from scipy.spatial import ConvexHull


def parse_times(text):
    if ":" in text:
        start, stop, count = text.split(":")
        return list(np.linspace(float(start), float(stop), int(count)))
    return [float(t) for t in text.split(",")]


def ghost_grid(n, dim, margin):
    """Integer coordinates of [-margin, n + margin)^dim in C order (row i is the point with id i)."""
    axis = np.arange(-margin, n + margin)
    return np.stack(np.meshgrid(*([axis] * dim), indexing="ij"), axis=-1).reshape(-1, dim)


def det2(u, v):
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def det3(u, v, w):
    return (u[..., 0] * (v[..., 1] * w[..., 2] - v[..., 2] * w[..., 1])
            - u[..., 1] * (v[..., 0] * w[..., 2] - v[..., 2] * w[..., 0])
            + u[..., 2] * (v[..., 0] * w[..., 1] - v[..., 1] * w[..., 0]))


def power_vertices(p, w, dim):
    """Power vertices (cells) of simplices p (k x (d+1) x d ints) with weights w (k x (d+1)); Cramer's rule as
    in src/web/adhesion.cpp. Returns x, |det|, squared orthogonal radius."""
    e = p[:, 1:, :] - p[:, :1, :]
    b = (e * e).sum(axis=2).astype(float) - (w[:, 1:] - w[:, :1])
    ef = e.astype(float)
    if dim == 2:
        det = det2(e[:, 0], e[:, 1]).astype(float)
        y0 = (ef[:, 1, 1] * b[:, 0] - ef[:, 0, 1] * b[:, 1]) / (2 * det)
        y1 = (ef[:, 0, 0] * b[:, 1] - ef[:, 1, 0] * b[:, 0]) / (2 * det)
        y = np.stack([y0, y1], axis=1)
    else:
        det = det3(e[:, 0], e[:, 1], e[:, 2]).astype(float)
        c0 = np.cross(e[:, 1], e[:, 2]).astype(float)
        c1 = np.cross(e[:, 2], e[:, 0]).astype(float)
        c2 = np.cross(e[:, 0], e[:, 1]).astype(float)
        y = (b[:, 0:1] * c0 + b[:, 1:2] * c1 + b[:, 2:3] * c2) / (2 * det[:, None])
    x = p[:, 0, :] + y
    r2 = (y * y).sum(axis=1) - w[:, 0]
    return x, np.abs(det), r2


def adhesion(phi, box, growth, margin=None):
    """The structures of one time, as a dict of numpy arrays (box units, masses in cells)."""
    dim = phi.ndim
    n = phi.shape[0]
    cell = box / n
    weight = 2 * growth / cell**2 * (phi - phi.min())   # cells^2, smallest 0 (a shift changes nothing)
    max_weight = float(weight.max())
    if margin is None:
        margin = int(math.ceil(1.4 * math.sqrt(max_weight))) + 3   # as the library: usually enough at once
    while True:
        coords = ghost_grid(n, dim, margin)
        w = weight[tuple((coords % n).T)]
        centred = coords - n / 2.0   # a translation: the lower hull's combinatorics are unchanged, Qhull is happier
        lifted = np.column_stack([centred, (centred**2).sum(axis=1) - w])
        hull = ConvexHull(lifted)
        lower = hull.equations[:, dim] < 0
        primary = np.all((coords >= 0) & (coords < n), axis=1)
        touches = lower & primary[hull.simplices].any(axis=1)
        index = np.full(len(hull.simplices), -1)
        index[touches] = np.arange(touches.sum())
        simplices = hull.simplices[touches]
        neighbors = index[hull.neighbors[touches]]
        p = coords[simplices]                  # k x (d+1) x d
        x, twice, r2 = power_vertices(p, w[simplices], dim)
        # No ghost beyond the margin can change a simplex (see missing_margin in src/web/adhesion.cpp).
        distance = np.minimum(x + margin + 1, n + margin - x).min(axis=1)
        needed = np.sqrt(np.maximum(0.0, r2 + max_weight) * (1 + 1e-9)) + 1e-6
        if np.all(distance > needed) or margin >= 2 * n:
            break
        margin = min(margin + int(math.ceil(1.25 * (needed - distance).max())) + 2, 2 * n)

    factorial = 2 if dim == 2 else 6
    twice = np.rint(twice).astype(np.int64)
    canonical = primary[simplices.min(axis=1)]  # point ids are in C order: the lowest id is the lexicographic minimum
    out = {
        "node_position": np.mod(x[canonical] * cell, box),
        "node_mass": twice[canonical] / factorial,
        "total_mass": twice[canonical].sum() / factorial,
        "margin": margin,
        "points": len(coords),
    }
    out["node_position"][out["node_position"] >= box] = 0.0

    a_list, b_list, m_list = [], [], []
    for j in range(dim + 1):
        face = np.sort(np.delete(simplices, j, axis=1), axis=1)   # ids sorted = vertices in lexicographic order
        opposite = simplices[:, j]
        fc = coords[face]
        u = fc[:, 0]
        pj = coords[opposite] - u
        if dim == 2:
            side = det2(fc[:, 1] - u, pj)
            e = fc[:, 1] - u
            mass = np.sqrt((e * e).sum(axis=1).astype(float))
        else:
            side = det3(fc[:, 1] - u, fc[:, 2] - u, pj)
            c = np.cross(fc[:, 1] - u, fc[:, 2] - u).astype(float)
            mass = 0.5 * np.sqrt((c * c).sum(axis=1))
        own = primary[face[:, 0]] & (side > 0)
        other = neighbors[own, j]
        if np.any(other < 0):
            raise RuntimeError("a face in the box has no lower neighbour")
        start = x[own] * cell
        a = np.mod(start, box)
        a[a >= box] = 0.0
        a_list.append(a)
        b_list.append(a + (x[other] * cell - start))
        m_list.append(mass[own])
    out["filament_a"] = np.concatenate(a_list)
    out["filament_b"] = np.concatenate(b_list)
    out["filament_mass"] = np.concatenate(m_list)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cosmo", help="a plx-cosmo HDF5 file")
    parser.add_argument("--times", default="0:4:10", help="growth factors: list a,b or start:stop:count")
    parser.add_argument("--out", help="write the structures here (HDF5)")
    parser.add_argument("--json", action="store_true", help="print one JSON line: seconds per time and memory")
    args = parser.parse_args()

    import h5py  # only here: the functions above need numpy and scipy alone
    with h5py.File(args.cosmo, "r") as f:
        phi = f["/potential"][...]
        box = float(f.attrs["L"])
    times = parse_times(args.times)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    results = [adhesion(phi, box, t) for t in times]
    seconds = time.perf_counter() - start
    rss_growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    if args.out:
        with h5py.File(args.out, "w") as f:
            for i, (t, s) in enumerate(zip(times, results)):
                g = f.create_group(f"/adhesion/{i:03d}")
                g.attrs["time"] = t
                g.attrs["total_mass"] = s["total_mass"]
                g["nodes/position"] = s["node_position"]
                g["nodes/mass"] = s["node_mass"]
                g["filaments/a"] = s["filament_a"]
                g["filaments/b"] = s["filament_b"]
                g["filaments/mass"] = s["filament_mass"]
    if args.json:
        print(json.dumps({"tool": "scipy", "dim": phi.ndim, "n": phi.shape[0], "times": len(times),
                          "seconds": round(seconds, 4),
                          "peak_rss_growth_mb": round(rss_growth_kb / 1024, 1),
                          "max_points": max(s["points"] for s in results)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
