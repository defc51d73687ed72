"""Turn every ```cpp block of README.md and docs/*.md into a program, so that ctest compiles and runs them.

    extract_snippets.py ROOT OUT_DIR      writes OUT_DIR/<name>.cpp (and <name>.before, see below) for every
                                          block of ROOT/README.md and ROOT/docs/*.md; prints the names, one a line

The convention, for whoever edits the documentation:

- Every block fenced with ```cpp is a whole program, exactly as a reader copies it: its own #include lines,
  only public headers (<parallax/...>, never a detail/ header), and an `int main`. ctest compiles it against
  the build's parallax::parallax (`readme_snippets`) and runs it on 2 ranks in a scratch directory
  (`docs_snippet_<page>_<line>`), so it must finish in a few seconds: keep its sizes small. Nothing is added
  to the code; a block without `int main(` is an error.
- An HTML comment directly above the fence (invisible on the rendered page) may add one of:
      <!-- readme-snippet: before COMMAND -->     a shell command run first in the snippet's directory (with
                                                  the build's apps on PATH), to make the input the program
                                                  reads; say the same in the text, so a reader knows it
      <!-- readme-snippet: skip (reason) -->      not compiled or run, for the reason given (avoid it)
- Snippets are named by their page and the line of their opening fence (snippet_plx_web_236: docs/plx-web.md,
  line 236), and compile errors point there too (#line).

Files are only rewritten when their text changes, so an unrelated edit rebuilds nothing.
"""

import glob
import os
import re
import sys

from doc_blocks import blocks

DIRECTIVE = re.compile(r"<!--\s*readme-snippet:\s*(\w+)(.*?)-->", re.S)


def pages(root):
    """README.md, then docs/*.md in name order, as paths relative to root."""
    return ["README.md"] + sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "docs", "*.md")))


def snippet_name(page, line):
    stem = "readme" if page == "README.md" else os.path.splitext(os.path.basename(page))[0]
    return f"snippet_{re.sub(r'[^A-Za-z0-9]', '_', stem)}_{line}"


def write_if_changed(path, text):
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: extract_snippets.py ROOT OUT_DIR")
    root, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    names, errors = [], []
    for page in pages(root):
        with open(os.path.join(root, page), encoding="utf-8") as f:
            lines = f.readlines()
        for line, language, body, directive in blocks(lines, page):
            code = "".join(body)
            if language not in ("cpp", "c++"):
                continue
            where = f"{page}:{line}"
            before = None
            found = DIRECTIVE.search(directive)
            if found:
                kind, text = found.group(1), found.group(2).strip()
                if kind == "skip":
                    if not text:
                        errors.append(f"{where}: readme-snippet: skip needs a reason: skip (why)")
                    continue
                if kind != "before" or not text:
                    errors.append(f"{where}: unknown readme-snippet directive '{kind} {text}' (before COMMAND, "
                                  "or skip (reason); preludes are gone: a block shows all of its program)")
                    continue
                before = text
            if not re.search(r"\bint\s+main\s*\(", code):
                errors.append(f"{where}: a ```cpp block must be a whole program, with its includes and int main")
            for include in re.findall(r"#include\s*<(parallax/[^>]*)>", code):
                if "/detail/" in include:
                    errors.append(f"{where}: includes <{include}>: examples use public headers only")
            name = snippet_name(page, line)
            header = (f"// Generated from {page}:{line} by tests/readme/extract_snippets.py; edit {page} instead.\n"
                      f'#line {line + 1} "{page}"\n')
            write_if_changed(os.path.join(out_dir, name + ".cpp"), header + code)
            before_path = os.path.join(out_dir, name + ".before")
            if before:
                write_if_changed(before_path, before + "\n")
            elif os.path.exists(before_path):
                os.remove(before_path)
            names.append(name)
    if errors:
        sys.exit("\n".join(errors))
    # Snippets of an earlier text that no longer exist would otherwise linger (harmless, but confusing).
    for stale in os.listdir(out_dir):
        stem, extension = os.path.splitext(stale)
        if extension in (".cpp", ".before") and stem not in names:
            os.remove(os.path.join(out_dir, stale))
    print("\n".join(names))


if __name__ == "__main__":
    main()
