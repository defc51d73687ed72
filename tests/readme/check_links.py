"""Checks every relative link of README.md and docs/*.md: the file exists, and a #anchor names a heading.

    check_links.py ROOT

Links are Markdown's [text](target) and ![alt](target), outside code blocks and inline code. Absolute URLs
(http:, https:, mailto:) are not fetched. A target is resolved from the directory of the page that holds
it and must stay inside ROOT; an anchor (page.md#anchor, or #anchor on the same page) must be the GitHub
slug of one of that page's headings: lower case, punctuation dropped except '-' and '_', spaces as '-', and
-1, -2, ... added to repeats. Prints one line per broken link (page:line) and exits 1 if there is any.
"""

import glob
import os
import re
import sys

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+(?:\([^()]*\))?[^()\s]*)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*```")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def pages(root):
    return ["README.md"] + sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "docs", "*.md")))


def prose_lines(text):
    """(line number, line) outside fenced code blocks, with inline code removed."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, re.sub(r"(`+)(?:(?!\1).)*?\1", "", line)


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters, digits and '_'
    return text.replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        found, seen = set(), {}
        fenced = False
        with open(path, encoding="utf-8") as f:
            for line in f:
                if FENCE.match(line):
                    fenced = not fenced
                    continue
                match = None if fenced else HEADING.match(line)
                if match:
                    base = slug(match.group(2))
                    count = seen.get(base, 0)
                    seen[base] = count + 1
                    found.add(base if count == 0 else f"{base}-{count}")
        cache[path] = found
    return cache[path]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = os.path.realpath(sys.argv[1])
    broken, checked = [], 0
    for page in pages(root):
        page_path = os.path.join(root, page)
        with open(page_path, encoding="utf-8") as f:
            text = f.read()
        for number, line in prose_lines(text):
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue  # http:, https:, mailto:
                checked += 1
                file_part, _, anchor = target.partition("#")
                path = os.path.realpath(os.path.join(os.path.dirname(page_path), file_part)) if file_part else page_path
                where = f"{page}:{number}: {target}"
                if not (path == root or path.startswith(root + os.sep)):
                    broken.append(f"{where}: points outside the repository")
                elif not os.path.exists(path):
                    broken.append(f"{where}: no such file {os.path.relpath(path, root)}")
                elif anchor:
                    if not path.endswith(".md"):
                        broken.append(f"{where}: an anchor into a file that is not Markdown")
                    elif anchor not in anchors(path):
                        broken.append(f"{where}: {os.path.relpath(path, root)} has no heading with the anchor "
                                      f"#{anchor} (it has: {', '.join(sorted(anchors(path)))})")
    for line in broken:
        print(line)
    print(f"{checked} relative links checked in {len(pages(root))} pages, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
