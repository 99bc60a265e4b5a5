"""The token pass before parsing: strip ``SELECT … IF``, turn a bare ``=`` into ``==``.

The seed writes ``metric.name = 'loss'``; Python (and Aim) reject it, AimQL reads it as
equality.  A ``=`` that names a keyword argument (``timedelta(days=1)``) is left alone.
The pass remembers what it changed so that error columns point into the text the user
typed (:class:`SourceMap`).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tokenize

_SELECT = re.compile(r"\s*select\b", re.IGNORECASE)
_IF = re.compile(r"\bif\b", re.IGNORECASE)

_NOT_CALLABLE_KEYWORDS = frozenset(
    {"and", "or", "not", "in", "is", "if", "else", "lambda", "for", "None", "True", "False"}
)


class SourceMap:
    """Maps positions in the rewritten expression back to the user's query text.

    (A plain class: ``@dataclass`` costs a millisecond at import, on every cold query.)
    """

    def __init__(self, original: str, start: int = 0) -> None:
        self.original = original
        self.start = start  # where the expression starts in the original (after SELECT … IF)
        self.inserted: list[int] = []  # offsets in the rewritten text of added chars
        self.rewritten = ""

    def to_original(self, line: int, col: int) -> tuple[int, int]:
        """(1-based line, 0-based char column) in ``rewritten`` → the same in ``original``."""
        starts = _line_starts(self.rewritten)
        line = min(max(line, 1), len(starts))
        offset = starts[line - 1] + max(col, 0)
        offset -= bisect_right(self.inserted, offset - 1) if self.inserted else 0
        offset = min(self.start + max(offset, 0), len(self.original))
        ostarts = _line_starts(self.original)
        oline = bisect_right(ostarts, offset)
        return oline, offset - ostarts[oline - 1]


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def strip_select(query: str) -> tuple[str, int]:
    """Aim's ``SELECT <anything> IF <expr>`` form: the expression and its offset in ``query``.

    ``SELECT …`` without ``IF`` selects everything (empty expression), as in Aim.
    """
    m = _SELECT.match(query)
    if not m:
        return query, 0
    rest = _IF.search(query, m.end())
    if rest is None:
        return "", len(query)
    return query[rest.end() :], rest.end()


class TokenPassError(Exception):
    def __init__(self, message: str, line: int, col: int):
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


def rewrite_equals(text: str, *, force: bool = False) -> tuple[str, list[int]]:
    """``a = b`` → ``a == b`` outside keyword arguments; also catches ``&&``, ``||``, ``!``.

    Returns the new text and the offsets (in the new text) of the inserted characters.
    Raises :class:`TokenPassError` for unbalanced brackets and C-style operators; leaves
    any other tokenizer problem to the parser, which reports it with a position.
    """
    plain = text.replace("==", "").replace("!=", "").replace("<=", "").replace(">=", "")
    if not force and "=" not in plain and "!" not in plain and "&&" not in text and "||" not in text:
        return text, []  # nothing to rewrite or refuse (and tokenize's first use costs ~10 ms)
    import io
    import tokenize  # imported here: only the queries that need the rewrite pay for it

    skipped = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    starts = _line_starts(text)
    inserts: list[int] = []  # offsets in ``text`` where "=" goes
    stack: list[bool] = []  # open brackets: is it a call's "("?
    prev: list[tokenize.TokenInfo] = []  # significant tokens so far
    # inside brackets the tokenizer ignores indentation and newlines, as the parser will
    wrapped = "(\n" + text + "\n)"
    tokens = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(wrapped).readline):
            tokens.append(tok)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # unbalanced brackets or an unterminated string: go on with the tokens read so far
    significant = [t for t in tokens if t.type not in skipped]
    for i, tok in enumerate(significant):
        line, col = tok.start[0] - 1, tok.start[1]  # position in ``text``
        final = i == len(significant) - 1
        s = tok.string
        if tok.type == tokenize.OP:
            if s in "([{":
                last = prev[-1] if prev else None
                is_call = (
                    s == "("
                    and last is not None
                    and (
                        (last.type == tokenize.NAME and last.string not in _NOT_CALLABLE_KEYWORDS)
                        or last.string in (")", "]")
                    )
                )
                stack.append(is_call)
            elif s in ")]}":
                if len(stack) <= 1 and not final:
                    raise TokenPassError(f"unmatched '{s}'", line, col)
                if stack:
                    stack.pop()
            elif s == "=":
                last = prev[-1] if prev else None
                before = prev[-2] if len(prev) > 1 else None
                keyword_arg = (
                    stack
                    and stack[-1]
                    and last is not None
                    and last.type == tokenize.NAME
                    and before is not None
                    and before.string in ("(", ",")
                )
                if not keyword_arg:
                    inserts.append(starts[line - 1] + col)
            elif s in ("&", "|") and prev and prev[-1].string == s and prev[-1].end == tok.start:
                word = "and" if s == "&" else "or"
                raise TokenPassError(f"'{s}{s}' is not AimQL: use '{word}'", line, col)
            elif s == "!":
                raise TokenPassError("'!' is not AimQL: use 'not' (or '!=' for inequality)", line, col)
        elif tok.type == tokenize.ERRORTOKEN and s == "!":
            raise TokenPassError("'!' is not AimQL: use 'not' (or '!=' for inequality)", line, col)
        prev.append(tok)
    if not inserts:
        return text, []
    out = []
    copied = 0
    new_offsets = []
    for n, offset in enumerate(inserts):
        out.append(text[copied:offset])
        out.append("=")
        new_offsets.append(offset + n)
        copied = offset
    out.append(text[copied:])
    return "".join(out), new_offsets
