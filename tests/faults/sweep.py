#!/usr/bin/env python3
"""The fault sweep: every fault point of every app, as SQLite tests its I/O.

For each app and rank count, a clean run counts how often each fault site passes on each rank
(PLX_FAULT_COUNT). Then one run per (site, rank, pass k) arms a single fault there (PLX_FAULT=site@rank,after=k)
and checks the invariants of a faulted run:
  1. it ends within --timeout seconds (a hang is killed and reported);
  2. it exits 1, or 0 only where the fault was absorbed and the output equals the reference;
     never 134/139 or a signal;
  3. stderr holds exactly one error line from parallax, no MPI_ABORT banner, no ORTE_ERROR_LOG, no
     HDF5-DIAG stack (the rank-local ending, `error (rank r)` then MPI_Abort, is accepted for MPI sites);
  4. no temporary file is left: only the app's documented resume state;
  5. the output that existed before the run (--force) is intact;
  6. without the fault, a rerun (--resume where the app has it) exits 0 with an output identical, dataset by
     dataset and bitwise, to the uninterrupted reference run (attributes recording the command line aside).
--full-disk runs each app in a tmpfs (as root) that another file has filled to less room than its output needs,
then frees it and reruns.
--crashes K kills mpiexec and every rank with SIGKILL at K instants spread over a run of each resumable app,
and --signals sends SIGINT and SIGTERM to mpiexec and to the ranks; each is then resumed and checked likewise
(mpiexec exits 1 after a signal whatever the ranks did: a run without an error line must then have finished
its output correctly, or, for plx-run, report "stopped": true).

The report is a table (app x site class) on stdout and one JSON line per run in --jsonl. Exit status 0 when
no run broke an invariant, 1 otherwise, 2 for bad arguments.

  tests/faults/sweep.py --build build/release                      # the whole sweep
  tests/faults/sweep.py --build build/release --budget 12          # the bounded part CI runs (per app and ranks)
"""
import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

try:
    import h5py
    import numpy
except ImportError:  # pragma: no cover - bootstrap.sh installs python3-h5py
    print("sweep.py: needs h5py and numpy (Debian: python3-h5py)", file=sys.stderr)
    sys.exit(2)

# Attributes that record how a file was made rather than what is in it.
VOLATILE_ATTRIBUTES = {"command_line", "wall_time_s"}
# stderr lines that break invariant 3.
HDF5_ABORT_LINE = re.compile(r"H5Fclose failed|H5Dwrite failed|pwrite failed")
RANK_LOCAL_LINE = re.compile(r"^error \(rank \d+\): ")
STOPPED_BY_SIGTERM = re.compile(r"^error: \S+ stopped by SIGTERM before finishing")
FORBIDDEN = [
    ("abort banner", re.compile(r"MPI_ABORT was invoked|MPI_Abort")),
    ("ORTE_ERROR_LOG", re.compile(r"ORTE_ERROR_LOG")),
    ("HDF5-DIAG", re.compile(r"HDF5-DIAG")),
    ("sanitizer", re.compile(r"AddressSanitizer|runtime error:|LeakSanitizer")),
    ("terminate", re.compile(r"terminate called|Segmentation fault|core dumped")),
    ("signal", re.compile(r"exited on signal|signal \d+ \(")),
]
ERROR_LINE = re.compile(r"^(error( \(rank \d+\))?|parallax(?!: warning)[^:]*): ")
TEMPORARY = re.compile(r"\.tmp\b|\.tmp\.|\.new$|\.old$")


@dataclasses.dataclass
class App:
    name: str
    args: list                      # after the binary; {out} is replaced by the output's name
    binary: str
    output: str = ""                # the output file in the run directory ("" : stdout is the result)
    sidecars: tuple = ()            # other files the app commits beside the output
    force: bool = True              # takes --force (then a previous output is placed before each run)
    resume_args: tuple = ()         # how a stopped run is continued ("" : not resumable, rerun from scratch)
    resume_state: tuple = ()        # regexes of work files a stopped resumable run may leave
    permanent: tuple = ()           # regexes of files that are part of the result (the farm's work directory)
    inputs: tuple = ()              # files copied from the setup directory into each run directory
    compare: str = "h5"             # h5 | stdout_json:<fields> | farm
    long_args: list = dataclasses.field(default_factory=list)  # a longer workload for crashes and signals


