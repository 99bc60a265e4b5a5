"""Aim repository → runs: params, tags, experiment, description and every metric with its context.

Reading needs the ``aim`` package.  When this interpreter cannot import it (Aim pins old
dependencies, so it often lives in a virtualenv of its own), ``--aim-python PATH`` or
``$AIMCOL_AIM_PYTHON`` names an interpreter that can: ``aim_reader.py`` runs there and
streams the runs back as JSON lines.  Without either, the error says exactly that.  The run's
creation and end times are Aim's (a run Aim never ended has none).  Aim's own
hash is the source id (``run["imported_from"]["id"]``) and ``run["aim_run_hash"]``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess

import numpy as np

from aimcol.convert import aim_reader
from aimcol.convert.source import RunData, Series, Source, SourceRun
from aimcol.errors import ImportSourceError


def _runs_in_process(repo_path: str):
    return aim_reader.iter_runs(repo_path)


def _runs_in_subprocess(python: str, repo_path: str):
    # -I -c: neither this package's folder (whose aim.py would shadow the aim package) nor
    # the working directory is on that interpreter's sys.path
    with open(aim_reader.__file__, encoding="utf-8") as f:
        source = f.read()
    proc = subprocess.Popen(
        [python, "-I", "-c", source, repo_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.abspath(repo_path)) or None,
    )
    for line in proc.stdout:
        yield json.loads(line)
    err = proc.stderr.read()
    if proc.wait() != 0:
        last = err.strip().splitlines()[-1] if err.strip() else f"exit code {proc.returncode}"
        raise ImportSourceError(f"reading the Aim repository {repo_path!r} with {python} failed: {last}")


class AimSource(Source):
    """Every run of an Aim repository (the folder holding ``.aim``)."""

    kind = "aim"

    def __init__(self, repo_path: str, python: str | None = None):
        if (
            not os.path.isdir(os.path.join(repo_path, ".aim"))
            and os.path.basename(os.path.normpath(repo_path)) != ".aim"
        ):
            raise ImportSourceError(f"no Aim repository at {repo_path!r} (no .aim folder in it)")
        self.repo_path = os.path.abspath(repo_path)
        python = python or os.environ.get("AIMCOL_AIM_PYTHON")
        if python is None and importlib.util.find_spec("aim") is None:
            raise ImportSourceError(
                "aimcol convert aim needs the aim package: pip install aim, or point --aim-python "
                "(or $AIMCOL_AIM_PYTHON) at a Python interpreter that has it"
            )
        self.python = python
        self._data: dict[str, dict] = {}

    def list_runs(self) -> list[SourceRun]:
        items = _runs_in_subprocess(self.python, self.repo_path) if self.python else _runs_in_process(self.repo_path)
        refs = []
        for item in items:
            self._data[item["hash"]] = item
            refs.append(SourceRun(id=item["hash"], name=item.get("name") or item["hash"]))
        return refs

    def read_run(self, ref: SourceRun) -> RunData:
        item = self._data.pop(ref.id)
        if "error" in item:
            raise ImportSourceError(item["error"])
        data = RunData(
            name=item["name"],
            experiment=item["experiment"],
            description=item["description"] or None,
            params={**item["params"], "aim_run_hash": item["hash"]},
            tags=list(item["tags"]),
            creation_time=item.get("creation_time"),
            end_time=item.get("end_time"),
        )
        if data.end_time is None:  # still running or crashed in Aim: no end here either
            data.exit_status = None
        for m in item["metrics"]:
            n = len(m["steps"])
            epochs = None
            if m["epochs"] is not None and all(e is not None and e == e for e in m["epochs"]):
                epochs = np.asarray(m["epochs"], dtype=np.float64).astype(np.int64)
            times = np.asarray(m["times"] if m["times"] is not None else [np.nan] * n, dtype=np.float64)
            data.series.append(
                Series(
                    m["name"],
                    m["context"],
                    np.asarray(m["steps"], dtype=np.int64).reshape(n),
                    np.asarray(m["values"], dtype=np.float64).reshape(n),
                    epochs=epochs,
                    times=None if np.isnan(times).any() else times,
                )
            )
        return data
