"""TensorBoard event files → runs, read without TensorFlow or the ``tensorboard`` package.

An event file is a TFRecord stream: per record a little-endian uint64 length, a uint32
masked CRC of it, the payload (an ``Event`` protobuf) and a uint32 CRC of the payload.  The
few protobuf fields a scalar needs are decoded here directly (``Event.wall_time`` 1,
``step`` 2, ``summary`` 5 → ``Value`` 1 → ``tag`` 1, ``simple_value`` 2, ``metadata`` 9,
``tensor`` 8), which is several times faster than going through ``tensorboard``'s
``EventAccumulator`` (``benchmarks/RESULTS.md``).  Scalars are both TF1/tensorboardX/PyTorch
``simple_value`` summaries and TF2 ``tf.summary.scalar`` tensors.  Objects, at their event's
step and wall time:

- text (the ``text`` plugin's string tensor) → ``aimcol.Text`` (a list of them for a tensor
  of several strings);
- images (``Value.image``, and the ``images`` plugin's tensor of TF2's ``tf.summary.image``)
  → ``aimcol.Image`` holding the summary's encoded bytes as they are (a list for a batch);
- histograms, both ``Value.histo`` (``HistogramProto``) and the ``histograms`` plugin's
  ``[k, 3]`` tensor of (left, right, count) → ``aimcol.Distribution`` with TensorBoard's own
  bins: for a ``HistogramProto``, as TensorBoard reads it (``data_compat``), empty buckets at
  both ends dropped and ``min``/``max`` as the outer edges, but kept in float64;
- audio (``Value.audio``, and the ``audio`` plugin's tensor) → ``aimcol.Audio`` holding the
  encoded WAV/MP3/FLAC bytes (a list for a batch).

Other plugins (hparams, PR curves …), empty histograms
and histograms of more than ``Distribution``'s 512 filled bins are counted in ``RunData.skipped``.
A truncated last record (a file still being written) ends the file quietly.

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

from aimcol import Audio, Distribution, Image, Text
from aimcol.convert.source import ObjectPoint, RunData, Series, Source, SourceRun
from aimcol.errors import ImportSourceError
from aimcol.sdk.objects import wav
from aimcol.sdk.objects.distribution import MAX_BINS

EVENT_FILE_MARK = "tfevents"
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")
_HEADER = struct.Struct("<QI")
# TensorProto dtypes a scalar can have, with their packed-field number and struct format
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64 = 1, 2, 3, 9
_CONTENT_FORMAT = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d", _DT_INT32: "<i", _DT_INT64: "<q"}
# encoded formats by their first bytes, and audio formats by MIME type
_IMAGE_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpeg"), (b"GIF8", "gif"))
_AUDIO_MAGIC = ((b"RIFF", "wav"), (b"fLaC", "flac"), (b"ID3", "mp3"), (b"\xff\xfb", "mp3"))
_AUDIO_TYPES = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/flac": "flac"}
# ``Image.colorspace`` → PIL mode
_COLORSPACE_MODE = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


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
        self.objects: list[tuple[str, int, float, object]] = []
        """(tag, step, wall time, Text/Image/Distribution/Audio or a list of Texts), in file order."""
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

    def add_object(self, tag: str, step: int, value, wall_time: float) -> None:
        self.objects.append((tag, step, wall_time, value))

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1


def _read_value(buf: bytes, pos: int, end: int, step: int, wall_time: float, out: _Collector) -> None:
    tag, simple, tensor, plugin = None, None, None, ""
    other = None  # (field number, payload) of an image, histo or audio value
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
        elif key >> 3 in (3, 4, 5, 6) and key & 7 == 2:  # obsolete histogram, image, histo, audio
            n, pos = _varint(buf, pos)
            other = (key >> 3, buf[pos : pos + n])
            pos += n
        else:
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
    elif tensor is not None and plugin in _TENSOR_OBJECTS:
        _add_object(out, tag, step, wall_time, _TENSOR_OBJECTS[plugin](buf[tensor[0] : tensor[1]]), plugin)
    elif other is not None and other[0] in _VALUE_OBJECTS:
        kind, read = _VALUE_OBJECTS[other[0]]
        _add_object(out, tag, step, wall_time, read(other[1]), kind)
    else:
        out.skip(plugin or ("histograms" if other is not None else "other"))


def _add_object(out: _Collector, tag: str, step: int, wall_time: float, value, kind: str) -> None:
    """``value`` is the object, or the reason (a str) it is not imported, counted under ``kind``."""
    if isinstance(value, str):
        out.skip(f"{kind} ({value})")
    else:
        out.add_object(tag, step, value, wall_time)


# -- objects: a small protobuf reader for the messages that carry them -----------------------
def _fields(buf: bytes, pos: int = 0, end: int | None = None):
    """``(field number, wire type, value)`` of each field of a message: an int for a varint, the
    raw bytes otherwise (a length-delimited payload, or the 8 or 4 bytes of a fixed field)."""
    end = len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        else:
            size = {1: 8, 5: 4}.get(wire)
            if size is None:
                raise ValueError(f"protobuf wire type {wire} not supported")
            value, pos = buf[pos : pos + size], pos + size
        yield field, wire, value


def _doubles(parts: list[bytes]) -> np.ndarray:
    """A ``repeated double`` field from its occurrences (packed runs or single values)."""
    return np.frombuffer(b"".join(parts), dtype="<f8").astype(np.float64)


def _tensor(buf: bytes) -> tuple[int, list[int], list[bytes], bytes | None, list[tuple[str, bytes]]]:
    """``TensorProto``: dtype, shape, ``string_val``, ``tensor_content`` and the
    ``float_val``/``double_val`` payloads (as ``(NumPy dtype, bytes)`` pairs)."""
    dtype, shape, strings, content, numbers = 0, [], [], None, []
    for field, wire, value in _fields(buf):
        if field == 1 and wire == 0:
            dtype = value
        elif field == 2 and wire == 2:  # TensorShapeProto.dim → Dim.size
            for f2, w2, dim in _fields(value):
                if f2 == 2 and w2 == 2:
                    shape.append(next((v for f3, w3, v in _fields(dim) if f3 == 1 and w3 == 0), 0))
        elif field == 4 and wire == 2:
            content = value
        elif field in (5, 6):  # float_val, double_val (packed or single)
            numbers.append(("<f4" if field == 5 else "<f8", value))
        elif field == 8 and wire == 2:
            strings.append(value)
    return dtype, shape, strings, content, numbers


def _text(buf: bytes):
    strings = _tensor(buf)[2]
    if not strings:
        return "no string"
    texts = [Text(s.decode("utf-8", "replace")) for s in strings]
    return texts[0] if len(texts) == 1 else texts


def _tensor_histogram(buf: bytes):
    """The ``histograms`` plugin's ``[k, 3]`` tensor of (left edge, right edge, count)."""
    dtype, _, _, content, numbers = _tensor(buf)
    if content is not None and dtype in (_DT_FLOAT, _DT_DOUBLE):
        values = np.frombuffer(content, dtype=_CONTENT_FORMAT[dtype])
    else:
        values = np.concatenate([np.frombuffer(b, dtype=fmt) for fmt, b in numbers]) if numbers else np.empty(0)
    if values.size == 0 or values.size % 3:
        return "empty"
    buckets = values.astype(np.float64).reshape(-1, 3)
    return _distribution(buckets[:, 2], np.append(buckets[:, 0], buckets[-1, 1]))