def apps_for(build):
    exe = lambda name: os.path.join(build, "apps", name)
    tests = lambda name: os.path.join(build, "tests", name)
    return {
        "pi": App("pi", ["--samples", "4e6", "--seed", "7", "--json"], exe("plx-pi"), output="", force=False,
                  compare="stdout_json:pi,std_error,samples,seed"),
        "cosmo": App("cosmo", ["--dim", "2", "--n", "32", "--times", "0,1", "--out", "{out}"], exe("plx-cosmo"),
                     output="c.h5", sidecars=("c.xmf",)),
        "cosmo3d": App("cosmo3d", ["--dim", "3", "--n", "16", "--times", "0,1", "--out", "{out}"], exe("plx-cosmo"),
                       output="c3.h5", sidecars=("c3.xmf",)),
        "ensemble": App("ensemble", ["--dim", "2", "--n", "16", "--realizations", "24", "--times", "1", "--out",
                                     "{out}"], exe("plx-ensemble"), output="e.h5",
                        resume_args=("--resume",), resume_state=(r"^e\.h5\.(partial|journal|lock)",),
                        long_args=["--dim", "3", "--n", "32", "--realizations", "400", "--times", "0.5,1", "--out",
                                   "{out}"]),
        "web": App("web", ["in.h5", "--times", "0,1", "--out", "{out}"], exe("plx-web"), output="w.h5",
                   inputs=("in.h5",)),
        "h5map": App("h5map", ["{out}", "--n", "300"], tests("h5map_driver"), output="m.h5",
                     resume_args=("--resume",), resume_state=(r"^m\.h5\.(partial|journal|lock)",),
                     long_args=["{out}", "--n", "6000"]),
        "run": App("run", ["tasks.txt", "--workdir", "wd", "--json"], exe("plx-run"), output="", force=False,
                   resume_args=("--resume",), permanent=(r"^wd(/|$)", r"^runs(/|$)"), inputs=("tasks.txt",), compare="farm",
                   long_args=["tasks_long.txt", "--workdir", "wd", "--json"]),
    }


# --- running ------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid, sig=signal.SIGKILL):
    # Open MPI puts each rank in a process group of its own: kill every descendant, then the launcher.
    for p in descendants(pid) + [pid]:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


