"""Runs one built documentation snippet as a reader would: in an empty directory, on 2 ranks.

    run_snippet.py SNIPPET_DIR NAME EXE WORK_DIR APPS_DIR MPIEXEC [MPIEXEC ARGS...]

WORK_DIR is emptied first. If SNIPPET_DIR/NAME.before exists (the block's `<!-- readme-snippet: before
COMMAND -->`), COMMAND runs there first through bash, with the build's apps (APPS_DIR) first on PATH, to make
the snippet's input. Then `MPIEXEC [ARGS...] EXE` runs there. The exit code is the snippet's (or the
command's, if that failed); a run over 120 s is a failure.
"""

import os
import shutil
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    snippet_dir, name, exe, work, apps_dir = sys.argv[1:6]
    mpiexec = sys.argv[6:]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = dict(os.environ, PATH=apps_dir + os.pathsep + os.environ.get("PATH", ""))
    # mpirun in a before-command, as a reader types it: more ranks than cores are allowed here (Open MPI).
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    where = open(os.path.join(snippet_dir, name + ".cpp"), encoding="utf-8").readline().split()[3]
    before = os.path.join(snippet_dir, name + ".before")
    if os.path.exists(before):
        command = open(before, encoding="utf-8").read().strip()
        print(f"{where}: before: {command}", flush=True)
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, timeout=120)
        if done.returncode != 0:
            print(f"{where}: the before-command failed with exit code {done.returncode}", flush=True)
            return done.returncode
    start = time.monotonic()
    print(f"{where}: {' '.join(mpiexec)} {exe}", flush=True)
    try:
        done = subprocess.run(mpiexec + [exe], cwd=work, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        print(f"{where}: still running after 120 s: a snippet must finish in seconds", flush=True)
        return 1
    print(f"{where}: exit code {done.returncode} after {time.monotonic() - start:.1f} s", flush=True)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