def _legacy_histogram(buf: bytes):
    """``HistogramProto`` (min 1, max 2, bucket_limit 6, bucket 7) read as TensorBoard's
    ``data_compat`` reads it: empty end buckets dropped, ``min`` and ``max`` the outer edges."""
    lo = hi = 0.0
    limits, counts = [], []
    for field, _, value in _fields(buf):
        if field == 1:
            lo = _DOUBLE.unpack(value)[0]
        elif field == 2:
            hi = _DOUBLE.unpack(value)[0]
        elif field == 6:
            limits.append(value)
        elif field == 7:
            counts.append(value)
    bucket_limit, bucket = _doubles(limits), _doubles(counts)
    filled = np.flatnonzero(bucket > 0)
    if filled.size == 0 or len(bucket_limit) != len(bucket):
        return "empty"
    start, end = filled[0], filled[-1]
    return _distribution(bucket[start : end + 1], np.concatenate([[lo], bucket_limit[start:end], [hi]]))


def _distribution(counts: np.ndarray, edges: np.ndarray):
    """A ``Distribution`` of TensorBoard's buckets; over ``MAX_BINS`` of them (PyTorch's
    ``add_histogram`` writes ~600 exponential buckets, most empty), each run of empty buckets
    becomes one, so every filled bucket keeps its count and its edges exactly."""
    if len(counts) > MAX_BINS:
        filled = counts > 0
        keep = filled | np.append(True, filled[:-1])  # the first empty bucket of each run stands for the run
        counts, edges = counts[keep], np.append(edges[:-1][keep], edges[-1])
    if len(counts) > MAX_BINS:
        return f"over {MAX_BINS} filled bins"
    try:
        return Distribution(hist=counts, bin_range=edges)
    except ValueError:  # edges not finite or not in order
        return "bad edges"


