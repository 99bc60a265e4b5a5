#!/usr/bin/env python3
"""Grow a built repository to N runs with copies of its runs (for scale figures that depend on
the number of runs, not on their points).

    python benchmarks/clone_runs.py SOURCE_REPO_FOLDER TARGET_REPO_FOLDER N

TARGET must already be a copy of SOURCE (``cp -al SOURCE TARGET``); copies get new hashes,
their segments are hard-linked and their manifests copied (modification times kept), until
``TARGET`` holds N run folders.  benchmarks/RESULTS.md says which figures used copies.
"""

import os
import shutil
import sys
import uuid


def main() -> None:
    _src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    runs = os.path.join(dst, ".aimcol", "runs")
    built = sorted(d for d in os.listdir(runs) if len(d) == 24)
    for i in range(n - len(built)):
        s = os.path.join(runs, built[i % len(built)])
        d = os.path.join(runs, uuid.uuid4().hex[:24])
        os.mkdir(d)
        for name in os.listdir(s):
            if name == "lock":
                continue
            if name == "manifest.msgpack":
                shutil.copy2(os.path.join(s, name), os.path.join(d, name))
            else:
                os.link(os.path.join(s, name), os.path.join(d, name))
    print(len(os.listdir(runs)))


if __name__ == "__main__":
    main()
