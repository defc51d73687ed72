"""The fenced code blocks of a Markdown page, with the HTML comment just above each: shared by
extract_snippets.py (```cpp blocks) and run_commands.py (```sh, ```console and ```python blocks)."""

import re
import sys

FENCE = re.compile(r"^```(\S*)\s*$")


def blocks(lines, where):
    """Yields (line number of the fence, language, body lines, the comment directly above the fence or '').
    Exits naming `where` and the line when a block is never closed."""
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
            sys.exit(f"{where}:{start + 1}: code block is never closed")
        # The comment ends on the line just above the fence (hidden on the rendered page).
        above = ""
        if start > 0 and lines[start - 1].rstrip().endswith("-->"):
            first = start - 1
            while first >= 0 and "<!--" not in lines[first]:
                first -= 1
            if first >= 0:
                above = "".join(lines[first:start])
        yield start + 1, language, lines[start + 1:end], above
        i = end + 1
