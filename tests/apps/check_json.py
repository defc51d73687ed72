#!/usr/bin/env python3
"""Checks an app's --json output: every non-empty line of FILE is one JSON object, and each KEY=VALUE given
holds in the last line (VALUE compared with the field as text; numbers as Python prints them).

    check_json.py FILE [KEY=VALUE ...]        exit 0 when all holds, else 1 with the reason
"""
import json
import sys


def main():
    path, expected = sys.argv[1], sys.argv[2:]
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if not lines:
        sys.exit(f"{path}: no JSON lines")
    objects = []
    for number, line in enumerate(lines, 1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            sys.exit(f"{path}:{number}: not JSON ({e}): {line}")
        if not isinstance(value, dict):
            sys.exit(f"{path}:{number}: not a JSON object: {line}")
        objects.append(value)
    for item in expected:
        key, _, want = item.partition("=")
        got = objects[-1].get(key)
        if str(got) != want:
            sys.exit(f"{path}: {key} is {got!r}, expected {want!r}: {lines[-1]}")
    print(f"{len(objects)} JSON lines")


if __name__ == "__main__":
    main()
