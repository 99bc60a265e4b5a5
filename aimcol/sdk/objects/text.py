"""``aimcol.Text``: a string tracked per step (prompts, generations), as Aim's ``aim.Text``.

Texts are small: the string itself is the record (UTF-8 in msgpack), no blob.
"""

from __future__ import annotations

from aimcol.sdk.objects.media import MediaObject


class Text(MediaObject):
    """``Text(text)``; ``TypeError`` unless ``text`` is a ``str``."""

    aim_typename = "aim.text"
    AIM_NAME = "aim.text"

    def __init__(self, text: str):
        super().__init__()
        if not isinstance(text, str):
            raise TypeError("`text` must be a string.")
        self._meta["data"] = text

    @property
    def data(self) -> str:
        return self._meta["data"]

    def json(self) -> dict:
        return {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and other.data == self.data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return self.data
