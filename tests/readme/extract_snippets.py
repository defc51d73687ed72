"""Turn every ```cpp block of README.md into a translation unit, so that a ctest compiles (and links) them.

    extract_snippets.py README.md OUT_DIR      writes OUT_DIR/snippet_<line>.cpp, prints their names (one a line)

The convention, for whoever edits README.md:

- Every block fenced with ```cpp is compiled, against the headers and flags of the build, and linked with
  parallax::parallax. Blocks fenced with ``` or ```sh are not C++ and are left alone.
- A block that defines `int main(` is a whole program and is compiled as it stands.
- Any other block is a fragment: its leading `#include` lines (and blank or comment lines among them) go to
  file scope, and the rest becomes the body of `void readme_snippet(plx::runtime& rt)`, so a fragment may
  use `rt` as the README's examples do. A generated main creates the runtime and calls it (it is never run).
- An HTML comment directly above the fence (invisible on the rendered page) can add to a block:
      <!-- readme-snippet: prelude
      double integrate(double a, double b);     (C++ at file scope, after the block's own includes: the
      -->                                        user functions the example calls but does not show)
  or leave it out of the test, with a reason for the reader of the source:
      <!-- readme-snippet: skip (pseudo code) -->
- Snippets are named by the line of their opening fence, so a failing compile points into README.md.

Files are only rewritten when their text changes, so an unrelated README edit rebuilds nothing.
"""

import os
import re
import sys

FENCE = re.compile(r"^```(\S*)\s*$")
DIRECTIVE = re.compile(r"<!--\s*readme-snippet:\s*(\w+)(.*?)-->", re.S)


def blocks(lines):
    """Yields (line number of the fence, language, code, directive text before the fence or '')."""
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, language = i, match.group(1)
        end = start + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        if end == len(lines):
            sys.exit(f"README.md:{start + 1}: code block is never closed")
        # The directive comment ends on the line just above the fence.
        directive = ""
        if start > 0 and lines[start - 1].rstrip().endswith("-->"):
            first = start - 1
            while first >= 0 and "<!--" not in lines[first]:
                first -= 1
            if first >= 0:
                directive = "".join(lines[first:start])
        yield start + 1, language, "".join(lines[start + 1:end]), directive
        i = end + 1


def translation_unit(line, code, prelude):
    where = f"// Generated from README.md:{line} by tests/readme/extract_snippets.py; edit README.md instead.\n"
    if re.search(r"\bint\s+main\s*\(", code):
        head, body = split_includes(code)
        return where + head + prelude + f'#line {line + 1 + head.count(chr(10))} "README.md"\n' + body
    head, body = split_includes(code)
    return (where + head + "#include <parallax/core/runtime.hpp>\n" + prelude +
            "void readme_snippet([[maybe_unused]] plx::runtime& rt) {\n" +
            f'#line {line + 1 + head.count(chr(10))} "README.md"\n' + body + "}\n\n"
            "int main(int argc, char** argv) {\n  plx::runtime rt(argc, argv);\n  readme_snippet(rt);\n}\n")


def split_includes(code):
    """The block's leading #include lines (with blank and comment lines among them), and the rest."""
    lines = code.splitlines(keepends=True)
    n = 0
    while n < len(lines) and (lines[n].lstrip().startswith(("#include", "//")) or not lines[n].strip()):
        n += 1
    return "".join(lines[:n]), "".join(lines[n:])


def write_if_changed(path, text):
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: extract_snippets.py README.md OUT_DIR")
    readme, out_dir = sys.argv[1], sys.argv[2]
    with open(readme, encoding="utf-8") as f:
        lines = f.readlines()
    os.makedirs(out_dir, exist_ok=True)
    names = []
    for line, language, code, directive in blocks(lines):
        if language not in ("cpp", "c++"):
            continue
        prelude = ""
        found = DIRECTIVE.search(directive)
        if found:
            kind, text = found.group(1), found.group(2)
            if kind == "skip":
                continue
            if kind != "prelude":
                sys.exit(f"README.md:{line}: unknown readme-snippet directive '{kind}' (prelude or skip)")
            prelude = text.strip("\n") + "\n"
        name = f"snippet_{line}"
        write_if_changed(os.path.join(out_dir, name + ".cpp"), translation_unit(line, code, prelude))
        names.append(name)
    # Snippets of an earlier README that no longer exist would otherwise linger (harmless, but confusing).
    for stale in os.listdir(out_dir):
        if stale.endswith(".cpp") and stale[:-4] not in names:
            os.remove(os.path.join(out_dir, stale))
    print("\n".join(names))


if __name__ == "__main__":
    main()
