"""Start W3's writer processes together and collect them (standard library only: the peer
scripts use it too, inside the peers' virtual environments)."""

from __future__ import annotations

import subprocess
import sys


def start_writers(script: str, n: int, args: list[str]) -> list[subprocess.Popen]:
    """``n`` processes of ``script writer --index i ...``, started back to back."""
    return [
        subprocess.Popen([sys.executable, script, "writer", "--index", str(i), *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(n)
    ]


def wait_writers(procs: list[subprocess.Popen], parse_result) -> tuple[list[dict], list[str]]:
    """Each writer's BENCH_RESULT, and one line per writer that failed."""
    results, errors = [], []
    for i, p in enumerate(procs):
        out, err = p.communicate()
        res = parse_result(out)
        if p.returncode != 0 or res is None:
            errors.append(f"writer {i}: exit {p.returncode}: {(err or out).strip().splitlines()[-1:]}")
        else:
            results.append(res)
    return results, errors
