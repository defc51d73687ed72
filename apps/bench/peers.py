#!/usr/bin/python3
"""Measure the Python tools a parallax user would otherwise reach for, on plx-bench's two workloads.

The numbers are meant to sit next to `plx-bench dispatch` and `plx-bench balance` in docs/performance.md, so
both benchmarks mirror parallax's own (same workloads, same JSON field names):

dispatch  N empty tasks (`empty(i) = i & 255`) mapped over 2 workers; reports wall time / N in
          microseconds, i.e. the per-task overhead of the tool. Tools: joblib (default loky backend,
          auto batching, and prefer="threads"), multiprocessing.Pool.map (default chunksize and
          chunksize=1), ProcessPoolExecutor.map (chunksize=1), ThreadPoolExecutor.map and
          mpi4py.futures.MPIPoolExecutor.map (chunksize=1). N is chosen per tool so that each run
          takes about 1-3 s on a 2-core machine; scale it with --tasks-scale.
balance   the tutorial workload: one task per word of "hello world how are you a b c d e f g",
          each sleeping --unit-ms (default 100) per character, on 2 workers. Reports the makespan
          and its ratio to the best possible makespan (computed exactly: 13 units = 1.3 s).

Pool start-up is excluded everywhere: each pool is created and warmed up with a small map before
the clock starts. mpi4py.futures runs in a child `mpiexec -n 3 python3 -m mpi4py.futures` (rank 0
is the client, ranks 1-2 the workers); if that fails, a warning goes to stderr and it is skipped.

Run with the system python, which has joblib and mpi4py (takes a minute or two):

    /usr/bin/python3 apps/bench/peers.py            # human-readable tables
    /usr/bin/python3 apps/bench/peers.py --json     # one JSON object per line, like plx-bench --json
    /usr/bin/python3 apps/bench/peers.py --only balance --unit-ms 50
"""

import argparse
import concurrent.futures as cf
import contextlib
import functools
import itertools
import json
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time

WORKERS = 2
WORDS = "hello world how are you a b c d e f g".split()
WARMUP_TASKS = 200


def empty(i):
    return i & 255


def sleep_word(word, unit_ms):
    time.sleep(unit_ms / 1000.0 * len(word))
    return len(word)


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def optimal_makespan(costs, workers):
    """Smallest makespan of `costs` on `workers` identical workers, by brute force over assignments."""
    best = sum(costs)
    for assignment in itertools.product(range(workers), repeat=len(costs)):
        load = [0] * workers
        for cost, w in zip(costs, assignment):
            load[w] += cost
        best = min(best, max(load))
    return best


def _on_sigint(signum, frame):
    # After Ctrl-C, joblib's result callbacks go on dispatching to the torn-down pool and fail; loky
    # logs that on "concurrent.futures". Those errors are only echoes of the interrupt: silence them.
    logging.getLogger("concurrent.futures").disabled = True
    raise KeyboardInterrupt


# --- the local tools: each is a context manager yielding `run(fn, items) -> list` on a live pool ---

@contextlib.contextmanager
def joblib_pool(**kwargs):
    import joblib
    # A fresh Parallel per call, as users write it, so that auto batching starts from scratch each
    # time. loky's executor outlives Parallel objects, so after the warm-up no start-up is timed; the
    # threading backend makes a 2-thread pool per call, which takes a few ms of the 1-3 s measured.
    yield lambda fn, items: joblib.Parallel(n_jobs=WORKERS, **kwargs)(joblib.delayed(fn)(x) for x in items)


@contextlib.contextmanager
def mp_pool(chunksize=None):
    with multiprocessing.Pool(WORKERS) as pool:
        yield lambda fn, items: pool.map(fn, items, chunksize)


@contextlib.contextmanager
def executor_pool(cls, chunksize=1):
    with cls(WORKERS) as ex:
        yield lambda fn, items: list(ex.map(fn, items, chunksize=chunksize))


