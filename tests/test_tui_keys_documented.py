"""README's "Terminal UI" section lists every key of every screen (and of the widgets and
dialogs on it), so a new binding cannot ship undocumented: each key must appear as `key` in
the paragraph or table of its screen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("textual")

from aimcol.tui.app import AimcolApp  # noqa: E402
from aimcol.tui.components.runs_table import RunsTable  # noqa: E402
from aimcol.tui.screens.metrics import Legend, MetricsScreen  # noqa: E402
from aimcol.tui.screens.params import ParamsScreen  # noqa: E402
from aimcol.tui.screens.pickers import NotesEditor, ViewPicker  # noqa: E402
from aimcol.tui.screens.run_detail import RunDetailScreen  # noqa: E402
from aimcol.tui.screens.runs import RunsScreen  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"

SECTIONS_OF = {
    AimcolApp: ["Everywhere"],
    RunsScreen: ["Runs screen"],
    RunsTable: ["Runs screen", "Params view"],  # the params view draws on a RunsTable too
    ViewPicker: ["Runs screen"],
    MetricsScreen: ["Metrics screen"],
    Legend: ["Metrics screen"],
    RunDetailScreen: ["Run page"],
    NotesEditor: ["Run page"],
    ParamsScreen: ["Params view"],
}
KEY_TEXT = {
    "slash": "/",
    "question_mark": "?",
    "left": "←",
    "right": "→",
    "up": "↑",
    "down": "↓",
    "pageup": "pgup",
    "pagedown": "pgdn",
    "plus": "+",
    "equals_sign": "=",
    "minus": "-",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "left_curly_bracket": "{",
    "right_curly_bracket": "}",
}


def _sections() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    tui = text[text.index("## Terminal UI") :]
    tui = tui[: tui.index("\n## ", 1)]
    parts = re.split(r"^\*\*([^*]+)\*\*", tui, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


@pytest.mark.parametrize(
    ("owner", "section"),
    [(owner, section) for owner, sections in SECTIONS_OF.items() for section in sections],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_every_key_is_in_the_readme(owner, section):
    text = _sections()[section]
    missing = []
    for binding in owner.BINDINGS:
        for key in binding.key.split(","):
            shown = KEY_TEXT.get(key.strip(), key.strip())
            if f"`{shown}`" not in text:
                missing.append(f"{shown} ({binding.description or binding.action})")
    assert not missing, f"README's {section!r} lacks: {', '.join(missing)}"
