"""No framework is a dependency: ``import aimcol`` loads none, and each adapter names what it needs."""

from __future__ import annotations

import subprocess
import sys

FRAMEWORKS = (
    "torch",
    "lightning",
    "pytorch_lightning",
    "transformers",
    "keras",
    "tensorflow",
    "xgboost",
    "lightgbm",
    "catboost",
    "optuna",
    "ignite",
    "fastai",
    "mlflow",
    "wandb",
    "aim",
    "tensorboard",
)
# (aimcol.catboost imports nothing of CatBoost: its logger is a stream CatBoost writes to)
ADAPTERS = (
    "pytorch_lightning",
    "hugging_face",
    "keras",
    "tensorflow",
    "xgboost",
    "lightgbm",
    "optuna",
    "pytorch_ignite",
    "fastai",
)


def test_import_aimcol_loads_no_framework():
    code = (
        "import sys, aimcol, aimcol.cli, aimcol.convert.importer, aimcol.convert.tensorboard\n"
        f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_missing_framework_is_an_import_error_naming_the_package():
    # hide every framework: an adapter module must fail with a message saying what to install
    code = (
        "import sys\n"
        f"for name in {FRAMEWORKS!r}: sys.modules[name] = None\n"
        "import importlib\n"
        "out = []\n"
        f"for adapter in {ADAPTERS!r}:\n"
        "    try:\n"
        "        importlib.import_module('aimcol.' + adapter)\n"
        "    except ImportError as exc:\n"
        "        out.append(f'{adapter}: {exc}')\n"
        "print('\\n'.join(out))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.strip().splitlines())
    assert set(lines) == set(ADAPTERS)
    assert "pip install lightning" in lines["pytorch_lightning"]
    assert "pip install transformers" in lines["hugging_face"]
    assert "pip install pytorch-ignite" in lines["pytorch_ignite"]
    for adapter, message in lines.items():
        assert "needs" in message and "pip install" in message, (adapter, message)
