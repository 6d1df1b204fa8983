#!/usr/bin/env python3
"""Compares the per-step losses of two `tessera train --metrics` JSONL files (the MPI test scripts' check).

Usage: compare_losses.py A.jsonl B.jsonl LABEL_A LABEL_B [STEPS]
Exits 0 when both hold STEPS (default 5) losses equal within 1e-5 relative: two backends or layouts may sum a
reduction in a different order, which moves fp32 losses by a few ulps, never by 1e-5.
"""
import json
import sys


def losses(path):
    with open(path) as f:
        return [json.loads(line)["loss"] for line in f]


def main():
    a_path, b_path, a_label, b_label = sys.argv[1:5]
    steps = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    a, b = losses(a_path), losses(b_path)
    ok = len(a) == len(b) == steps and all(abs(x - y) <= 1e-5 * abs(x) for x, y in zip(a, b))
    print(("equal" if ok else "DIFFERENT") + f": {a_label} {a} / {b_label} {b}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