class Runner:
    def __init__(self, opts):
        self.mpiexec = opts.mpiexec.split()
        self.timeout = opts.timeout

    def command(self, app, ranks, args):
        return self.mpiexec + ["-n", str(ranks), app.binary, "--quiet", "--threads", "1"] + args

    def run(self, app, ranks, args, cwd, env_extra=None, action=None):
        env = dict(os.environ)
        env.pop("PLX_FAULT", None)
        env.pop("PLX_FAULT_COUNT", None)
        env.update(env_extra or {})
        env["PLX_SWEEP_DIR"] = os.path.abspath(cwd)  # the farm's tasks record their runs there
        start = time.monotonic()
        # The streams go beside the run directory, not into it: a full-disk run's tmpfs would swallow them.
        beside = os.path.dirname(os.path.abspath(cwd))
        with tempfile.TemporaryFile("w+", dir=beside) as out, tempfile.TemporaryFile("w+", dir=beside) as err:
            proc = subprocess.Popen(self.command(app, ranks, args), cwd=cwd, env=env, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            timed_out = False
            if action is not None:
                action(proc)
            try:
                rc = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                kill_tree(proc.pid)
                rc = proc.wait()
            # Ranks that outlive mpiexec (they should not) are reaped here, so that the next run starts clean.
            leftovers = descendants(proc.pid)
            if leftovers:
                kill_tree(proc.pid)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        return Result(rc, stdout, stderr, time.monotonic() - start, timed_out)


# --- comparing ----------------------------------------------------------------------------------------------

def h5_summary(path):
    """Every object of the file: datasets by their bytes, attributes by value (volatile ones aside)."""
    items = {}

    def attributes(name, obj):
        for key in obj.attrs.keys():
            if key in VOLATILE_ATTRIBUTES:
                continue
            if key == "DIMENSION_LIST":  # dimension scales: references are file addresses; compare what they name
                items[f"{name}@{key}"] = repr([sorted(scale.name for scale in dim.values()) for dim in obj.dims])
                continue
            if key == "REFERENCE_LIST":  # a scale's back references: the DIMENSION_LIST above, inverted
                continue
            value = obj.attrs[key]
            items[f"{name}@{key}"] = repr(numpy.asarray(value).tobytes()) + str(numpy.asarray(value).dtype)

    with h5py.File(path, "r") as f:
        attributes("/", f)

        def visit(name, obj):
            attributes(name, obj)
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                items[name] = (str(obj.dtype), obj.shape, hashlib.sha256(numpy.asarray(data).tobytes()).hexdigest())
            else:
                items[name] = "group"

        f.visititems(visit)
    return items


def h5_difference(reference, path):
    try:
        a, b = h5_summary(reference), h5_summary(path)
    except Exception as e:  # noqa: BLE001 - an unreadable file is the finding
        return f"unreadable: {e}"
    if a == b:
        return ""
    changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return "differs in " + ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def farm_outputs(directory):
    tasks = os.path.join(directory, "wd", "tasks")
    result = {}
    if os.path.isdir(tasks):
        for name in sorted(os.listdir(tasks)):
            if re.fullmatch(r"\d+\.out", name):
                with open(os.path.join(tasks, name)) as f:
                    result[name] = f.read()
    return result


def farm_stopped(stdout):
    """Whether plx-run's --json summary (its last stdout line) says the run stopped, or it finished."""
    try:
        summary = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False
    return bool(summary.get("stopped")) or summary.get("exit_code") == 0


def result_difference(app, reference, directory, stdout):
    """'' when the run's result equals the reference's."""
    if app.compare.startswith("stdout_json:"):
        fields = app.compare.split(":", 1)[1].split(",")
        try:
            got = json.loads(stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return "no JSON line on stdout"
        diff = [k for k in fields if got.get(k) != reference["json"].get(k)]
        return "" if not diff else "differs in " + ",".join(diff)
    if app.compare == "farm":
        return "" if farm_outputs(directory) == reference["farm"] else "task outputs differ"
    path = os.path.join(directory, app.output)
    if not os.path.exists(path):
        return "no output"
    problem = h5_difference(reference["output"], path)
    for sidecar in app.sidecars:
        if not os.path.exists(os.path.join(directory, sidecar)):
            problem = problem or f"no {sidecar}"
    return problem


# --- one faulted case ---------------------------------------------------------------------------------------

def files_in(directory):
    found = []
    for root, dirs, files in os.walk(directory):
        for name in files + [d for d in dirs if not os.listdir(os.path.join(root, d))]:
            found.append(os.path.relpath(os.path.join(root, name), directory))
    return sorted(found)


def stray_files(app, directory, committed, finished=False):
    """Files that should not be there: after a stop, anything but the inputs, the output (when committed or
    there before) and the documented resume state; after a finished run, the resume state too."""
    allowed = set(app.inputs) | {"tasks_long.txt", ".filler"}  # .filler: what fills a full-disk run's tmpfs
    if committed and app.output:
        allowed |= {app.output, *app.sidecars}
    stray = []
    for name in files_in(directory):
        if name in allowed or any(re.match(p, name) for p in app.permanent):
            continue
        if not finished and any(re.match(p, name) for p in app.resume_state) and not TEMPORARY.search(name):
            continue
        stray.append(name)
    return stray


def stderr_findings(text, kind):
    findings = []
    lines = [l for l in text.splitlines() if l.strip()]
    errors = [l for l in lines if ERROR_LINE.match(l)]
    if kind == "mpi" and any(RANK_LOCAL_LINE.match(l) for l in errors):
        # The rank-local ending: MPI_Abort makes mpirun SIGTERM the other ranks, and root, stopped by it,
        # says so (docs/apps.md, "Exit codes and errors"): part of the same ending, not a second failure.
        errors = [l for l in errors if not STOPPED_BY_SIGTERM.match(l)]
    # docs/faults.md's only full-disk aborts, on a disk that is really full: a failed H5Fclose, a write that failed
    # inside HDF5 itself, or a direct write whose disk stays full (the file cannot be closed safely, and HDF5
    # would close it again in MPI_Finalize). Injected faults leave room, so they must end without one.
    documented_abort = kind == "disk" and any(HDF5_ABORT_LINE.search(l) for l in errors)
    for label, pattern in FORBIDDEN:
        hits = [l for l in lines if pattern.search(l)]
        if (kind == "mpi" or documented_abort) and label == "abort banner":
            continue  # the documented rank-local ending of an MPI call that failed on one rank only
        if (kind == "mpi" or documented_abort) and label == "ORTE_ERROR_LOG" and all("show_help.c" in l for l in hits):
            continue  # Open MPI 4.1 printing that same abort banner (a race in its show_help, seen at random)
        if hits:
            findings.append(label)
    return errors, findings


@dataclasses.dataclass
class Case:
    app: str
    ranks: int
    site: str
    kind: str
    rank: int
    passes: int      # the site's passes on that rank in the clean run
    after: int       # the armed pass (0-based)
    errno: str = ""


def prepare_directory(app, setup, directory, previous_output):
    os.makedirs(directory)
    for name in app.inputs + (("tasks_long.txt",) if app.name == "run" else ()):
        shutil.copy(os.path.join(setup, name), os.path.join(directory, name))
    if previous_output and app.force and app.output:
        shutil.copy(previous_output, os.path.join(directory, app.output))
        for sidecar in app.sidecars:
            source = os.path.join(os.path.dirname(previous_output), sidecar)
            if os.path.exists(source):
                shutil.copy(source, os.path.join(directory, sidecar))
    if app.name == "run":
        os.makedirs(os.path.join(directory, "runs"))


def run_args(app, long=False, force=True):
    args = [a.replace("{out}", app.output) for a in (app.long_args if long else app.args)]
    if app.force and force:
        args.append("--force")
    return args


def check_after_failure(app, case_kind, result, directory, before_digest, reference, violations):
    """Invariants 1-5 for a run that was faulted, killed or signalled."""
    if result.timed_out:
        violations.append("hang")
        return
    errors, findings = stderr_findings(result.stderr, case_kind)
    committed = False
    if case_kind == "signal" and result.rc in (1, 75) and not errors:
        # mpiexec exits 1 after a signal whatever the ranks did (docs/apps.md, "Signals"): the ranks may have
        # finished first (the output then must be right), and plx-run's drained stop is reported in its
        # summary (stdout, "stopped": true in --json), not as an error.
        if app.compare == "farm":
            if not farm_stopped(result.stdout):
                violations.append("0 error lines, and no stop in plx-run's summary")
        else:
            difference = result_difference(app, reference, directory, result.stdout)
            if difference:
                violations.append(f"0 error lines, and {difference}")
            committed = True
    elif result.rc == 0:
        difference = result_difference(app, reference, directory, result.stdout)
        if difference:
            violations.append(f"exit 0 with a wrong result ({difference})")
        committed = True
        if errors:
            violations.append(f"{len(errors)} error lines on exit 0")
    elif result.rc not in (1, 75):
        violations.append(f"exit {result.rc}")
    elif len(errors) != 1:
        violations.append(f"{len(errors)} error lines")
    violations.extend(findings)
    stray = stray_files(app, directory, committed or before_digest is not None)
    if stray:
        violations.append("files left: " + " ".join(stray[:4]))
    if before_digest is not None and result.rc != 0:
        path = os.path.join(directory, app.output)
        if not os.path.exists(path) or file_digest(path) != before_digest:
            # Replaced by the new output, complete and right, is a commit that a later step's failure
            # followed (the rename happened): not damage.
            if not os.path.exists(path) or result_difference(app, reference, directory, result.stdout):
                violations.append("the previous output was damaged before the commit")


def check_rerun(app, runner, ranks, directory, reference, violations, long=False):
    """Invariant 6: without the fault, a rerun (or resume) finishes with the reference's result."""
    args = run_args(app, long)
    if app.resume_args:
        args += list(app.resume_args)
    rerun = runner.run(app, ranks, args, directory)
    record = {"rerun_rc": rerun.rc, "rerun_s": round(rerun.seconds, 2)}
    if rerun.timed_out:
        violations.append("rerun hang")
    elif rerun.rc != 0:
        first = next((l for l in rerun.stderr.splitlines() if ERROR_LINE.match(l)), rerun.stderr.strip()[-200:])
        violations.append(f"rerun exit {rerun.rc}: {first}")
    else:
        difference = result_difference(app, reference, directory, rerun.stdout)
        if difference:
            violations.append(f"resume mismatch ({difference})")
        stray = stray_files(app, directory, True, finished=True)
        if stray:
            violations.append("files left after the rerun: " + " ".join(stray[:4]))
    return record


def violation_class(text):
    for key in ("hang", "exit", "error lines", "abort banner", "ORTE", "HDF5-DIAG", "sanitizer", "terminate",
                "signal", "files left", "previous output", "mismatch", "rerun"):
        if key in text:
            return {"exit": "wrong exits", "error lines": "extra lines", "abort banner": "extra lines",
                    "ORTE": "extra lines", "HDF5-DIAG": "extra lines", "sanitizer": "wrong exits",
                    "terminate": "wrong exits", "signal": "wrong exits", "files left": "files left",
                    "previous output": "lost", "mismatch": "resume mismatches", "rerun": "resume mismatches",
                    "hang": "hangs"}[key]
    return "other"


# --- the sweep ----------------------------------------------------------------------------------------------

def read_counts(prefix, ranks):
    counts = {}
    for rank in range(ranks):
        path = f"{prefix}.{rank}"
        if not os.path.exists(path):
            raise RuntimeError(f"the clean run wrote no fault counts for rank {rank} ({path})")
        with open(path) as f:
            for line in f:
                site, passes = line.split()
                counts[(site, rank)] = int(passes)
    return counts


def site_kinds(build):
    """The registry, from the library itself (plx-bench lists it? no: parse the header's declarations)."""
    kinds = {}
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "include", "parallax", "core",
                          "detail", "fault_injection.hpp")
    with open(header) as f:
        for match in re.finditer(r'fault_site \w+\{"([\w.]+)", fault_kind::(\w+)', f.read()):
            kinds[match.group(1)] = match.group(2)
    return kinds


def passes_to_try(total, max_per_site):
    if total <= max_per_site:
        return list(range(total))
    stride = (total - 1) / (max_per_site - 1)
    return sorted({round(i * stride) for i in range(max_per_site)} | {0, total - 1})


def enumerate_cases(app, ranks, counts, kinds, opts):
    cases = []
    for (site, rank), total in sorted(counts.items()):
        if opts.sites and not any(re.fullmatch(p, site) for p in opts.sites.split(",")):
            continue
        kind = kinds.get(site, "mpi" if site.startswith("MPI_") else "?")
        for after in passes_to_try(total, opts.max_per_site):
            cases.append(Case(app.name, ranks, site, kind, rank, total, after))
    if opts.budget:
        # The bounded part: every site's first and last pass on some rank first, then a spread of the rest.
        firsts, rest = [], []
        seen = set()
        for c in cases:
            key = (c.site, c.after == 0 or c.after == c.passes - 1)
            if c.site not in seen and key[1] and c.rank == (len(seen) % ranks):
                firsts.append(c)
                seen.add(c.site)
            else:
                rest.append(c)
        if len(firsts) >= opts.budget:
            step = len(firsts) / opts.budget
            cases = [firsts[int(i * step)] for i in range(opts.budget)]
        else:
            left = opts.budget - len(firsts)
            step = max(1, len(rest) / left) if left else 1
            cases = firsts + [rest[int(i * step)] for i in range(min(left, len(rest)))]
    return cases


def make_setup(apps, runner, setup, opts):
    os.makedirs(setup, exist_ok=True)
    with open(os.path.join(setup, "tasks.txt"), "w") as f:
        for i in range(12):
            f.write(f"echo task {i}; echo run >> \"$PLX_SWEEP_DIR/runs/{i}\"\n")
    with open(os.path.join(setup, "tasks_long.txt"), "w") as f:
        for i in range(200):
            f.write(f"sleep 0.05; echo task {i}; echo run >> \"$PLX_SWEEP_DIR/runs/{i}\"\n")
    if "web" in apps:
        cosmo = apps["cosmo"]
        args = ["--dim", "2", "--n", "32", "--times", "0", "--out", "in.h5"]
        r = runner.run(cosmo, 2, args, setup)
        if r.rc != 0:
            raise RuntimeError("plx-cosmo for plx-web's input failed: " + r.stderr)


def reference_run(app, runner, ranks, setup, base, long=False):
    directory = os.path.join(base, f"reference-{app.name}-{ranks}{'-long' if long else ''}")
    if os.path.exists(directory):  # a later stage (full disk) asks again: a fresh reference, same rules
        shutil.rmtree(directory)
    prepare_directory(app, setup, directory, None)
    prefix = os.path.join(base, f"counts-{app.name}-{ranks}")
    result = runner.run(app, ranks, run_args(app, long), directory, {"PLX_FAULT_COUNT": prefix})
    if result.rc != 0:
        raise RuntimeError(f"{app.name} on {ranks} ranks: the clean run exited {result.rc}:\n{result.stderr}")
    reference = {"dir": directory, "seconds": result.seconds}
    if app.output:
        reference["output"] = os.path.join(directory, app.output)
    if app.compare.startswith("stdout_json:"):
        reference["json"] = json.loads(result.stdout.strip().splitlines()[-1])
    if app.compare == "farm":
        reference["farm"] = farm_outputs(directory)
    return reference, prefix


def sweep_faults(app, runner, ranks, setup, base, kinds, opts, emit):
    reference, prefix = reference_run(app, runner, ranks, setup, base)
    counts = read_counts(prefix, ranks)
    cases = enumerate_cases(app, ranks, counts, kinds, opts)
    print(f"{app.name} x {ranks} ranks: {len(counts)} (site, rank) pairs, {sum(counts.values())} passes, "
          f"{len(cases)} faulted runs", flush=True)
    if opts.count_only:
        return len(cases)

    def run_case(number, case):
        directory = os.path.join(base, f"{app.name}-{ranks}-{number}")
        prepare_directory(app, setup, directory, reference.get("output"))
        before = file_digest(os.path.join(directory, app.output)) if app.force and app.output else None
        spec = f"{case.site}@{case.rank},after={case.after}"
        result = runner.run(app, ranks, run_args(app), directory, {"PLX_FAULT": spec})
        violations = []
        check_after_failure(app, case.kind, result, directory, before, reference, violations)
        record = dataclasses.asdict(case) | {"fault": spec, "rc": result.rc, "seconds": round(result.seconds, 2)}
        if not result.timed_out:
            record |= check_rerun(app, runner, ranks, directory, reference, violations)
        record["violations"] = violations
        record["stderr"] = result.stderr[-600:] if violations else ""
        emit(record)
        if not violations and not opts.keep:
            shutil.rmtree(directory, ignore_errors=True)

    # Independent runs, each in its own directory: --jobs of them at once.
    with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        for future in [pool.submit(run_case, number, case) for number, case in enumerate(cases)]:
            future.result()
    return len(cases)


def sweep_interruptions(app, runner, ranks, setup, base, opts, emit):
    """kill -9 at spread instants, and SIGINT/SIGTERM to mpiexec and to the ranks; then resume."""
    if not app.resume_args:
        return
    reference, _ = reference_run(app, runner, ranks, setup, base, long=True)
    duration = reference["seconds"]
    plans = []
    for i in range(opts.crashes):
        plans.append(("SIGKILL", "all", duration * (i + 0.5) / opts.crashes))
    if opts.signals:
        for sig in ("SIGINT", "SIGTERM"):
            for target in ("mpiexec", "ranks"):
                plans.append((sig, target, duration * 0.5))
    print(f"{app.name} x {ranks} ranks: {len(plans)} interrupted runs over {duration:.1f} s", flush=True)
    for number, (sig, target, instant) in enumerate(plans):
        directory = os.path.join(base, f"{app.name}-{ranks}-int{number}")
        prepare_directory(app, setup, directory, None)

        def interrupt(proc, sig=sig, target=target, instant=instant):
            time.sleep(instant)
            if proc.poll() is not None:
                return
            if sig == "SIGKILL":
                kill_tree(proc.pid)
            elif target == "mpiexec":
                os.kill(proc.pid, getattr(signal, sig))
            else:
                for p in descendants(proc.pid):
                    try:
                        os.kill(p, getattr(signal, sig))
                    except ProcessLookupError:
                        pass

        result = runner.run(app, ranks, run_args(app, long=True), directory, action=interrupt)
        violations = []
        if sig != "SIGKILL":
            check_after_failure(app, "signal", result, directory, None, reference, violations)
        elif result.rc == 0:
            difference = result_difference(app, reference, directory, result.stdout)
            if difference:
                violations.append(f"exit 0 with a wrong result ({difference})")
        # A killed run cannot clean up after itself: the resume must (checked by check_rerun).
        record = {"app": app.name, "ranks": ranks, "site": f"{sig}->{target}", "kind": "interrupt",
                  "instant_s": round(instant, 2), "rc": result.rc, "seconds": round(result.seconds, 2)}
        record |= check_rerun(app, runner, ranks, directory, reference, violations, long=True)
        record["violations"] = violations
        record["stderr"] = result.stderr[-600:] if violations else ""
        emit(record)
        if not violations and not opts.keep:
            shutil.rmtree(directory, ignore_errors=True)


def directory_bytes(directory):
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(directory) for f in files)