# (tool, variant, tasks at --tasks-scale 1, pool factory); None marks mpi4py.futures (run in mpiexec).
DISPATCH_CASES = [
    ("joblib", "auto", 500_000, lambda: joblib_pool()),
    ("joblib-threads", "auto", 25_000, lambda: joblib_pool(prefer="threads")),
    ("multiprocessing.Pool", "default", 12_000_000, lambda: mp_pool()),
    ("multiprocessing.Pool", "chunksize=1", 60_000, lambda: mp_pool(chunksize=1)),
    ("ProcessPoolExecutor", "chunksize=1", 15_000, lambda: executor_pool(cf.ProcessPoolExecutor)),
    ("ThreadPoolExecutor", "default", 100_000, lambda: executor_pool(cf.ThreadPoolExecutor)),
    ("mpi4py.futures", "chunksize=1", 8_000, None),
]

BALANCE_CASES = [
    ("ThreadPoolExecutor", lambda: executor_pool(cf.ThreadPoolExecutor)),
    ("joblib", lambda: joblib_pool()),
    ("multiprocessing.Pool", lambda: mp_pool()),
    ("ProcessPoolExecutor", lambda: executor_pool(cf.ProcessPoolExecutor)),
    ("mpi4py.futures", None),
]


def workload(benchmark, tasks, unit_ms):
    """The function to map and its inputs."""
    if benchmark == "dispatch":
        return empty, range(tasks)
    return functools.partial(sleep_word, unit_ms=unit_ms), WORDS


