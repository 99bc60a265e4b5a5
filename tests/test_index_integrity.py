"""The run index cache is checked before it is trusted (issue 9 #4).

``index/runs.aimcolidx`` is a cache of the manifests.  A damaged byte anywhere in it must
neither crash the process (it used to be memory-mapped and parsed as is: SIGBUS, SIGSEGV,
``UnicodeDecodeError``) nor change an answer: the file's CRC fails, the index is rebuilt
from the manifests with a warning, and ``aimcol repair`` rewrites it.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from damage_tools import aimcol_cli, closed_run, python

from aimcol import Repo
from aimcol.format.index_file import INDEX_FILE, IndexFileError, read_index_file
from aimcol.format.run_index import RunIndex

_FLIP_ALL = """
import json, os, shutil, sys, warnings
warnings.simplefilter("ignore")
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.run_index import RunIndex

def answer(layout):
    snap = RunIndex(layout).refresh()
    runs = snap.runs.select(["hash", "name", "experiment", "params", "creation_time", "end_time", "n_seq"])
    seqs = snap.seqs.select(["run", "seq_id", "name", "context", "count", "last", "last_step"])
    return runs.sort_by("hash").to_pylist(), seqs.sort_by([("run", "ascending"), ("seq_id", "ascending")]).to_pylist()

root, stride = sys.argv[1], int(sys.argv[2])
layout = RepoLayout(root)
path = os.path.join(layout.index_dir, "runs.aimcolidx")
pristine = open(path, "rb").read()
want = answer(layout)
counts = {"exact": 0, "wrong": 0, "error": 0}
for offset in range(0, len(pristine), stride):
    damaged = bytearray(pristine)
    damaged[offset] ^= 0xFF
    with open(path, "wb") as fh:
        fh.write(damaged)
    try:
        got = answer(layout)
    except Exception as exc:
        counts["error"] += 1
        print("ERROR", offset, type(exc).__name__, exc, file=sys.stderr)
        continue
    counts["exact" if got == want else "wrong"] += 1
print(json.dumps(counts))
"""


@pytest.fixture
def indexed(tmp_path):
    project = str(tmp_path / "project")
    for _ in range(3):
        closed_run(project, names=2, steps=20)
    repo = Repo(project)
    RunIndex(repo.layout).rebuild()
    return project, repo.layout


def test_no_flipped_byte_of_the_index_crashes_a_query_or_changes_its_answer(indexed):
    project, layout = indexed
    size = os.path.getsize(os.path.join(layout.index_dir, INDEX_FILE))
    proc = python(_FLIP_ALL, layout.root, str(max(1, size // 800)), timeout=600)
    assert proc.returncode == 0, f"the reading process died (rc {proc.returncode}): {proc.stderr[-2000:]}"
    counts = json.loads(proc.stdout)
    assert counts["wrong"] == 0 and counts["error"] == 0, (counts, proc.stderr[-2000:])


def test_a_damaged_index_is_rebuilt_with_a_warning(indexed):
    _, layout = indexed
    path = os.path.join(layout.index_dir, INDEX_FILE)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x10
    open(path, "wb").write(bytes(data))
    with pytest.raises(IndexFileError):
        read_index_file(layout)
    with pytest.warns(RuntimeWarning, match="damaged run index"):
        snap = RunIndex(layout).refresh()
        assert snap.n_seqs == 6  # the sequences part is read (and checked) when first needed
    assert snap.n_runs == 3
    read_index_file(layout)  # rewritten whole


@pytest.mark.parametrize("kind", ["directory", "fifo", "garbage"])
def test_repair_rebuilds_a_damaged_index(indexed, kind):
    project, layout = indexed
    path = os.path.join(layout.index_dir, INDEX_FILE)
    os.unlink(path)
    if kind == "directory":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        with open(path, "wb") as fh:
            fh.write(b"AIMCOLIX" + os.urandom(5000))
    code, out, err = aimcol_cli("runs", "ls", "--repo", project, timeout=60)
    assert code == 0 and len(out.splitlines()) == 4, out + err  # never a hang or a traceback
    code, out, err = aimcol_cli("repair", "--repo", project, timeout=60)
    assert code == 0 and "rebuilt the run index" in out, out + err
    assert stat.S_ISREG(os.lstat(path).st_mode)  # a folder or FIFO in the cache's place is removed
    runs, _ = read_index_file(layout)
    assert runs.num_rows == 3
    code, out, err = aimcol_cli("runs", "ls", "--repo", project, timeout=60)
    assert code == 0 and "damaged run index" not in err, err