def _image(buf: bytes):
    """``Summary.Image``: height 1, width 2, colorspace 3, encoded_image_string 4."""
    fields = {field: value for field, _, value in _fields(buf)}
    return _encoded_image(
        fields.get(4, b""), fields.get(2, 0), fields.get(1, 0), _COLORSPACE_MODE.get(fields.get(3, 0))
    )


def _tensor_images(buf: bytes):
    """The ``images`` plugin's string tensor: width, height, then one encoded image per sample."""
    strings = _tensor(buf)[2]
    if len(strings) < 3 or not (strings[0].isdigit() and strings[1].isdigit()):
        return "no image"
    images = [_encoded_image(s, int(strings[0]), int(strings[1]), None) for s in strings[2:]]
    reason = next((i for i in images if isinstance(i, str)), None)
    return reason or (images[0] if len(images) == 1 else images)


def _encoded_image(data: bytes, width: int, height: int, mode: str | None):
    fmt = next((name for magic, name in _IMAGE_MAGIC if data.startswith(magic)), None)
    if fmt is None or width <= 0 or height <= 0:
        return "unknown encoding"
    return Image.from_encoded(bytes(data), format=fmt, width=width, height=height, mode=mode)


def _audio(buf: bytes):
    """``Summary.Audio``: sample_rate 1 (float), encoded_audio_string 4, content_type 5."""
    fields = {field: value for field, _, value in _fields(buf)}
    fmt = _AUDIO_TYPES.get(bytes(fields.get(5, b"")).decode("ascii", "replace"))
    if fmt is None:
        return "unknown encoding"
    rate = round(_FLOAT.unpack(fields[1])[0]) if 1 in fields else None
    return Audio(bytes(fields.get(4, b"")), format=fmt, rate=rate)


def _tensor_audio(buf: bytes):
    """The ``audio`` plugin's ``[k, 2]`` string tensor of (encoded audio, label), or ``[k]`` of
    clips alone (TensorBoard's own migration of ``Value.audio``); the format is told by the
    bytes and a WAV's rate by its header (the tensor holds neither)."""
    _, shape, strings, _, _ = _tensor(buf)
    if not strings:
        return "no audio"
    if len(shape) == 2 and shape[1] == 2 and len(strings) == 2 * shape[0]:
        rows = list(zip(strings[::2], strings[1::2]))
    else:
        rows = [(data, b"") for data in strings]
    clips = []
    for data, label in rows:
        fmt = next((name for magic, name in _AUDIO_MAGIC if data.startswith(magic)), None)
        if fmt is None:
            return "unknown encoding"
        rate = _wav_rate(data) if fmt == "wav" else None
        clips.append(Audio(bytes(data), format=fmt, rate=rate, caption=label.decode("utf-8", "replace")))
    return clips[0] if len(clips) == 1 else clips


def _wav_rate(data: bytes) -> int | None:
    try:
        return wav.read(data)[0]
    except (ValueError, struct.error):
        return None


_TENSOR_OBJECTS = {"text": _text, "histograms": _tensor_histogram, "images": _tensor_images, "audio": _tensor_audio}
"""Plugins whose tensor becomes an object, and how."""
_VALUE_OBJECTS = {4: ("images", _image), 5: ("histograms", _legacy_histogram), 6: ("audio", _audio)}
"""``Summary.Value`` fields that hold an object: the kind, and how it is read."""


def read_event_file(path: str) -> _Collector:
    """Scalars (``{tag: (steps, values, wall_times)}``) and objects of one event file, and counts of what was skipped."""
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
        objects: list[ObjectPoint] = []
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
            context = {} if entry == "." else {"entry": entry}
            objects.extend(ObjectPoint(tag, context, step, t, value) for tag, step, t, value in collected.objects)
        for (tag, entry), parts in grouped.items():
            steps = np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts])
            values = np.concatenate([np.asarray(p[1], dtype=np.float64) for p in parts])
            times = np.concatenate([np.asarray(p[2], dtype=np.float64) for p in parts])
            context = {} if entry is None else {"entry": entry}
            data.series.append(Series(tag, context, steps, values, times=times))
        data.objects = objects
        return data


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
