"""``syntax_error_check``: Aim's query syntax check, at Aim's import path ``aim.storage.query``."""

from __future__ import annotations

import ast
import re

from aimcol.errors import AimQLSyntaxError


def strip_query(query: str) -> str:
    """Drop Aim's legacy ``SELECT … IF`` prefix, as Aim does before checking."""
    stripped = query.strip()
    if stripped.lower().startswith("select"):
        parts = re.split("if", stripped, maxsplit=1, flags=re.IGNORECASE)
        stripped = parts[1] if len(parts) > 1 else ""
    return stripped


def syntax_error_check(expr: str) -> None:
    """Raise :class:`AimQLSyntaxError` (a ``SyntaxError``) if ``expr`` is not a Python expression.

    As Aim: the expression is parsed wrapped in parentheses, so ``offset`` counts the added
    ``(`` and ``text`` is the wrapped expression.  Only the syntax is checked (``ast.parse``,
    never evaluated); names and the AimQL whitelist are checked when the query runs.
    """
    if not expr:
        return
    wrapped = f"({strip_query(expr)})"
    try:
        ast.parse(wrapped, filename="<inline code>", mode="eval")
    except SyntaxError as exc:
        raise AimQLSyntaxError(exc.msg, wrapped, (exc.offset or 1) - 1, exc.lineno or 1) from None


__all__ = ["syntax_error_check", "strip_query"]
