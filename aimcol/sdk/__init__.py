"""What users call: ``Run``, ``Repo``, ``Metric`` — Aim's ``aim.sdk`` layout, so Aim code runs with
``aim`` replaced by ``aimcol`` in its imports (``from aimcol.sdk import Run, Repo``,
``aimcol.sdk.run.Run``, ``aimcol.sdk.repo.Repo``, ``aimcol.sdk.types.QueryReportMode``).

Aim's media objects (``Image``, ``Audio``, ``Text``, ``Figure``, ``Distribution``) and
``TrainingFlow`` are not provided (see README, "Differences from Aim").
"""

from aimcol.sdk.repo import Repo
from aimcol.sdk.run import Run
from aimcol.sdk.sequence import Metric
from aimcol.sdk.types import QueryReportMode

__all__ = ["Metric", "QueryReportMode", "Repo", "Run"]
