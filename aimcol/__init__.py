"""aimcol: an Aim-compatible experiment tracker that stores runs in open Arrow IPC files.

from aimcol import Run, Repo
run = Run(experiment="resnet")
run["hparams"] = {"lr": 1e-3}
run.track(0.5, name="loss", step=0, context={"subset": "train"})
"""

from aimcol.errors import (
    AimcolError,
    AimQLSyntaxError,
    FormatError,
    FormatVersionError,
    MissingRunError,
    ReadOnlyRepoError,
    ReadOnlyRunError,
    RepoNotFoundError,
    RunLockedError,
)
from aimcol.sdk.objects import Audio, Distribution, Figure, Image, Text
from aimcol.sdk.repo import Repo
from aimcol.sdk.run import Run
from aimcol.sdk.sequence import Metric
from aimcol.sdk.types import QueryReportMode

__version__ = "0.1.0"

__all__ = [
    "Audio",
    "Distribution",
    "Figure",
    "Image",
    "Text",
    "AimQLSyntaxError",
    "AimcolError",
    "FormatError",
    "FormatVersionError",
    "Metric",
    "MissingRunError",
    "QueryReportMode",
    "ReadOnlyRepoError",
    "ReadOnlyRunError",
    "Repo",
    "RepoNotFoundError",
    "Run",
    "RunLockedError",
    "__version__",
]
