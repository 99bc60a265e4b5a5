"""TensorBoard event files → runs, read without TensorFlow or the ``tensorboard`` package.

An event file is a TFRecord stream: per record a little-endian uint64 length, a uint32
masked CRC of it, the payload (an ``Event`` protobuf) and a uint32 CRC of the payload.  The
few protobuf fields a scalar needs are decoded here directly (``Event.wall_time`` 1,
``step`` 2, ``summary`` 5 → ``Value`` 1 → ``tag`` 1, ``simple_value`` 2, ``metadata`` 9,
``tensor`` 8), which is several times faster than going through ``tensorboard``'s
``EventAccumulator`` (``benchmarks/RESULTS.md``).  Scalars are both TF1/tensorboardX/PyTorch
``simple_value`` summaries and TF2 ``tf.summary.scalar`` tensors; other plugins (histograms,
images, text …) are counted in ``RunData.skipped``.  A truncated last record (a file still
being written) ends the file quietly.

Runs follow Aim's converter: each folder directly under LOGDIR is a run (LOGDIR itself if
its event files lie at the top); event files in sub-folders of a run (``run/train``,
``run/validation`` from Keras, ``run/loss_a`` from ``add_scalars``) give the context
``{"entry": "<sub-folder>"}``.  The run's creation and end times are the wall times of its
first and last events.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from aimcol.convert.source import RunData, Series, Source, SourceRun
from aimcol.errors import ImportSourceError

EVENT_FILE_MARK = "tfevents"
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")
_HEADER = struct.Struct("<QI")
# TensorProto dtypes a scalar can have, with their packed-field number and struct format
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64 = 1, 2, 3, 9
_CONTENT_FORMAT = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d", _DT_INT32: "<i", _DT_INT64: "<q"}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _skip(buf: bytes, pos: int, wire: int) -> int:
    if wire == 0:
        return _varint(buf, pos)[1]
    if wire == 1:
        return pos + 8
    if wire == 2:
        n, pos = _varint(buf, pos)
        return pos + n
    if wire == 5:
        return pos + 4
    raise ValueError(f"protobuf wire type {wire} not supported")


def iter_records(path: str):
    """Payloads of a TFRecord file; stops at a truncated tail record."""
    with open(path, "rb") as f:
        data = f.read()
    pos, end = 0, len(data)
    while pos + 12 <= end:
        length, _ = _HEADER.unpack_from(data, pos)
        start = pos + 12
        if start + length + 4 > end:
            return
        yield data[start : start + length]
        pos = start + length + 4


def _plugin_name(buf: bytes, pos: int, end: int) -> str:
    """``SummaryMetadata.plugin_data.plugin_name`` (field 1 → field 1)."""
    while pos < end:
        key, pos = _varint(buf, pos)
        if key == 0x0A:  # plugin_data
            n, pos = _varint(buf, pos)
            sub_end = pos + n
            while pos < sub_end:
                k2, pos = _varint(buf, pos)
                if k2 == 0x0A:
                    m, pos = _varint(buf, pos)
                    return buf[pos : pos + m].decode("utf-8", "replace")
                pos = _skip(buf, pos, k2 & 7)
            return ""
        pos = _skip(buf, pos, key & 7)
    return ""


def _tensor_scalar(buf: bytes, pos: int, end: int) -> float | None:
    """The single number of a ``TensorProto``, or ``None`` if it is not one real number."""
    dtype, content, packed, count = 0, None, None, 0
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 0:
            dtype, pos = _varint(buf, pos)
        elif field == 4 and wire == 2:
            n, pos = _varint(buf, pos)
            content = buf[pos : pos + n]
            pos += n
        elif field == 5 and wire == 2:  # float_val, packed
            n, pos = _varint(buf, pos)
            packed, count = ("<f", buf[pos : pos + n]), n // 4
            pos += n
        elif field == 5 and wire == 5:
            packed, count = ("<f", buf[pos : pos + 4]), 1
            pos += 4
        elif field == 6 and wire == 2:  # double_val, packed
            n, pos = _varint(buf, pos)
            packed, count = ("<d", buf[pos : pos + n]), n // 8
            pos += n
        elif field == 6 and wire == 1:
            packed, count = ("<d", buf[pos : pos + 8]), 1
            pos += 8
        elif field in (7, 10) and wire == 2:  # int_val / int64_val, packed varints
            n, pos = _varint(buf, pos)
            values, p = [], pos
            while p < pos + n:
                v, p = _varint(buf, p)
                values.append(v - (1 << 64) if v >= 1 << 63 else v)
            pos += n
            if len(values) == 1:
                return values[0]
            return None
        elif field in (7, 10) and wire == 0:
            v, pos = _varint(buf, pos)
            return v - (1 << 64) if v >= 1 << 63 else v
        else:
            pos = _skip(buf, pos, wire)
    if packed is not None and count == 1:
        return struct.unpack(packed[0], packed[1])[0]
    fmt = _CONTENT_FORMAT.get(dtype)
    if content is not None and fmt is not None and len(content) == struct.calcsize(fmt):
        return struct.unpack(fmt, content)[0]
    return None


class _Collector:
    """Points of one event file, per tag, in file order."""

    def __init__(self):
        self.series: dict[str, tuple[list, list, list]] = {}
        self.skipped: dict[str, int] = {}
        self.first_time: float | None = None
        self.last_time: float | None = None
        """Wall times of the file's first and last events (the run's creation and end)."""

    def add(self, tag: str, step: int, value, wall_time: float) -> None:
        cols = self.series.get(tag)
        if cols is None:
            cols = self.series[tag] = ([], [], [])
        cols[0].append(step)
        cols[1].append(value)
        cols[2].append(wall_time)

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1


def _read_value(buf: bytes, pos: int, end: int, step: int, wall_time: float, out: _Collector) -> None:
    tag, simple, tensor, plugin = None, None, None, ""
    other = None
    while pos < end:
        key, pos = _varint(buf, pos)
        if key == 0x0A:  # tag
            n, pos = _varint(buf, pos)
            tag = buf[pos : pos + n].decode("utf-8", "replace")
            pos += n
        elif key == 0x15:  # simple_value (float)
            simple = _FLOAT.unpack_from(buf, pos)[0]
            pos += 4
        elif key == 0x42:  # tensor
            n, pos = _varint(buf, pos)
            tensor = (pos, pos + n)
            pos += n
        elif key == 0x4A:  # metadata
            n, pos = _varint(buf, pos)
            plugin = _plugin_name(buf, pos, pos + n)
            pos += n
        else:
            field = key >> 3
            if field in (3, 4, 5, 6):  # old histogram, image, histo, audio
                other = {3: "histograms", 4: "images", 5: "histograms", 6: "audio"}[field]
            pos = _skip(buf, pos, key & 7)
    if tag is None:
        return
    if simple is not None:
        out.add(tag, step, simple, wall_time)
    elif tensor is not None and plugin in ("scalars", ""):
        value = _tensor_scalar(buf, tensor[0], tensor[1])
        if value is None:
            out.skip(plugin or "tensors")
        else:
            out.add(tag, step, value, wall_time)
    else:
        out.skip(plugin or other or "other")


def read_event_file(path: str) -> _Collector:
    """Scalars of one event file (``{tag: (steps, values, wall_times)}``) and counts of what was skipped."""
    out = _Collector()
    for rec in iter_records(path):
        pos, end = 0, len(rec)
        wall_time, step = 0.0, 0
        while pos < end:
            key, pos = _varint(rec, pos)
            if key == 0x09:  # wall_time (double)
                wall_time = _DOUBLE.unpack_from(rec, pos)[0]
                pos += 8
            elif key == 0x10:  # step
                step, pos = _varint(rec, pos)
                if step >= 1 << 63:
                    step -= 1 << 64
            elif key == 0x2A:  # summary
                n, pos = _varint(rec, pos)
                sub_end = pos + n
                while pos < sub_end:
                    k2, pos = _varint(rec, pos)
                    if k2 == 0x0A:  # Summary.value
                        m, pos = _varint(rec, pos)
                        _read_value(rec, pos, pos + m, step, wall_time, out)
                        pos += m
                    else:
                        pos = _skip(rec, pos, k2 & 7)
            else:
                pos = _skip(rec, pos, key & 7)
        if wall_time:
            out.first_time = wall_time if out.first_time is None else min(out.first_time, wall_time)
            out.last_time = wall_time if out.last_time is None else max(out.last_time, wall_time)
    return out


def find_runs(logdir: str) -> dict[str, list[str]]:
    """``{run folder: [event files under it]}`` by Aim's rule (module docstring)."""
    logdir = os.path.abspath(logdir)
    runs: dict[str, list[str]] = {}
    for root, dirs, files in os.walk(logdir):
        dirs.sort()
        for name in sorted(files):
            if EVENT_FILE_MARK not in name:
                continue
            rel = os.path.relpath(root, logdir)
            run_dir = logdir if rel == "." else os.path.join(logdir, rel.split(os.sep)[0])
            runs.setdefault(run_dir, []).append(os.path.join(root, name))
    return runs


