"""Tracked objects beyond numbers, as Aim's ``aim.sdk.objects``: ``Image``, ``Text``,
``Distribution``, ``Audio``, ``Figure`` (``run.track(Image(array), name="samples")``)."""

from aimcol.sdk.objects.audio import Audio
from aimcol.sdk.objects.distribution import Distribution
from aimcol.sdk.objects.figure import Figure
from aimcol.sdk.objects.image import Image
from aimcol.sdk.objects.text import Text

__all__ = ["Audio", "Distribution", "Figure", "Image", "Text"]
