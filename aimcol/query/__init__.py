"""AimQL: Aim's query language, parsed safely and run as column operations over the run index.

    parse_query(text)            -> ParsedQuery   (raises AimQLSyntaxError, AimQLCostError)
    match_runs(parsed, snapshot) -> bool mask over the index's runs table
    match_sequences(parsed, snapshot) -> bool mask over its sequences table
    select_sequences(parsed, snapshot) -> the snapshot narrowed to the selected sequences,
        its sequences table read a record batch at a time (bounded memory)
    typo_hint(parsed, snapshot)  -> a "did you mean" line for a query that matched nothing

The modules, in the order a query meets them: ``tokens`` (the token pass before parsing),
``parser`` (whitelist check, builds an ``ir`` tree), ``values`` (what every operation means
for one row, and the cost bounds), ``engine`` (evaluates the tree over whole columns:
``leaves`` reads the index, ``kernels`` runs the operators on ``column.ValueColumn`` s),
``reference`` (evaluates it row by row: the slow twin the tests compare against) and
``hints`` (suggestions for likely typos).  This package imports ``aimcol.format`` and
``aimcol.errors`` only, never the SDK.
"""

from aimcol.query.engine import match_runs, match_sequences, select_sequences
from aimcol.query.ir import ParsedQuery
from aimcol.query.leaves import experiment_names
from aimcol.query.parser import parse_query
from aimcol.query.values import UNDEFINED


def __getattr__(name: str) -> object:
    # typo_hint is only needed for a query that matched nothing: not imported on the cold path
    if name == "typo_hint":
        from aimcol.query.hints import typo_hint

        return typo_hint
    raise AttributeError(f"module 'aimcol.query' has no attribute {name!r}")


__all__ = [
    "ParsedQuery",
    "UNDEFINED",
    "experiment_names",
    "match_runs",
    "match_sequences",
    "parse_query",
    "select_sequences",
    "typo_hint",
]