class TensorBoardSource(Source):
    """Every run folder of a TensorBoard log dir (see the module docstring)."""

    kind = "tensorboard"

    def __init__(self, logdir: str, experiment: str | None = None):
        if not os.path.isdir(logdir):
            raise ImportSourceError(f"TensorBoard log dir {logdir!r} does not exist or is not a folder")
        self.logdir = os.path.realpath(logdir)
        self.experiment = experiment
        self._files = find_runs(self.logdir)

    def list_runs(self) -> list[SourceRun]:
        refs = []
        for run_dir, files in sorted(self._files.items()):
            rel = os.path.relpath(run_dir, self.logdir)
            name = os.path.basename(self.logdir) if rel == "." else rel
            refs.append(SourceRun(id=run_dir, name=name, size=sum(_size(f) for f in files)))
        return refs

    def read_run(self, ref: SourceRun) -> RunData:
        run_dir = ref.id
        grouped: dict[tuple[str, str | None], list[tuple[list, list, list]]] = {}
        data = RunData(name=ref.name, experiment=self.experiment, params={"tensorboard_logdir": run_dir})
        for path in self._files[run_dir]:
            entry = os.path.relpath(os.path.dirname(path), run_dir)
            collected = read_event_file(path)
            for kind, n in collected.skipped.items():
                data.skipped[kind] = data.skipped.get(kind, 0) + n
            if collected.first_time is not None:
                data.creation_time = min(data.creation_time or collected.first_time, collected.first_time)
                data.end_time = max(data.end_time or collected.last_time, collected.last_time)
            for tag, cols in collected.series.items():
                grouped.setdefault((tag, None if entry == "." else entry), []).append(cols)
        for (tag, entry), parts in grouped.items():
            steps = np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts])
            values = np.concatenate([np.asarray(p[1], dtype=np.float64) for p in parts])
            times = np.concatenate([np.asarray(p[2], dtype=np.float64) for p in parts])
            context = {} if entry is None else {"entry": entry}
            data.series.append(Series(tag, context, steps, values, times=times))
        return data


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
