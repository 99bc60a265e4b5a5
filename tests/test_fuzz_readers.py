"""Fuzzing the four readers of repository files with damaged bytes (issue 9).

Each reader, given a real file with one damage (bytes flipped, a stretch zeroed as by a lost
sector, or the file cut short), returns exactly what was written or raises the typed error
its contract names.  Never a crash, another exception, or a wrong value:

- live segment: whole intact batches, in order (never raises);
- sealed segment: each sequence exactly, or ``FormatError`` (``ChecksumError``);
- manifest: the same map, or ``FormatError``;
- run index file: the same tables, or ``IndexFileError`` (the index then rebuilds).

Bounded for CI (and derandomised there by the ``ci`` profile in ``conftest.py``);
``benchmarks/fuzz_readers.py`` runs the same cases for longer, in child processes.
"""

from __future__ import annotations

import os

import fuzz_cases
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimcol.errors import FormatError

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def damage(size: int):
    """One damage to a file of ``size`` bytes (see :func:`aimcol.format.fuzz_cases.apply_damage`)."""
    return st.one_of(
        st.tuples(st.just("flip"), st.integers(0, size - 1), st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("zero"), st.integers(0, size - 1), st.integers(1, 512)),
        st.tuples(st.just("cut"), st.integers(0, size - 1), st.just(0)),
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return fuzz_cases.make_files(str(tmp_path_factory.mktemp("fuzz")))


@FUZZ
@given(data=st.data())
def test_live_reader_returns_whole_intact_batches_in_order(files, data):
    original = files.live_bytes
    bad = fuzz_cases.apply_damage(original, data.draw(damage(len(original))))
    assert fuzz_cases.check_live(files, bad) in ("exact", "error")


@FUZZ
@given(data=st.data())
def test_sealed_reader_is_exact_or_a_checksum_error(files, data, tmp_path):
    original = files.sealed_bytes
    bad = fuzz_cases.apply_damage(original, data.draw(damage(len(original))))
    assert fuzz_cases.check_sealed(files, bad, str(tmp_path)) in ("exact", "error")


@FUZZ
@given(data=st.data())
def test_manifest_reader_is_exact_or_a_format_error(files, data):
    original = files.manifest_bytes
    bad = fuzz_cases.apply_damage(original, data.draw(damage(len(original))))
    assert fuzz_cases.check_manifest(files, bad) in ("exact", "error")


@FUZZ
@given(data=st.data())
def test_index_reader_is_exact_or_an_index_error(files, data, tmp_path):
    original = files.index_bytes
    bad = fuzz_cases.apply_damage(original, data.draw(damage(len(original))))
    assert fuzz_cases.check_index(files, bad, str(tmp_path)) in ("exact", "error")


def test_the_cases_see_intact_files_as_exact(files, tmp_path):
    assert fuzz_cases.check_live(files, files.live_bytes) == "exact"
    assert fuzz_cases.check_sealed(files, files.sealed_bytes, str(tmp_path)) == "exact"
    assert fuzz_cases.check_manifest(files, files.manifest_bytes) == "exact"
    assert fuzz_cases.check_index(files, files.index_bytes, str(tmp_path)) == "exact"
    with pytest.raises(FormatError):
        fuzz_cases.read_sealed(files, files.sealed_bytes[:-1], os.path.join(str(tmp_path), "x"))
    assert isinstance(files.live_table, pa.Table) and np.all(files.live_table.column("seq").to_numpy() < 3)