def sweep_full_disk(app, runner, ranks, setup, base, opts, emit):
    """A real full disk: the run directory is a tmpfs (root only) that another file fills to less free space
    than the output needs, at sizes spread below what the clean run writes; then that file goes, and the
    rerun (resume) must finish correctly."""
    if not app.output and app.compare != "farm":
        return
    reference, _ = reference_run(app, runner, ranks, setup, base)
    copied = app.inputs + (("tasks_long.txt",) if app.name == "run" else ())  # what prepare_directory copies
    inputs = sum(os.path.getsize(os.path.join(setup, name)) for name in copied)
    written = directory_bytes(reference["dir"]) - inputs
    sizes = sorted({max(4096, int(written * f) // 4096 * 4096) for f in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)})
    print(f"{app.name} x {ranks} ranks: {len(sizes)} full disks below {written} bytes", flush=True)
    for number, size in enumerate(sizes):
        directory = os.path.join(base, f"{app.name}-{ranks}-disk{number}")
        os.makedirs(directory)
        # Larger than the output, then filled by another file to `size` bytes free: a disk that others filled
        # (plx-ensemble refuses up front an output larger than its whole file system).
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={written + inputs + (1 << 20)}", "tmpfs",
                                  directory], capture_output=True, text=True)
        if mounted.returncode != 0:
            print(f"full-disk runs skipped: cannot mount a tmpfs ({mounted.stderr.strip()})", flush=True)
            os.rmdir(directory)
            return
        try:
            for name in app.inputs + (("tasks_long.txt",) if app.name == "run" else ()):
                shutil.copy(os.path.join(setup, name), os.path.join(directory, name))
            if app.name == "run":
                os.makedirs(os.path.join(directory, "runs"))
            filler = os.path.join(directory, ".filler")
            free = shutil.disk_usage(directory).free
            with open(filler, "wb") as f:
                f.write(b"\0" * max(0, free - size - 8192))
            result = runner.run(app, ranks, run_args(app), directory)
            violations = []
            check_after_failure(app, "disk", result, directory, None, reference, violations)
            record = {"app": app.name, "ranks": ranks, "site": f"tmpfs {size} bytes", "kind": "full disk",
                      "rc": result.rc, "seconds": round(result.seconds, 2)}
            os.remove(filler)
            subprocess.run(["mount", "-o", "remount,size=1G", directory], check=True)
            if not result.timed_out:
                record |= check_rerun(app, runner, ranks, directory, reference, violations)
            record["violations"] = violations
            record["stderr"] = result.stderr[-600:] if violations else ""
            emit(record)
        finally:
            subprocess.run(["umount", "-l", directory], capture_output=True)
        if not opts.keep:
            shutil.rmtree(directory, ignore_errors=True)


def print_table(records, out=sys.stdout):
    columns = ["runs", "hangs", "wrong exits", "extra lines", "files left", "lost", "resume mismatches"]
    rows = {}
    for r in records:
        key = (r["app"], r["kind"])
        row = rows.setdefault(key, dict.fromkeys(columns, 0))
        row["runs"] += 1
        for v in set(violation_class(v) for v in r["violations"]):
            if v in row:
                row[v] += 1
    width = max([len(f"{a} {k}") for a, k in rows] + [14])
    print(f"{'app site-class':<{width}} " + " ".join(f"{c:>9}" for c in columns), file=out)
    total = dict.fromkeys(columns, 0)
    for (app, kind), row in sorted(rows.items()):
        print(f"{app + ' ' + kind:<{width}} " + " ".join(f"{row[c]:>9}" for c in columns), file=out)
        for c in columns:
            total[c] += row[c]
    print(f"{'total':<{width}} " + " ".join(f"{total[c]:>9}" for c in columns), file=out)
    broken = sum(1 for r in records if r["violations"])
    print(f"{total['runs']} faulted runs: {total['hangs']} hangs, {total['lost']} lost, "
          f"{total['resume mismatches']} resume mismatches, {broken} runs with a violation", file=out)
    return broken


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--build", required=True, help="build directory (build/release, build/asan)")
    parser.add_argument("--apps", default="pi,cosmo,cosmo3d,ensemble,web,h5map,run", help="comma-separated")
    parser.add_argument("--ranks", default="2,3", help="rank counts, comma-separated")
    parser.add_argument("--sites", default="", help="only sites matching these regexes (comma-separated)")
    parser.add_argument("--max-per-site", type=int, default=50, help="passes tried per (site, rank): a stride above")
    parser.add_argument("--budget", type=int, default=0, help="at most this many faulted runs per app and ranks")
    parser.add_argument("--crashes", type=int, default=0, help="kill -9 instants per resumable app and ranks")
    parser.add_argument("--signals", action="store_true", help="SIGINT and SIGTERM to mpiexec and to the ranks")
    parser.add_argument("--full-disk", action="store_true",
                        help="also real full disks: each app in a tmpfs filled to less room than its output needs (root only)")
    parser.add_argument("--no-faults", action="store_true", help="no armed fault sites (crashes, signals, disks only)")
    parser.add_argument("--jobs", type=int, default=1, help="faulted runs at once (each in its own directory)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds before a run counts as hung")
    parser.add_argument("--jsonl", default="", help="write one JSON line per run here")
    parser.add_argument("--work", default="", help="directory for the runs (a new sweep-* folder inside it; "
                        "default: the system's temporary directory); removed when no run broke an invariant")
    parser.add_argument("--keep", action="store_true", help="keep the directories of runs without violations")
    parser.add_argument("--count-only", action="store_true",
                        help="only the clean counting runs: how many faulted runs the other options make")
    parser.add_argument("--mpiexec", default=os.environ.get("PLX_MPIEXEC", "mpiexec --oversubscribe"))
    opts = parser.parse_args()

    apps = apps_for(os.path.abspath(opts.build))
    unknown = [a for a in opts.apps.split(",") if a not in apps]
    if unknown:
        parser.error(f"--apps: unknown {unknown} (known: {','.join(apps)})")
    for a in opts.apps.split(","):
        if not os.access(apps[a].binary, os.X_OK):
            parser.error(f"--build: {apps[a].binary} is not built")
    runner = Runner(opts)
    kinds = site_kinds(opts.build)
    if opts.work:
        os.makedirs(opts.work, exist_ok=True)
    # Absolute: the runs start in their own directories, and PLX_FAULT_COUNT's prefix is a path under it.
    base = os.path.abspath(tempfile.mkdtemp(prefix="sweep-", dir=opts.work or None))
    setup = os.path.join(base, "setup")
    records = []
    jsonl = open(opts.jsonl, "w") if opts.jsonl else None
    started = time.monotonic()

    lock = threading.Lock()

    def emit(record):
        with lock:
            emit_locked(record)

    def emit_locked(record):
        records.append(record)
        if jsonl:
            jsonl.write(json.dumps(record) + "\n")
            jsonl.flush()
        if record["violations"]:
            print(f"VIOLATION {record['app']} x {record['ranks']} {record.get('fault', record['site'])} "
                  f"(rank {record.get('rank', '-')}, pass {record.get('after', '-')}): "
                  + "; ".join(record["violations"]), flush=True)
            if record.get("stderr"):
                print("  stderr: " + record["stderr"].strip().replace("\n", "\n  stderr: "), flush=True)

    planned = 0
    try:
        make_setup(apps, runner, setup, opts)
        for name in opts.apps.split(","):
            for ranks in [int(r) for r in opts.ranks.split(",")]:
                if not opts.no_faults:
                    planned += sweep_faults(apps[name], runner, ranks, setup, base, kinds, opts, emit)
                if opts.count_only:
                    continue
                if opts.crashes or opts.signals:
                    sweep_interruptions(apps[name], runner, ranks, setup, base, opts, emit)
                if opts.full_disk and ranks == min(int(r) for r in opts.ranks.split(",")):
                    sweep_full_disk(apps[name], runner, ranks, setup, base, opts, emit)
    finally:
        if jsonl:
            jsonl.close()
    if opts.count_only:
        print(f"{planned} faulted runs planned (clean counting runs only: {time.monotonic() - started:.0f} s)")
        shutil.rmtree(base, ignore_errors=True)
        return 0
    broken = print_table(records)
    print(f"sweep time {time.monotonic() - started:.0f} s", flush=True)
    if not opts.keep and not broken:
        shutil.rmtree(base, ignore_errors=True)
    elif broken:
        print(f"runs with violations kept in {base}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
