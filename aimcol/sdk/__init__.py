"""What users call: ``Run``, ``Repo``, ``Metric`` — Aim's ``aim.sdk`` layout, so Aim code runs with
``aim`` replaced by ``aimcol`` in its imports (``from aimcol.sdk import Run, Repo``,
``aimcol.sdk.run.Run``, ``aimcol.sdk.repo.Repo``, ``aimcol.sdk.types.QueryReportMode``).

Aim's objects ``Image``, ``Audio``, ``Text``, ``Figure``, ``Distribution`` (``aimcol.sdk.objects``)
and their sequences ``Images``, ``Audios``, ``Texts``, ``Figures``, ``Distributions`` are here too;
``TrainingFlow`` is not provided (see README, "Differences from Aim").
"""

from aimcol.sdk.object_sequences import Audios, Distributions, Figures, Images, Texts
from aimcol.sdk.objects import Audio, Distribution, Figure, Image, Text
from aimcol.sdk.repo import Repo
from aimcol.sdk.run import Run
from aimcol.sdk.sequence import Metric
from aimcol.sdk.types import QueryReportMode

__all__ = [
    "Audio",
    "Audios",
    "Distribution",
    "Distributions",
    "Figure",
    "Figures",
    "Image",
    "Images",
    "Metric",
    "QueryReportMode",
    "Repo",
    "Run",
    "Text",
    "Texts",
]
