"""``aimcol.Figure``: a Plotly figure stored as its JSON (matplotlib figures are converted
with plotly's ``mpl_to_plotly`` when plotly is installed), as Aim's ``aim.Figure``.

The JSON can be large, so it is a blob: listing figures never reads it.
"""

from __future__ import annotations

import logging

from aimcol.sdk.objects.media import MediaObject, has_type_name

logger = logging.getLogger(__name__)


def _plotly_version() -> str:
    try:
        from plotly.version import __version__
    except ImportError:
        return "unknown"
    return __version__


class Figure(MediaObject):
    """``Figure(plotly_or_matplotlib_figure)``; ``TypeError`` for anything else."""

    aim_typename = "aim.figure"
    AIM_NAME = "aim.figure"
    _meta_keys = ("source", "format", "version")

    def __init__(self, obj):
        super().__init__()
        if has_type_name(obj, "matplotlib", "Figure"):
            obj = _from_matplotlib(obj)
        elif not (has_type_name(obj, "plotly", "Figure") and callable(getattr(obj, "to_json", None))):
            raise TypeError("Object is not a Plotly Figure instance")
        self._blob = obj.to_json().encode("utf-8")
        self._meta.update(source="plotly", version=_plotly_version(), format="raw_json")

    @property
    def data(self) -> str:
        """The figure's Plotly JSON (read from the repository on first use)."""
        return self._blob_bytes().decode("utf-8")

    def to_plotly_figure(self):
        try:
            from plotly.io import from_json
        except ImportError:
            raise ImportError("Figure.to_plotly_figure() needs plotly: pip install 'aimcol[figures]'") from None
        return from_json(self.data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Figure) and self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Figure {self._meta.get('source')} {self._meta.get('format')}>"


def _from_matplotlib(fig):
    try:
        from plotly.tools import mpl_to_plotly
    except ImportError:
        raise ImportError(
            "tracking a matplotlib figure as aimcol.Figure needs plotly: pip install 'aimcol[figures]'"
        ) from None
    logger.warning('Tracking a matplotlib object using "Figure" might not behave as expected; consider "Image".')
    try:
        return mpl_to_plotly(fig)
    except ValueError as err:
        raise ValueError(f"Failed to convert matplotlib figure to plotly figure: {err}") from None
