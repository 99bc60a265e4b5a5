#!/usr/bin/env python3
"""Run the benchmark workloads for aimcol and its peers side by side, in one invocation.

    .venv/bin/python benchmarks/make_peer_envs.py          # once: peer venvs (Aim, MLflow)
    .venv/bin/python benchmarks/run_benchmarks.py          # W1 W2 W4 W5, 3 repetitions
    .venv/bin/python benchmarks/run_benchmarks.py --quick  # a smoke run (~3 minutes)
    .venv/bin/python benchmarks/run_benchmarks.py --workloads w1 --repeat 5 --markdown

Every measurement runs in a fresh subprocess (aimcol's with this interpreter, each peer's
with its own venv under benchmarks/.venvs/), which reports its own figures and its peak RSS
(``ru_maxrss``). Repetitions alternate between the tools (the order flips on every other
repetition) and the tables show medians, with ratios peer / aimcol. This machine is shared
and noisy: the ratios are the result; absolute times are only hints.

Raw figures go to benchmarks/results/latest.json (or --json PATH); --markdown prints the
tables as Markdown, headed by the command that produced them, ready to paste into
benchmarks/RESULTS.md.

Workloads (shared/bench/WORKLOADS.md):
  w1  ingest: 1 run, 10 names x 2 contexts x --steps steps (default 50,000 = 1,000,000 calls)
  w2  200 runs x 4 sequences x 1,000 steps; queries in a new process
  w3  8 writer processes into one repository (W1 shape, 10,000 steps) + a reader querying
  w4  kill -9 a writer at random moments; recovery and resume
  w5  live read: a writer at 1,000 points/s, a reader polling every 100 ms
  w7  long sequence: 1 run, 1 sequence of 10,000,000 points (Aim: 100,000); read back
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
VENVS = HERE / ".venvs"
WORKLOADS_DIR = HERE / "workloads"
sys.path.insert(0, str(HERE))
from bench_common import parse_result  # noqa: E402

ALL_WORKLOADS = ("w1", "w2", "w3", "w4", "w5", "w7")
ALL_PEERS = ("aim", "mlflow", "trackio", "tensorboard")


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
def build_config(args) -> dict:
    q = args.quick
    c = {
        "repeat": args.repeat if args.repeat is not None else (1 if q else 3),
        # W1
        "w1_steps": args.steps if args.steps is not None else (5_000 if q else 50_000),
        "w1_aim_steps": args.aim_steps if args.aim_steps is not None else (1_000 if q else 5_000),
        "w1_mlflow_sqlite_metric_steps": 10 if q else 25,  # x20 keys: 200 / 500 points
        "w1_mlflow_file_metric_steps": 25 if q else 100,  # 500 / 2,000 points
        "w1_mlflow_batch_steps": 200 if q else 1_000,  # 4,000 / 20,000 points
        "w1_trackio_steps": 250 if q else 2_500,  # 5,000 / 50,000 points
        "w1_tensorboard_steps": 1_000 if q else 10_000,  # 20,000 / 200,000 points
        # W2
        "w2_runs": args.w2_runs if args.w2_runs is not None else (20 if q else 200),
        "w2_steps": 100 if q else 1_000,
        "w2_aim_steps": args.aim_w2_steps if args.aim_w2_steps is not None else (50 if q else 250),
        # MLflow writes W2 with log_batch (per-point log_metric would take an hour); trackio and
        # TensorBoard at a smaller step count too: compare per point
        "w2_mlflow_steps": 50 if q else 250,
        "w2_trackio_steps": 50 if q else 100,  # ~1.5 ms a point: 80,000 points take two minutes
        "w2_tensorboard_steps": 100 if q else 250,
        # W3
        "w3_writers": 8,
        "w3_steps": 1_000 if q else 10_000,
        "w3_aim_steps": 50 if q else 500,
        # W4
        "w4_kills": 5 if q else 20,
        "w4_aim_kills": 2 if q else 5,
        "w4_flush_points": 1_000,
        # W5
        "w5_seconds": 3.0 if q else 10.0,
        # W7
        "w7_points": 1_000_000 if q else 10_000_000,
        "w7_aim_points": 10_000 if q else 100_000,
    }
    c["w1_aim_steps"] = min(c["w1_aim_steps"], c["w1_steps"])
    for peer in ("aim", "mlflow", "trackio", "tensorboard"):
        c[f"w2_{peer}_steps"] = min(c[f"w2_{peer}_steps"], c["w2_steps"])
    return c


def peer_python(name: str) -> Path | None:
    py = VENVS / name / "bin" / "python"
    return py if py.exists() else None


def env_for(kind: str) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if kind == "aimcol":
        env["PYTHONPATH"] = str(REPO_ROOT)
    return env


class Spec:
    """One measurement: a command that prints one BENCH_RESULT line."""

    def __init__(
        self,
        key: str,
        tool: str,
        label: str,
        cmd: list[str],
        kind: str,
        *,
        repeat: bool = True,
        timeout: float = 900,
        note: str = "",
    ):
        self.key, self.tool, self.label, self.cmd, self.kind = key, tool, label, cmd, kind
        self.repeat, self.timeout, self.note = repeat, timeout, note
        self.results: list[dict] = []
        self.failed = False

    def run(self, workdir: Path, log) -> dict:
        t0 = time.perf_counter()
        try:
            cp = subprocess.run(
                [str(c) for c in self.cmd],
                capture_output=True,
                text=True,
                env=env_for(self.kind),
                cwd=workdir,
                timeout=self.timeout,
            )
            out, err, rc = cp.stdout, cp.stderr, cp.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err, rc = f"timed out after {self.timeout} s", -1
        wall = time.perf_counter() - t0
        res = parse_result(out)
        if res is None or rc != 0:
            tail = (err or out).strip().splitlines()[-12:]
            res = {"error": f"exit {rc}: " + " | ".join(tail)[-1500:]}
            self.failed = True
        res["wall_s"] = wall
        self.results.append(res)
        log(f"  {self.key:<34} {wall:7.1f} s  {summary(res)}")
        return res

    def median(self) -> dict:
        ok = [r for r in self.results if "error" not in r]
        if not ok:
            return dict(self.results[-1]) if self.results else {"error": "not run"}
        med = dict(ok[-1])
        for k in ok[-1]:
            vals = [r.get(k) for r in ok]
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals):
                med[k] = statistics.median(vals)
        med["repetitions"] = len(ok)
        return med


def summary(res: dict) -> str:
    if "error" in res:
        return "ERROR " + res["error"][:300]
    if "skipped" in res:
        return "skipped: " + res["skipped"][:200]
    keys = (
        "us_per_call_total",
        "ingest_s",
        "reindex_s",
        "query_metrics_all_loss_s",
        "surviving_points",
        "all_clean_prefix",
        "resume",
        "staleness_points_median",
        "polls_nothing_visible",
        "errors",
    )
    bits = []
    for k in keys:
        if res.get(k) is not None:
            v = res[k]
            bits.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(bits)


# ---------------------------------------------------------------------------------------------
# workloads: the measurements each one runs
# ---------------------------------------------------------------------------------------------
PEER_LABEL = {
    "aimcol": "aimcol",
    "aim": "Aim 3.29.1",
    "mlflow": "MLflow 3.17.2",
    "trackio": "trackio",
    "tensorboard": "TensorBoard (tensorboardX + tbparse)",
}


def workload_cmd(impl: str, workload: str, *args) -> list:
    """``python benchmarks/workloads/<workload>.py ... --impl <impl>`` with the tool's own
    interpreter: the project's for aimcol, the peer's venv for a peer. The same script for every tool."""
    py = sys.executable if impl == "aimcol" else peer_python(impl)
    return [py, WORKLOADS_DIR / f"{workload}.py", *args, "--impl", impl]


def kind_of(impl: str) -> str:
    return "aimcol" if impl == "aimcol" else "peer"


def w1_specs(c: dict, scratch: Path, peers: list[str]) -> list[Spec]:
    s = c["w1_steps"]
    specs = [
        Spec(
            f"w1/aimcol/{variant}",
            "aimcol" if variant != "floor" else "python",
            label,
            workload_cmd(
                "aimcol", "w1", "--repo", scratch / f"w1-aimcol-{variant}", "--steps", s, "--variant", variant
            ),
            "aimcol",
        )
        for variant, label in (
            ("track", "aimcol `run.track(v, name, step, context={...})`"),
            ("track_pure", "aimcol `run.track(...)`, pure-Python fallback (`AIMCOL_PURE_PYTHON=1`)"),
            ("track_array", "aimcol `run.track_array` (bulk NumPy, per point)"),
            ("floor", "plain Python: the same loop, do-nothing `track()`"),
        )
    ]
    specs[-1].key = "w1/python/floor"
    if "aim" in peers:
        a = c["w1_aim_steps"]
        specs.append(
            Spec(
                "w1/aim/track",
                "aim",
                "Aim 3.29.1 `run.track(v, name, step, context={...})`",
                workload_cmd("aim", "w1", "--repo", scratch / "w1-aim", "--steps", a),
                "peer",
                note=f"{a:,} steps ({a * 20:,} calls); Aim's per-call cost grows with the run",
            )
        )
    if "mlflow" in peers:
        for store, api, steps in (
            ("sqlite", "log_metric", c["w1_mlflow_sqlite_metric_steps"]),
            ("file", "log_metric", c["w1_mlflow_file_metric_steps"]),
            ("sqlite", "log_batch", c["w1_mlflow_batch_steps"]),
            ("file", "log_batch", c["w1_mlflow_batch_steps"]),
        ):
            label = f"MLflow {store} store `{'client.log_metric' if api == 'log_metric' else 'log_batch(1000)'}`"
            note = f"{steps * 20:,} points"
            if api == "log_metric":
                note += ", per-call cost extrapolated to 1,000,000"
            specs.append(
                Spec(
                    f"w1/mlflow/{store}/{api}",
                    "mlflow",
                    label,
                    workload_cmd(
                        "mlflow",
                        "w1",
                        "--repo",
                        scratch / f"w1-mlflow-{store}-{api}",
                        "--store",
                        store,
                        "--api",
                        api,
                        "--steps",
                        steps,
                    ),
                    "peer",
                    note=note,
                )
            )
    for impl, label in (
        ("trackio", "trackio `trackio.log({key: v}, step)`"),
        ("tensorboard", "tensorboardX `add_scalar(key, v, step)`"),
    ):
        if impl in peers:
            steps = c[f"w1_{impl}_steps"]
            specs.append(
                Spec(
                    f"w1/{impl}/track",
                    impl,
                    label,
                    workload_cmd(impl, "w1", "--repo", scratch / f"w1-{impl}", "--steps", steps),
                    "peer",
                    note=f"{steps * 20:,} points",
                )
            )
    return specs


def run_w1(c, scratch, peers, log) -> dict:
    specs = w1_specs(c, scratch, peers)
    alternate(specs, c["repeat"], scratch, log)
    return {s.key: s for s in specs}


W2_PEERS = ("aim", "mlflow", "trackio", "tensorboard")


def run_w2(c, scratch, peers, log) -> dict:
    n = c["w2_runs"]
    impls = ["aimcol"] + [p for p in W2_PEERS if p in peers]
    steps = {impl: c["w2_steps"] if impl == "aimcol" else c[f"w2_{impl}_steps"] for impl in impls}
    base = {impl: ["--repo", scratch / f"w2-{impl}", "--runs", n, "--steps", steps[impl]] for impl in impls}
    specs: dict[str, Spec] = {}
    for impl in impls:
        specs[f"w2/{impl}/ingest"] = Spec(
            f"w2/{impl}/ingest",
            impl,
            PEER_LABEL[impl],
            workload_cmd(impl, "w2", "ingest", *base[impl]),
            kind_of(impl),
            repeat=False,
            timeout=3600,
        )
    if "aim" in impls:
        specs["w2/aim/query_before_reindex"] = Spec(
            "w2/aim/query_before_reindex",
            "aim",
            "Aim 3.29.1, before a reindex",
            workload_cmd("aim", "w2", "query", *base["aim"]),
            "peer",
            repeat=False,
        )
        specs["w2/aim/reindex"] = Spec(
            "w2/aim/reindex",
            "aim",
            "Aim 3.29.1",
            workload_cmd("aim", "w2", "reindex", *base["aim"]),
            "peer",
            repeat=False,
        )
    log("W2 ingest (peers at smaller step counts, see the table)")
    for spec in specs.values():
        spec.run(scratch, log)
    queries = [
        Spec(
            f"w2/{impl}/query",
            impl,
            PEER_LABEL[impl],
            workload_cmd(impl, "w2", "query", *base[impl]),
            kind_of(impl),
        )
        for impl in impls
    ]
    log("W2 queries, each in a new process")
    alternate(queries, c["repeat"], scratch, log)
    for q in queries:
        specs[q.key] = q
    return specs


def _two_sided(c, scratch, peers, workload: str, ours: list, theirs: list, timeout: float = 900) -> dict:
    """aimcol's and (if asked) Aim's run of one workload script, one measurement each."""
    specs = {
        f"{workload}/aimcol": Spec(
            f"{workload}/aimcol",
            "aimcol",
            "aimcol",
            workload_cmd("aimcol", workload, *ours),
            "aimcol",
            repeat=False,
        )
    }
    if "aim" in peers:
        specs[f"{workload}/aim"] = Spec(
            f"{workload}/aim",
            "aim",
            "Aim 3.29.1",
            workload_cmd("aim", workload, *theirs),
            "peer",
            repeat=False,
            timeout=timeout,
        )
    return specs


def run_w3(c, scratch, peers, log) -> dict:
    w = c["w3_writers"]
    specs = _two_sided(
        c,
        scratch,
        peers,
        "w3",
        ["run", "--repo", scratch / "w3-aimcol", "--writers", w, "--steps", c["w3_steps"]],
        ["run", "--repo", scratch / "w3-aim", "--writers", w, "--steps", c["w3_aim_steps"]],
        timeout=3600,
    )
    log("W3 concurrent writers + a reader")
    for s in specs.values():
        s.run(scratch, log)
    return specs


def run_w4(c, scratch, peers, log) -> dict:
    specs = _two_sided(
        c,
        scratch,
        peers,
        "w4",
        ["run", "--repo", scratch / "w4-aimcol", "--kills", c["w4_kills"], "--flush-points", c["w4_flush_points"]],
        ["run", "--repo", scratch / "w4-aim", "--kills", c["w4_aim_kills"], "--max-delay", 3.0],
        timeout=3600,
    )
    log("W4 crash (kill -9)")
    for s in specs.values():
        s.run(scratch, log)
    return specs


def run_w5(c, scratch, peers, log) -> dict:
    secs = c["w5_seconds"]
    specs = _two_sided(
        c,
        scratch,
        peers,
        "w5",
        ["run", "--repo", scratch / "w5-aimcol", "--seconds", secs],
        ["run", "--repo", scratch / "w5-aim", "--seconds", secs],
    )
    specs["w5/aimcol"].label = "aimcol (default flush)"
    log("W5 live read")
    for s in specs.values():
        s.run(scratch, log)
    return specs


def run_w7(c, scratch, peers, log) -> dict:
    n = c["w7_points"]
    ours, bulk = scratch / "w7-aimcol", scratch / "w7-aimcol-bulk"
    ingest = [
        Spec(
            "w7/aimcol/track",
            "aimcol",
            "aimcol `run.track(v, name, step)`",
            workload_cmd("aimcol", "w7", "ingest", "--repo", ours, "--points", n),
            "aimcol",
        ),
        Spec(
            "w7/aimcol/track_array",
            "aimcol",
            "aimcol `run.track_array` (1M-point chunks)",
            workload_cmd("aimcol", "w7", "ingest", "--variant", "track_array", "--repo", bulk, "--points", n),
            "aimcol",
        ),
    ]
    reads = [
        Spec(
            "w7/aimcol/read",
            "aimcol",
            "aimcol",
            workload_cmd("aimcol", "w7", "read", "--repo", ours, "--points", n),
            "aimcol",
        )
    ]
    if "aim" in peers:
        a = c["w7_aim_points"]
        theirs = scratch / "w7-aim"
        ingest.append(
            Spec(
                "w7/aim/track",
                "aim",
                "Aim 3.29.1 `run.track(v, name, step)`",
                workload_cmd("aim", "w7", "ingest", "--repo", theirs, "--points", a),
                "peer",
                repeat=False,
                timeout=3600,
                note=f"{a:,} points",
            )
        )
        reads.append(
            Spec(
                "w7/aim/read",
                "aim",
                "Aim 3.29.1",
                workload_cmd("aim", "w7", "read", "--repo", theirs, "--points", a),
                "peer",
                note=f"{a:,} points",
            )
        )
    log("W7 ingest (the last repetition's repositories are read next)")
    alternate([s for s in ingest if s.repeat], c["repeat"], scratch, log)
    for s in ingest:
        if not s.repeat:
            s.run(scratch, log)
    log("W7 read back, each in a new process")
    alternate(reads, c["repeat"], scratch, log)
    return {s.key: s for s in ingest + reads}


def alternate(specs: list[Spec], repeat: int, scratch: Path, log) -> None:
    """Repetition r runs every spec once, in order (reversed on odd r), so drift hits all."""
    for r in range(repeat):
        log(f"repetition {r + 1}/{repeat}")
        order = specs if r % 2 == 0 else list(reversed(specs))
        for s in order:
            if s.failed:
                log(f"  {s.key:<34} skipped (failed before)")
                continue
            s.run(scratch, log)


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------
def fmt(v, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 999.5:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def ratio(peer, ours) -> str:
    if not isinstance(peer, (int, float)) or not isinstance(ours, (int, float)) or not ours:
        return "—"
    r = peer / ours
    return f"{r:,.0f}×" if r >= 100 else f"{r:.2g}×" if r < 10 else f"{r:.1f}×"


def table_w1(specs: dict) -> tuple[str, list[str], list[list[str]], list[str]]:
    base = specs["w1/aimcol/track"].median() if "w1/aimcol/track" in specs else {}
    head = [
        "tool, API",
        "points measured",
        "µs/call loop",
        "µs/call loop+close",
        "× aimcol",
        "bytes/point",
        "× aimcol",
        "peak RSS MB",
        "× aimcol",
        "note",
    ]
    rows = []
    for s in specs.values():
        m = s.median()
        if "error" in m:
            rows.append([s.label, "—", "—", "—", "—", "—", "—", "—", "—", "FAILED: " + m["error"][:120]])
            continue
        ours = s.key == "w1/aimcol/track"
        rows.append(
            [
                s.label,
                fmt(m.get("points")),
                fmt(m.get("us_per_call_loop")),
                fmt(m.get("us_per_call_total")),
                "1" if ours else ratio(m.get("us_per_call_total"), base.get("us_per_call_total")),
                fmt(m.get("bytes_per_point")),
                "1" if ours else ratio(m.get("bytes_per_point"), base.get("bytes_per_point")),
                fmt(m.get("peak_rss_mb")),
                "1" if ours else ratio(m.get("peak_rss_mb"), base.get("peak_rss_mb")),
                "; ".join(x for x in (s.note, f"{m['repetitions']} reps" if m.get("repetitions", 1) > 1 else "") if x),
            ]
        )
    notes = [
        "µs per call = seconds for W1's 1,000,000 calls. Median of the repetitions; × = peer / aimcol "
        "`track()`. bytes/point = growth of the store's folder over the points written (apparent size).",
        "Peers run fewer points where noted (Aim's per-call cost grows with the run: expect the full "
        "1,000,000-call run to cost more per call than measured).",
    ]
    return "W1 ingest: one run, 10 names × 2 contexts", head, rows, notes


def table_w2(specs: dict, c: dict) -> tuple[str, list[str], list[list[str]], list[str]]:
    def m(key):
        return specs[key].median() if key in specs else {}

    impls = [i for i in ("aimcol", *W2_PEERS) if f"w2/{i}/ingest" in specs]
    ingest = {i: m(f"w2/{i}/ingest") for i in impls}
    query = {i: m(f"w2/{i}/query") for i in impls}
    head = ["measure"] + [PEER_LABEL[i] for i in impls]
    rows: list[list[str]] = []

    def cell(impl, v, r):
        if v is None:
            return "—"
        if not r or impl == "aimcol":
            return fmt(v)
        base = r(impls[0])
        return f"{fmt(v)} ({ratio(v, base)})" if base else fmt(v)

    def row(label, get, r=True):
        rows.append([label] + [cell(i, get(i), get if r else None) for i in impls])

    def per_point(q, key_s, key_n):
        if q.get(key_s) is None or not q.get(key_n):
            return None
        return q[key_s] / q[key_n] * 1e6

    rows.append(
        ["shape (runs × 4 sequences × steps)"] + [f"{c['w2_runs']} × 4 × {ingest[i].get('steps', 0):,}" for i in impls]
    )
    row("ingest, µs per point (incl. creating runs)", lambda i: ingest[i].get("us_per_point"))
    row("bytes on disk per point", lambda i: ingest[i].get("bytes_per_point"))
    row("peak RSS while ingesting, MB", lambda i: ingest[i].get("peak_rss_mb"))
    reindex = m("w2/aim/reindex")
    before = m("w2/aim/query_before_reindex")
    rows.append(
        ["reindex needed before queries see runs, s"]
        + [fmt(reindex.get("reindex_s")) if i == "aim" else "not needed" for i in impls]
    )
    if before:
        rows.append(
            ["runs with batch_size > 32 seen before a reindex"]
            + [
                f"{fmt(before.get('runs_batch_gt_32'))} of {fmt(before.get('expected', {}).get('runs_batch_gt_32'))}"
                if i == "aim"
                else "—"
                for i in impls
            ]
        )
    row("new process: import, s", lambda i: query[i].get("import_s"))
    row("select runs with batch_size > 32, s", lambda i: query[i].get("query_runs_s"))
    row("  runs found", lambda i: query[i].get("runs_batch_gt_32"), r=False)
    row(
        "selective: their loss/train + values as NumPy, s", lambda i: query[i].get("query_metrics_selective_s"), r=False
    )
    rows.append(
        ["  sequences / points"]
        + [f"{fmt(query[i].get('selective_sequences'))} / {fmt(query[i].get('selective_points'))}" for i in impls]
    )
    row("  µs per point fetched", lambda i: per_point(query[i], "query_metrics_selective_s", "selective_points"))
    row("every `loss` + values as NumPy, s", lambda i: query[i].get("query_metrics_all_loss_s"), r=False)
    rows.append(
        ["  sequences / points"]
        + [f"{fmt(query[i].get('all_loss_sequences'))} / {fmt(query[i].get('all_loss_points'))}" for i in impls]
    )
    row("  µs per point fetched", lambda i: per_point(query[i], "query_metrics_all_loss_s", "all_loss_points"))
    row("results as expected", lambda i: query[i].get("correct"), r=False)
    row("peak RSS of the query process, MB", lambda i: query[i].get("peak_rss_mb"))
    for i in impls:
        for d, what in ((ingest[i], "ingest"), (query[i], "query")):
            if d.get("error"):
                rows.append([f"FAILED ({PEER_LABEL[i]} {what})", d["error"][:200]] + [""] * (len(impls) - 1))
    notes = [
        "(×) = tool / aimcol in the same run. Peers ingest fewer steps per run where the shape says so: compare "
        "ingest and fetch per point. Query times are medians of the repetitions, each in a new process. "
        "aimcol and Aim select with AimQL; MLflow with its filter string (`params.batch_size = '64'`, one search "
        "per admitted value: params are strings, with no `>` or `OR`) and `get_metric_history`; trackio (its SQLite storage API) and TensorBoard (tbparse, "
        "HParams plugin) have no query language: the reader reads the run configs and filters in Python. "
        "MLflow writes W2 with `log_batch` (1,000 points a call)."
    ]
    return "W2 many runs: ingest, then queries in a new process", head, rows, notes


def table_w4(specs: dict) -> tuple[str, list[str], list[list[str]], list[str]]:
    o = specs["w4/aimcol"].median() if "w4/aimcol" in specs else {}
    a = specs["w4/aim"].median() if "w4/aim" in specs else {}
    head = ["measure", "aimcol", "Aim 3.29.1" if a else "Aim (not run)"]

    def both(label, f):
        return [label, f(o) if o else "—", f(a) if a else "—"]

    rows = [
        both(
            "kill -9s (one run, resumed after each)",
            lambda d: f"{fmt(d.get('kills'))} ({fmt(d.get('early_kills'))} during start-up/recovery)",
        ),
        both(
            "flush",
            lambda d: (
                f"every {fmt(d.get('flush_points'))} points or 1 s" if d.get("flush_points") else "the tool's own"
            ),
        ),
        both(
            "reindex before each check (as its user would), median s",
            lambda d: fmt(d.get("reindex_s_median")) if d.get("reindex_s_median") else "not needed",
        ),
        both("repository opens after every kill", lambda d: fmt(d.get("repo_opens"))),
        both("writers that died on their own before the kill", lambda d: fmt(d.get("writers_died"))),
        both("every sequence a clean prefix (steps 0..k, values as tracked)", lambda d: fmt(d.get("all_clean_prefix"))),
        both(
            "  checks with a sequence that is not",
            lambda d: f"{fmt(d.get('not_clean_prefix'))} of {fmt(d.get('checks'))}",
        ),
        both("checks that found the run still 'active'", lambda d: fmt(d.get("still_active_after_kill"))),
        both(
            "points tracked / surviving", lambda d: f"{fmt(d.get('tracked_points'))} / {fmt(d.get('surviving_points'))}"
        ),
        both("most points lost by one kill", lambda d: fmt(d.get("lost_points_max"))),
        both("  = ms of tracking", lambda d: fmt(d.get("lost_ms_max"))),
        both(
            "final resume works",
            lambda d: fmt(d.get("resume")) + (" (force_resume needed)" if d.get("force_resume_needed") else ""),
        ),
        both("resume continues at last step + 1", lambda d: fmt(d.get("resume_continues_at_last_step_plus_1"))),
        both(
            "inactive with an end_time after a clean close",
            lambda d: fmt(d.get("active_after_close") is False and d.get("end_time_after_close")),
        ),
    ]
    for side, d in (("aimcol", o), ("Aim", a)):
        if d.get("check_failures"):
            rows.append([f"check failures, {side} (kill: what)", json.dumps(d["check_failures"])[:300], ""])
        if d.get("error") or d.get("final_check_error"):
            rows.append([f"errors, {side}", str(d.get("error") or d.get("final_check_error"))[:200], ""])
    notes = [
        "The same protocol for both tools (benchmarks/workloads/w4.py). Lost points are exact to ±1 (a kill can "
        "land between a flush and the writer's progress update). A sequence that is not a clean prefix has a step "
        "missing or a value that is not the one tracked at that step; results/latest.json has the first bad point."
    ]
    return "W4 crash: kill -9 a writer at random moments", head, rows, notes


def table_w5(specs: dict) -> tuple[str, list[str], list[list[str]], list[str]]:
    o = specs["w5/aimcol"].median() if "w5/aimcol" in specs else {}
    a = specs["w5/aim"].median() if "w5/aim" in specs else {}
    head = ["measure", "aimcol", "Aim 3.29.1" if a else "Aim (not run)"]
    rows = [
        ["writer rate reached, points/s", fmt(o.get("writer_rate_reached")), fmt(a.get("writer_rate_reached"))],
        [
            "writer flush",
            f"{fmt(o.get('flush_points'))} points or {fmt(o.get('flush_seconds'))} s" if o else "—",
            "Aim's own" if a else "—",
        ],
        ["polls (every 100 ms, fresh Repo each time)", fmt(o.get("polls")), fmt(a.get("polls"))],
        ["polls that saw nothing", fmt(o.get("polls_nothing_visible")), fmt(a.get("polls_nothing_visible"))],
        [
            "  run not found / run without points",
            f"{fmt(o.get('polls_run_not_found'))} / {fmt(o.get('polls_run_without_points'))}" if o else "—",
            f"{fmt(a.get('polls_run_not_found'))} / {fmt(a.get('polls_run_without_points'))}" if a else "—",
        ],
        ["reader errors", fmt(o.get("errors")), fmt(a.get("errors"))],
        [
            "staleness median / p95 / max, points (≈ ms)",
            " / ".join(
                fmt(o.get(k)) for k in ("staleness_points_median", "staleness_points_p95", "staleness_points_max")
            ),
            " / ".join(
                fmt(a.get(k)) for k in ("staleness_points_median", "staleness_points_p95", "staleness_points_max")
            ),
        ],
        [
            "poll latency median / p95, ms",
            " / ".join(fmt((o.get(k) or 0) * 1e3) for k in ("poll_s_median", "poll_s_p95")) if o else "—",
            " / ".join(fmt((a.get(k) or 0) * 1e3) for k in ("poll_s_median", "poll_s_p95")) if a else "—",
        ],
    ]
    for side, d in (("aimcol", o), ("Aim", a)):
        if d.get("first_error"):
            rows.append([f"first reader error ({side})", d["first_error"][:200], ""])
        if d.get("error"):
            rows.append([f"failed ({side})", d["error"][:200], ""])
    return "W5 live read: writer at 1,000 points/s, reader every 100 ms", head, rows, []


def table_w3(specs: dict) -> tuple[str, list[str], list[list[str]], list[str]]:
    o = specs["w3/aimcol"].median() if "w3/aimcol" in specs else {}
    a = specs["w3/aim"].median() if "w3/aim" in specs else {}
    head = ["measure", "aimcol", "Aim 3.29.1" if a else "Aim (not run)", "Aim / aimcol"]
    rows = []

    def row(label, ov, av, r=False, inverse=False):
        q = "—"
        if r and av is not None:
            q = ratio(ov, av) if inverse else ratio(av, ov)
        rows.append([label, fmt(ov), fmt(av) if a else "—", q])

    def shape(m):
        return f"{m['writers']} × {m['steps']:,} steps × 20 sequences" if m.get("writers") else "—"

    rows.append(["writers × steps", shape(o), shape(a), "—"])
    row("points written in all", o.get("points"), a.get("points"))
    row("wall time until every writer closed, s", o.get("total_s"), a.get("total_s"))
    row("points per second, all writers together", o.get("points_per_s"), a.get("points_per_s"), r=True, inverse=True)
    rows.append(
        [
            "writer errors",
            fmt(len(o.get("writer_errors", []))) if o else "—",
            fmt(len(a.get("writer_errors", []))) if a else "—",
            "—",
        ]
    )
    row("reader queries while they wrote", o.get("reader_queries"), a.get("reader_queries"))
    row("reader errors", o.get("reader_errors"), a.get("reader_errors"))
    row(
        "most `loss` points a reader query saw",
        o.get("reader_most_loss_points_seen"),
        a.get("reader_most_loss_points_seen"),
    )
    row("reader query, median ms", o.get("reader_query_ms_median"), a.get("reader_query_ms_median"))
    rows.append(
        [
            "reindex before finished runs are readable, s",
            "not needed" if o else "—",
            fmt(a.get("reindex_s")) if a else "—",
            "—",
        ]
    )
    row(
        "points missing / wrong after the writers closed",
        f"{o.get('points_missing')} / {o.get('points_wrong')}" if o else None,
        f"{a.get('points_missing')} / {a.get('points_wrong')}" if a else None,
    )
    notes = [
        "Aim writes fewer steps per writer (its per-call cost would make W3's full shape take most of an hour): "
        "compare points per second. One run each; the reader is the parent process, polling back to back.",
    ]
    return "W3 concurrent writers: one repository, a reader querying while they write", head, rows, notes


def table_w7(specs: dict) -> tuple[str, list[str], list[list[str]], list[str]]:
    def m(key):
        return specs[key].median() if key in specs else {}

    ot, ob, orr = m("w7/aimcol/track"), m("w7/aimcol/track_array"), m("w7/aimcol/read")
    at, ar = m("w7/aim/track"), m("w7/aim/read")
    head = ["measure", "aimcol", "Aim 3.29.1" if at else "Aim (not run)", "Aim / aimcol"]
    rows = []

    def row(label, ov, av, r=True):
        rows.append([label, fmt(ov), fmt(av), ratio(av, ov) if r and av is not None else "—"])

    def ms(v):
        return None if v is None else v * 1e3

    row("points in the sequence", ot.get("points"), at.get("points"), r=False)
    row("`track()` ingest incl. close, µs per point", ot.get("us_per_point"), at.get("us_per_point"))
    row("`track_array` ingest incl. close, µs per point", ob.get("us_per_point"), None)
    row("bytes on disk per point", ot.get("bytes_per_point"), at.get("bytes_per_point"))
    row("peak RSS while tracking, MB", ot.get("peak_rss_mb"), at.get("peak_rss_mb"))
    rows.append(["reindex before a reader finds the run, s", "not needed", fmt(at.get("reindex_s")), "—"])
    row("new process: open the run, ms", ms(orr.get("open_s")), ms(ar.get("open_s")))
    row("steps + values as NumPy, ms", ms(orr.get("read_numpy_s")), ms(ar.get("read_numpy_s")), r=False)
    row("  ns per point", orr.get("read_numpy_ns_per_point"), ar.get("read_numpy_ns_per_point"))
    rows.append(["as an Arrow table, ms", fmt(ms(orr.get("read_arrow_s"))), "no Arrow output" if ar else "—", "—"])
    rows.append(
        [
            "down-sampled to a 160-column plot (min/max per column), ms",
            fmt(ms(orr.get("downsample_s"))),
            "no API (the web UI samples server-side)" if ar else "—",
            "—",
        ]
    )
    rows.append(["every point read back as tracked", fmt(orr.get("correct")), fmt(ar.get("correct")), "—"])
    notes = [
        "Aim tracks fewer points (its per-call cost would make 10,000,000 take about an hour): compare per "
        "point. Reads are medians of the repetitions, each in a new process; ingest medians for aimcol, one "
        "ingest for Aim.",
    ]
    return "W7 long sequence: one run, one sequence", head, rows, notes


def render_text(title, head, rows, notes) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    widths = [min(w, 72) for w in widths]
    out = [title, "=" * len(title)]
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append("  ".join(str(x)[:72].ljust(w) for x, w in zip(r, widths)))
    out += [f"  {n}" for n in notes]
    return "\n".join(out)


def render_markdown(title, head, rows, notes) -> str:
    esc = [str(h).replace("|", "\\|") for h in head]
    out = [f"### {title}", "", "| " + " | ".join(esc) + " |", "|" + "---|" * len(head)]
    for r in rows:
        out.append("| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |")
    if notes:
        out.append("")
        out += notes
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count()}
    try:
        info["loadavg_start"] = os.getloadavg()
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_total_kb"] = int(f.readline().split()[1])
    except OSError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default=",".join(ALL_WORKLOADS), help="comma-separated: w1,w2,w3,w4,w5,w7")
    ap.add_argument(
        "--peers", default=",".join(ALL_PEERS), help="comma-separated: aim,mlflow,trackio,tensorboard ('' for none)"
    )
    ap.add_argument("--repeat", type=int, help="repetitions of the repeated measurements (default 3, quick 1)")
    ap.add_argument("--steps", type=int, help="W1 steps for aimcol (default 50,000 = 1,000,000 calls)")
    ap.add_argument("--aim-steps", type=int, help="W1 steps for Aim (default 5,000; it takes ~0.5 ms a call)")
    ap.add_argument("--w2-runs", type=int, help="W2 runs (default 200)")
    ap.add_argument("--aim-w2-steps", type=int, help="W2 steps per run for Aim (default 250; 1,000 is ~5 min)")
    ap.add_argument("--quick", action="store_true", help="small sizes, one repetition: a smoke run")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--json", default=str(HERE / "results" / "latest.json"), help="where to write raw figures")
    ap.add_argument("--keep", action="store_true", help="keep the scratch repositories (benchmarks/.work/)")
    ap.add_argument("--render", metavar="JSON", help="run nothing: print the tables of a saved results JSON")
    args = ap.parse_args(argv)
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        print(render_all(saved, args.markdown))
        return 0

    workloads = [w.strip().lower() for w in args.workloads.split(",") if w.strip()]
    bad = [w for w in workloads if w not in ALL_WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {bad}; known: {', '.join(ALL_WORKLOADS)}")
    peers = [p.strip().lower() for p in args.peers.split(",") if p.strip()]
    badp = [p for p in peers if p not in ALL_PEERS]
    if badp:
        ap.error(f"unknown peer(s) {badp}; known: {', '.join(ALL_PEERS)}")
    c = build_config(args)
    command = "python benchmarks/run_benchmarks.py" + "".join(
        f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:])
    )

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    missing = [p for p in peers if peer_python(p) is None]
    for p in missing:
        log(f"peer {p}: no venv at {VENVS / p} (run `python benchmarks/make_peer_envs.py {p}`); skipped")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    scratch = HERE / ".work" / f"run-{stamp}"
    scratch.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    info = machine_info()
    log(f"scratch: {scratch}\nconfig: {json.dumps(c)}")
    t_all = time.perf_counter()
    done: dict[str, dict] = {}
    try:
        for w in workloads:
            t0 = time.perf_counter()
            log(f"\n=== {w.upper()} ===")
            if w == "w1":
                done[w] = run_w1(c, scratch, peers, log)
            elif w == "w2":
                done[w] = run_w2(c, scratch, peers, log)
            elif w == "w3":
                done[w] = run_w3(c, scratch, peers, log)
            elif w == "w4":
                done[w] = run_w4(c, scratch, peers, log)
            elif w == "w5":
                done[w] = run_w5(c, scratch, peers, log)
            elif w == "w7":
                done[w] = run_w7(c, scratch, peers, log)
            log(f"{w.upper()} took {time.perf_counter() - t0:.0f} s")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    total = time.perf_counter() - t_all
    try:
        info["loadavg_end"] = os.getloadavg()
    except OSError:
        pass

    out = {
        "command": command,
        "started": started,
        "total_s": total,
        "machine": info,
        "config": c,
        "peers": [p for p in peers if p not in missing],
        "peers_missing": missing,
        "workloads": {
            w: {
                key: {"tool": s.tool, "label": s.label, "note": s.note, "median": s.median(), "runs": s.results}
                for key, s in specs.items()
            }
            for w, specs in done.items()
        },
    }
    jpath = Path(args.json)
    jpath.parent.mkdir(parents=True, exist_ok=True)
    jpath.write_text(json.dumps(out, indent=1, default=str))
    log(f"\nraw figures: {jpath}  (total {total:.0f} s)")
    print(render_all(json.loads(json.dumps(out, default=str)), args.markdown))
    return 0


def render_all(saved: dict, markdown: bool) -> str:
    """The tables of a results JSON (as written by a run), as text or Markdown."""
    c = saved["config"]
    tables = []
    for w, entries in saved["workloads"].items():
        specs = {}
        for key, e in entries.items():
            spec = Spec(key, e["tool"], e["label"], [], "", note=e.get("note", ""))
            spec.results = e["runs"]
            specs[key] = spec
        if w == "w1":
            tables.append(table_w1(specs))
        elif w == "w2":
            tables.append(table_w2(specs, c))
        elif w == "w3":
            tables.append(table_w3(specs))
        elif w == "w4":
            tables.append(table_w4(specs))
        elif w == "w5":
            tables.append(table_w5(specs))
        elif w == "w7":
            tables.append(table_w7(specs))
    if not markdown:
        return "\n\n".join(render_text(*t) for t in tables)
    info = saved.get("machine", {})
    head = (
        f"Produced by `{saved['command']}` on {saved['started']}: {info.get('cpus')} CPUs "
        f"({info.get('cpu', '?')}), Python {info.get('python')}, load average at start "
        f"{fmt_load(info.get('loadavg_start'))}; {c['repeat']} repetition(s), medians. Peers: "
        f"{', '.join(saved.get('peers', [])) or 'none'}.\n\n"
    )
    return head + "\n\n".join(render_markdown(*t) for t in tables)


def fmt_load(load) -> str:
    return " ".join(f"{x:.1f}" for x in load) if load else "?"


if __name__ == "__main__":
    sys.exit(main())
