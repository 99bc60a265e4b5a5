"""Helpers shared by every benchmark script: aimcol's and the peers'.

Standard library only: the peer scripts import this module inside the peer virtual
environments (Aim, MLflow), which must never import aimcol or its dependencies.

Every measurement script prints exactly one line that starts with ``RESULT_MARK`` followed by
a JSON object; ``run_benchmarks.py`` picks that line out of whatever else the tool printed.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import struct
import sys
import time
from pathlib import Path

RESULT_MARK = "BENCH_RESULT "

# W1: 10 metric names x 2 contexts (WORKLOADS.md)
W1_NAMES = ("loss", "acc", "lr", "grad_norm", "precision", "recall", "f1", "auc", "top1", "top5")
W1_SEQUENCES = len(W1_NAMES) * 2

# W2: 200 runs; loss and acc x train/val x 1,000 steps; hparams; 3 experiments; 0-2 tags
W2_EXPERIMENTS = ("baseline", "sweep-a", "sweep-b")
W2_TAGS = ("fast", "gpu", "long", "debug")
W2_BATCH_SIZES = (16, 32, 64, 128)
W2_QUERY_RUNS = "run.hparams.batch_size > 32"
W2_QUERY_SELECTIVE = "run.hparams.batch_size > 32 and metric.name == 'loss' and metric.context.subset == 'train'"
W2_QUERY_ALL_LOSS = "metric.name == 'loss'"

# W4 / W5: a few sequences whose values are an exact function of the step
CRASH_SEQUENCES = (("loss", "train"), ("loss", "val"), ("acc", "train"), ("acc", "val"))


def crash_value(seq_index: int, step: int) -> float:
    """The value tracked at ``step`` for sequence ``seq_index`` in W4/W5 (exact in float64)."""
    return step * 0.5 + seq_index


def curve(steps: int, seed: int = 0) -> list[float]:
    """A realistic training curve: exp(-i/1000) with a little noise (W1 values)."""
    rng = random.Random(seed)
    return [math.exp(-i / 1000.0) + rng.gauss(0.0, 0.01) for i in range(steps)]


def w3_value(seq_index: int, step: int) -> float:
    """The value a W3 writer tracks at ``step`` in its sequence ``seq_index`` (exact in float64)."""
    return step * 0.25 + seq_index


def w7_values(lo: int, hi: int):
    """W7's values for steps ``lo..hi-1`` as a float64 NumPy array: a decaying curve that is an
    exact function of the step, so a reader can check every point (NumPy imported here only:
    this module stays importable without it)."""
    import numpy as np

    steps = np.arange(lo, hi, dtype=np.float64)
    return 1.0 / (1.0 + steps * 1e-6) + (steps % 7) * 1e-3


def track_w7(track, n: int, chunk: int = 1_000_000) -> float:
    """Call ``track(v, name="loss", step=i)`` for W7's ``n`` points; the seconds it took, not
    counting making the values (made a chunk at a time, outside the timed calls)."""
    t_values = 0.0
    t0 = time.perf_counter()
    for lo in range(0, n, chunk):
        t1 = time.perf_counter()
        values = w7_values(lo, min(n, lo + chunk)).tolist()
        t_values += time.perf_counter() - t1
        for i, v in enumerate(values, lo):
            track(v, name="loss", step=i)
    return time.perf_counter() - t0 - t_values


def w2_plan(n_runs: int, seed: int = 1234) -> list[dict]:
    """Deterministic run specs for W2: the same for every tool."""
    rng = random.Random(seed)
    plan = []
    for i in range(n_runs):
        n_tags = rng.randint(0, 2)
        plan.append(
            {
                "index": i,
                "hparams": {"lr": rng.uniform(1e-5, 1e-1), "batch_size": rng.choice(W2_BATCH_SIZES)},
                "experiment": rng.choice(W2_EXPERIMENTS),
                "tags": rng.sample(W2_TAGS, n_tags),
                "seed": rng.randrange(1 << 30),
            }
        )
    return plan


def w2_expected(n_runs: int, steps: int) -> dict:
    """What the W2 queries must return (from the plan alone)."""
    plan = w2_plan(n_runs)
    big = sum(1 for p in plan if p["hparams"]["batch_size"] > 32)
    return {
        "runs_batch_gt_32": big,
        "selective_sequences": big,
        "selective_points": big * steps,
        "all_loss_sequences": 2 * n_runs,
        "all_loss_points": 2 * n_runs * steps,
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # bytes there
        return r / (1024 * 1024)
    return r / 1024


def dir_bytes(path: str | os.PathLike) -> dict:
    """Apparent size (sum of st_size), allocated size (st_blocks) and file count under path."""
    apparent = allocated = files = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            try:
                st = os.lstat(os.path.join(root, n))
            except FileNotFoundError:
                continue
            apparent += st.st_size
            allocated += getattr(st, "st_blocks", 0) * 512
            files += 1
    return {"apparent": apparent, "allocated": allocated, "files": files}


def emit(result: dict) -> None:
    """Print the one result line that the driver reads."""
    result.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    result.setdefault("python", sys.version.split()[0])
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(result, default=_json_default), flush=True)


def _json_default(o):
    try:
        import numpy as np  # only if the caller has it

        if isinstance(o, np.generic):
            return o.item()
    except ImportError:
        pass
    return str(o)


def parse_result(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    return None


def assert_no_aimcol() -> None:
    """Peer scripts call this: they must measure the peer alone."""
    if "aimcol" in sys.modules:
        raise SystemExit("peer benchmark imported aimcol")


# ---- progress file: a writer publishes (newest tracked step, points tracked, time) ----

_PROGRESS = struct.Struct("<qqd")


class ProgressFile:
    """A 24-byte file rewritten in place with one pwrite (cheap enough for every point)."""

    def __init__(self, path: str | os.PathLike):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def write(self, step: int, count: int) -> None:
        os.pwrite(self.fd, _PROGRESS.pack(step, count, time.time()), 0)

    def close(self) -> None:
        os.close(self.fd)


def read_progress(path: str | os.PathLike) -> tuple[int, int, float] | None:
    """(newest tracked step, points tracked, wall time) or None before the first write."""
    try:
        with open(path, "rb") as f:
            data = f.read(_PROGRESS.size)
    except FileNotFoundError:
        return None
    if len(data) != _PROGRESS.size:
        return None
    return _PROGRESS.unpack(data)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = math.floor(k)
    hi = math.ceil(k)
    if lo == hi:
        return s[int(k)]
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def is_uri(location: str | os.PathLike) -> bool:
    """An object-store location (``s3://bucket/prefix``) rather than a folder."""
    return "://" in str(location)


def repo_location(location: str | os.PathLike) -> Path | str:
    """A folder as a resolved Path; an object-store URI unchanged (aimcol only)."""
    return str(location) if is_uri(location) else Path(location).resolve()


def fresh_repo(location: str | os.PathLike) -> Path | str:
    """:func:`fresh_dir` for a folder; an object-store URI as given (the caller made its bucket
    fresh: ``objstore_workloads.py`` creates one per measurement)."""
    return str(location) if is_uri(location) else fresh_dir(location)


def store_bytes(location: str | os.PathLike) -> int:
    """Apparent bytes of a repository: a folder's files, or an object-store prefix's objects
    (listed through aimcol's storage: only aimcol writes to object stores here)."""
    if not is_uri(location):
        return dir_bytes(location)["apparent"]
    from aimcol.format.storage import storage_for

    return sum(size for _, size in storage_for(str(location)).list_keys(""))


def fresh_dir(path: str | os.PathLike) -> Path:
    p = Path(path).resolve()
    if p.exists():
        import shutil

        shutil.rmtree(p)
    p.mkdir(parents=True)
    return p


def add_benchmarks_to_path() -> None:
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)


