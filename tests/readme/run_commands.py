"""Runs the shell commands of one documentation page as a reader pastes them, after the Quick start's PATH line.

    run_commands.py ROOT PAGE PREFIX WORK_DIR

PAGE is README.md or docs/<name>.md under ROOT; PREFIX is an installed parallax (cmake --install), whose
bin/ goes first on PATH as `export PATH="$PREFIX/bin:$PATH"` puts it. WORK_DIR is emptied, and every block of
the page runs there in order, so a block may use the files an earlier block of the same page made:

- ```sh and ```bash blocks run as they stand, through `bash -e -o pipefail`;
- ```python blocks run through Debian's /usr/bin/python3 (which has h5py, xarray and matplotlib), with
  `PYTHONPATH=$PREFIX/share/parallax/python` as the Quick start's line sets it and matplotlib's Agg backend;
- ```console blocks are transcripts: the lines that start with "$ " are the commands (a command goes on
  while a quote is open or a line ends with a backslash); the other lines are output and are not checked;
- a block is left out only with a comment directly above its fence, which the rendered page hides:
      <!-- docs-command: skip (why it cannot run here) -->
- a block fenced with plain ``` whose first line starts with "$ " is an error: mark it ```console.

Open MPI's `mpirun` needs --oversubscribe for more ranks than cores; the test sets
OMPI_MCA_rmaps_base_oversubscribe=1 instead, so the commands stay as printed. Each block prints its time
(the cost a reader pays on this machine); a block that fails stops the page with its output and exit code 1.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

from doc_blocks import blocks

SKIP = re.compile(r"<!--\s*docs-command:\s*skip\s*\((.+)\)\s*-->", re.S)
BLOCK_TIMEOUT_S = 300


def complete(command):
    """Whether a shell command is complete: no open quote, no trailing backslash."""
    if command.rstrip("\n").endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


def console_commands(body):
    """The commands of a transcript: "$ " lines and their continuations."""
    commands, i = [], 0
    while i < len(body):
        if not body[i].startswith("$ "):
            i += 1
            continue
        command = body[i][2:]
        i += 1
        while not complete(command) and i < len(body):
            command += body[i]
            i += 1
        commands.append(command)
    return commands


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    root, page, prefix, work = sys.argv[1:5]
    with open(os.path.join(root, page), encoding="utf-8") as f:
        lines = f.readlines()
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = dict(os.environ, PATH=os.path.join(os.path.abspath(prefix), "bin") + os.pathsep + os.environ["PATH"],
               PYTHONPATH=os.path.join(os.path.abspath(prefix), "share", "parallax", "python"), MPLBACKEND="Agg",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    ran = skipped = 0
    total_start = time.monotonic()
    for line, language, body, above in blocks(lines, page):
        where = f"{page}:{line}"
        if language == "" and body and body[0].startswith("$ "):
            print(f"{where}: a transcript of commands: fence it as ```console so that it is run")
            return 1
        if language not in ("sh", "bash", "shell", "console", "python"):
            continue
        skip = SKIP.search(above)
        if skip:
            print(f"{where}: skipped ({skip.group(1).strip()})")
            skipped += 1
            continue
        script = "".join(console_commands(body)) if language == "console" else "".join(body)
        if not script.strip():
            print(f"{where}: a {language} block without a command")
            return 1
        print(f"{where}: running\n" + "".join("    " + l for l in script.splitlines(keepends=True)), end="", flush=True)
        start = time.monotonic()
        try:
            command = ["/usr/bin/python3", "-c", script] if language == "python" else ["bash", "-e", "-o", "pipefail",
                                                                                        "-c", script]
            done = subprocess.run(command, cwd=work, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired as timeout:
            print(f"{where}: still running after {BLOCK_TIMEOUT_S} s; its output:\n{timeout.output or ''}")
            return 1
        seconds = time.monotonic() - start
        if done.returncode != 0:
            print(f"{where}: exit code {done.returncode} after {seconds:.1f} s; its output:\n{done.stdout}")
            return 1
        print(f"{where}: ok, {seconds:.1f} s")
        ran += 1
    print(f"{page}: {ran} blocks ran, {skipped} skipped, {time.monotonic() - total_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