def time_runs(run, fn, items, repeats):
    """Wall times of `repeats` maps of `fn` over `items` on a started, warmed-up pool."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        results = run(fn, items)
        seconds.append(time.perf_counter() - start)
        assert len(results) == len(items)
    return seconds


def measure(factory, benchmark, tasks, unit_ms, repeats):
    """Start a pool, warm it up, then time it on the workload (start-up is not timed)."""
    with contextlib.ExitStack() as stack:
        # Workers started while SIGINT is ignored inherit that (through fork and exec), so Ctrl-C, sent
        # to the whole process group, only interrupts this process, which then shuts its pool down in
        # order (loky can hang at exit when its workers die mid-task). A Ctrl-C during start-up is lost.
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            run = stack.enter_context(factory())
            run(empty, range(WARMUP_TASKS))
        finally:
            signal.signal(signal.SIGINT, handler)
        return time_runs(run, *workload(benchmark, tasks, unit_ms), repeats)


# --- mpi4py.futures: measured by a client running under mpiexec, which prints one JSON line ---

def mpi4py_client(benchmark, tasks, unit_ms, repeats):
    """Rank 0 of `mpiexec -n 3 python3 -m mpi4py.futures peers.py --mpi4py-client ...`."""
    from mpi4py.futures import MPIPoolExecutor
    fn, items = workload(benchmark, tasks, unit_ms)
    with MPIPoolExecutor() as ex:
        def run(f, xs):
            return list(ex.map(f, xs, chunksize=1))
        run(empty, range(WARMUP_TASKS))  # warm-up, not timed
        seconds = time_runs(run, fn, items, repeats)
    print(json.dumps({"seconds": seconds}), flush=True)


def mpi4py_seconds(benchmark, tasks, unit_ms, repeats):
    """Wall times measured by mpi4py.futures in a child mpiexec, or None (with a warning) on failure."""
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        print("warning: mpiexec not found, skipping mpi4py.futures", file=sys.stderr)
        return None
    env = dict(os.environ)
    if os.geteuid() == 0:  # Open MPI refuses to run as root without these
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [mpiexec, "-n", str(WORKERS + 1), "--oversubscribe", sys.executable, "-m", "mpi4py.futures",
           os.path.abspath(__file__), "--mpi4py-client", benchmark, str(tasks), str(unit_ms), str(repeats)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"exit status {proc.returncode}: {proc.stderr.strip()[-500:]}")
        return json.loads(lines[-1])["seconds"]
    except (OSError, ValueError, KeyError, RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"warning: mpi4py.futures failed, skipping it ({err})", file=sys.stderr)
        return None


# --- the two benchmarks ---

def emit(args, record, text):
    print(json.dumps(record) if args.json else text, flush=True)


def run_dispatch(args):
    repeats = args.repeats or 3
    if not args.json:
        print(f"dispatch: empty tasks, {WORKERS} workers, median of {repeats} (pool start-up excluded)")
        print(f"{'tool':<22} {'variant':<12} {'tasks':>9} {'us/task':>10}", flush=True)
    for tool, variant, base_tasks, factory in DISPATCH_CASES:
        tasks = max(1, round(base_tasks * args.tasks_scale))
        if factory is None:
            seconds = mpi4py_seconds("dispatch", tasks, args.unit_ms, repeats)
            if seconds is None:
                continue
        else:
            seconds = measure(factory, "dispatch", tasks, args.unit_ms, repeats)
        us = round(median(seconds) * 1e6 / tasks, 4)
        emit(args, {"benchmark": "dispatch", "tool": tool, "variant": variant, "workers": WORKERS,
                    "tasks": tasks, "us_per_task": us},
             f"{tool:<22} {variant:<12} {tasks:>9} {us:>10.2f}")


def run_balance(args):
    repeats = args.repeats or 1
    costs = [len(w) for w in WORDS]
    optimum = optimal_makespan(costs, WORKERS) * args.unit_ms / 1000.0
    if not args.json:
        print(f"\nbalance: {len(WORDS)} tasks '{' '.join(WORDS)}', {args.unit_ms:g} ms per character, "
              f"{WORKERS} workers, median of {repeats}; best possible makespan {optimum:.3f} s")
        print(f"{'tool':<22} {'makespan s':>10} {'ratio':>7}", flush=True)
    for tool, factory in BALANCE_CASES:
        if factory is None:
            seconds = mpi4py_seconds("balance", len(WORDS), args.unit_ms, repeats)
            if seconds is None:
                continue
        else:
            seconds = measure(factory, "balance", len(WORDS), args.unit_ms, repeats)
        makespan = median(seconds)
        emit(args, {"benchmark": "balance", "tool": tool, "workers": WORKERS, "makespan_s": round(makespan, 4),
                    "optimum_s": round(optimum, 4), "ratio": round(makespan / optimum, 4)},
             f"{tool:<22} {makespan:>10.3f} {makespan / optimum:>7.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Dispatch overhead and load balance of joblib, multiprocessing, concurrent.futures and "
                    "mpi4py.futures on 2 workers, for comparison with plx-bench.")
    parser.add_argument("--only", choices=["dispatch", "balance"], help="run one benchmark (default: both)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--tasks-scale", type=float, default=1.0, help="multiply dispatch task counts (default 1)")
    parser.add_argument("--unit-ms", type=float, default=100.0, help="balance: sleep per character in ms (default 100)")
    parser.add_argument("--repeats", type=int, help="measurements per case, median reported "
                                                    "(default 3 for dispatch, 1 for balance)")
    # Internal: this script re-runs itself as the mpi4py.futures client under mpiexec.
    parser.add_argument("--mpi4py-client", nargs=4, metavar=("BENCH", "TASKS", "UNIT_MS", "REPEATS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tasks_scale <= 0 or args.unit_ms <= 0 or (args.repeats is not None and args.repeats < 1):
        parser.error("--tasks-scale, --unit-ms and --repeats must be positive")

    if args.mpi4py_client:
        bench, tasks, unit_ms, repeats = args.mpi4py_client
        mpi4py_client(bench, int(tasks), float(unit_ms), int(repeats))
        return 0
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        if args.only in (None, "dispatch"):
            run_dispatch(args)
        if args.only in (None, "balance"):
            run_balance(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