def bytecode_env(env: dict, python: str, cache_dir: str | os.PathLike, *sources: str | os.PathLike) -> dict:
    """``env`` for a tool's processes to import ``sources`` from cached bytecode, as an installed package does.

    A peer installed with pip (Aim, MLflow) has its bytecode compiled at install time; an
    editable install gets it on first import, unless ``PYTHONDONTWRITEBYTECODE`` is set, as
    it is in some sandboxes: then every fresh process compiles the project's sources again
    (~60 ms for aimcol's query modules).  This compiles ``sources`` once into ``cache_dir``
    (``PYTHONPYCACHEPREFIX``, nothing written beside the sources) and returns the variables
    that make the children read it.  Benchmarks use it behind ``--bytecode``.
    """
    env = dict(env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache_dir)
    import subprocess

    subprocess.run(
        [python, "-m", "compileall", "-q", *map(str, sources)], env=env, check=True, stdout=subprocess.DEVNULL
    )
    return env


def use_checkout_tui(root: str | os.PathLike) -> None:
    """Import ``aimcol.tui`` from ``root/tui`` (this checkout), not from wherever an editable
    install of another checkout maps it (pyproject maps the package ``aimcol.tui`` to ``tui/``,
    and a shared venv's finder points at the checkout it was installed from)."""
    import importlib.util

    folder = os.path.join(os.fspath(root), "tui")
    if "aimcol.tui" in sys.modules or not os.path.isdir(folder):
        return
    spec = importlib.util.spec_from_file_location(
        "aimcol.tui", os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["aimcol.tui"] = module
    spec.loader.exec_module(module)
    import aimcol

    aimcol.tui = module
