"""AimQL: Aim's query language, parsed safely and run as column operations over the run index.

    parse_query(text)            -> ParsedQuery   (raises AimQLSyntaxError)
    match_runs(parsed, snapshot) -> bool mask over the index's runs table
    match_sequences(parsed, snapshot) -> bool mask over its sequences table

``parser`` checks the query against a whitelist and builds an ``ir`` tree; ``values``
defines what every operation means for one row; ``compiler`` evaluates the tree over whole
columns; ``reference`` evaluates it row by row (the slow twin the tests compare against).
"""

from aimcol.query.compiler import match_runs, match_sequences
from aimcol.query.ir import ParsedQuery
from aimcol.query.parser import parse_query
from aimcol.query.values import UNDEFINED

compile_query = parse_query
"""Alias: a checked query is what the engines execute."""

__all__ = ["ParsedQuery", "UNDEFINED", "compile_query", "match_runs", "match_sequences", "parse_query"]
