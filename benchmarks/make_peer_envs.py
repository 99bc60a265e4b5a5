#!/usr/bin/env python3
"""Create the peer virtual environments used by ``run_benchmarks.py``.

Each peer gets its own venv under ``benchmarks/.venvs/<name>`` (git-ignored) so that
its dependencies never meet aimcol's. The script is idempotent: an env whose check
import already works is left alone.

    python benchmarks/make_peer_envs.py            # all peers
    python benchmarks/make_peer_envs.py aim        # only Aim
    python benchmarks/make_peer_envs.py --force mlflow   # rebuild one

Pinned versions (bump deliberately, and say so in the results):
  aim          aim==3.29.1     (the release the project is compatible with)
  mlflow       mlflow==3.17.2  (newest whose mlflow-skinny is served here; 3.18.0 needs an unpublished mlflow-skinny)
  trackio      trackio==0.43.0 (local SQLite mode; its dashboard is not started)
  tensorboard  tensorboardX==2.6.5 (writer) + tbparse==0.0.9 (reader) + tensorboard==2.21.0 (event parsing)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"

# name -> (pip requirements, python code that must run for the env to count as ready)
PEERS: dict[str, tuple[list[str], str]] = {
    "aim": (
        ["aim==3.29.1"],
        "from importlib.metadata import version as v; import aim; assert v('aim') == '3.29.1', v('aim')",
    ),
    "mlflow": (
        ["mlflow==3.17.2"],
        "from importlib.metadata import version as v; import mlflow; assert v('mlflow') == '3.17.2', v('mlflow')",
    ),
    "trackio": (
        ["trackio==0.43.0"],
        "from importlib.metadata import version as v; import trackio; assert v('trackio') == '0.43.0', v('trackio')",
    ),
    "tensorboard": (
        ["tensorboardX==2.6.5", "tbparse==0.0.9", "tensorboard==2.21.0"],
        "import tensorboardX, tbparse; from importlib.metadata import version as v; "
        "assert v('tensorboardX') == '2.6.5', v('tensorboardX')",
    ),
}


def env_python(name: str) -> Path:
    return VENVS / name / "bin" / "python"


def env_ready(name: str) -> bool:
    py = env_python(name)
    if not py.exists():
        return False
    check = PEERS[name][1]
    r = subprocess.run([str(py), "-c", check], capture_output=True, text=True)
    return r.returncode == 0


def pip_install(cmd: list[str], env: dict) -> int:
    """Run pip, passing its output through without the per-package notes about this machine's
    unused local index folders ("Location ... is ignored")."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("WARNING: Location ") and "is ignored" in line:
            continue
        sys.stdout.write(line)
    return proc.wait()


def build_env(name: str, force: bool = False) -> bool:
    reqs, _check = PEERS[name]
    target = VENVS / name
    if not force and env_ready(name):
        print(f"[{name}] ready, skipping ({target})")
        return True
    if target.exists():
        print(f"[{name}] removing incomplete env {target}")
        shutil.rmtree(target)
    t0 = time.time()
    print(f"[{name}] creating venv {target}")
    venv.EnvBuilder(with_pip=True, clear=True, symlinks=True).create(target)
    py = str(env_python(name))
    pip = [py, "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    print(f"[{name}] pip install {' '.join(reqs)}")
    if pip_install(pip + ["--upgrade", "pip", "wheel"], env) != 0:
        print(f"[{name}] could not upgrade pip (continuing with the bundled one)")
    rc = pip_install(pip + reqs, env)
    if rc != 0:
        print(f"[{name}] FAILED: pip install exited {rc}", file=sys.stderr)
        return False
    if not env_ready(name):
        print(f"[{name}] FAILED: installed, but the check import does not run", file=sys.stderr)
        subprocess.run([py, "-c", PEERS[name][1]])
        return False
    print(f"[{name}] ready in {time.time() - t0:.0f} s")
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("peers", nargs="*", help=f"which peers (default all: {', '.join(PEERS)})")
    ap.add_argument("--force", action="store_true", help="rebuild even if the env already works")
    args = ap.parse_args(argv)
    names = args.peers or list(PEERS)
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        ap.error(f"unknown peer(s): {', '.join(unknown)}; known: {', '.join(PEERS)}")
    VENVS.mkdir(parents=True, exist_ok=True)
    ok = True
    for n in names:
        ok = build_env(n, force=args.force) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
