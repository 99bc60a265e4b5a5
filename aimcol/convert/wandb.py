"""W&B offline run folders (``wandb/offline-run-*/run-*.wandb``) → runs, read without the W&B
server.

A ``.wandb`` file is W&B's transaction log: a 7-byte header (``:W&B``, magic ``0xBEE1``,
version 0), then LevelDB-log framing: 32 KiB blocks of chunks, each ``crc32 (uint32), length
(uint16), type (uint8: full, first, middle, last)`` and its bytes; a record is one
``wandb_internal_pb2.Record`` protobuf. The framing is read here (W&B's own reader now lives in
its Go core), the records through the ``wandb`` package's protobuf classes, so reading needs
``pip install 'aimcol[wandb]'``. A truncated last chunk (a run killed while writing) ends the
file; a checksum mismatch before it makes the run unreadable.

Mapping, as Aim's ``aim convert wandb`` (which reads the same runs through W&B's API): the
project is the experiment, the run's display name its name and ``notes`` its description;
``run["params"]`` holds the config (without W&B's ``_wandb`` key), ``run["wandb_run_id"]`` and
``run["wandb_run_name"]`` the source's id and name, and ``run["summary"]`` the final summary
(without ``_``-prefixed keys and media). Every numeric history key is one series with W&B's
``_step``, ``_timestamp`` and the row's ``epoch`` when every row has one; a key ``"tag/name"``
is the metric ``name`` with context ``{"tag": tag}``, plus ``"subset": "train"|"val"|"test"``
when the tag says so (Aim's rule), and nested dicts are flattened with ``.`` as W&B's API shows
them. W&B's system metrics become the ``__system__*`` sequences aimcol's own sampler writes
(``cpu``, ``memory_percent``, ``p_memory_percent``, ``disk_percent``; per GPU ``gpu``,
``gpu_memory_percent``, ``gpu_temp``, ``gpu_power_watts`` with context ``{"gpu": i}``), one
step per sample. Media (images, histograms, tables), strings and other system metrics are
counted in ``RunData.skipped``. The run's start time is kept; its end is the last time the file
records, with ``failed`` for a non-zero exit code, and a run without an exit record (its
process was killed) stays without an end, as a crashed run.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib

import numpy as np

from aimcol.convert.source import RunData, Series, Source, SourceRun
from aimcol.errors import ImportSourceError
from aimcol.sdk.params import set_path

FILE_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK = 32768
_CHUNK = struct.Struct("<IHB")
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
# the checksum of a chunk starts from the crc32 of its type byte (LevelDB's rule)
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (_FULL, _FIRST, _MIDDLE, _LAST)}
_SUBSETS = ("train", "val", "test")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _record_class():
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError as exc:
        raise ImportSourceError(
            "aimcol convert wandb needs the wandb package to read .wandb files: pip install 'aimcol[wandb]'"
        ) from exc
    return wandb_internal_pb2.Record


def iter_records(path: str):
    """The record payloads of a ``.wandb`` file, checksums verified; stops at a truncated tail.

    Raises :class:`ImportSourceError` naming the file and offset for a foreign header, a
    checksum mismatch or chunks out of order.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[: len(FILE_HEADER)] != FILE_HEADER:
        raise ImportSourceError(
            f"{path}: not a W&B transaction log of a known version (header {data[:7]!r}, wanted {FILE_HEADER!r})"
        )
    pos, end, pending = len(FILE_HEADER), len(data), None
    while True:
        left = BLOCK - pos % BLOCK
        if left < _CHUNK.size:  # a block's tail too short for a chunk header is zero padding
            pos += left
        if pos + _CHUNK.size > end:
            return
        crc, length, kind = _CHUNK.unpack_from(data, pos)
        start = pos + _CHUNK.size
        if kind == 0 and length == 0 and crc == 0:  # preallocated zeros after the last record
            return
        if start + length > end:
            return
        payload = data[start : start + length]
        if kind not in _TYPE_CRC or zlib.crc32(payload, _TYPE_CRC[kind]) != crc:
            raise ImportSourceError(f"{path}: damaged record at byte {pos} (checksum mismatch)")
        pos = start + length
        if kind == _FULL:
            yield payload
        elif kind == _FIRST:
            pending = [payload]
        elif pending is None:
            raise ImportSourceError(f"{path}: record continuation without its start at byte {start - _CHUNK.size}")
        else:
            pending.append(payload)
            if kind == _LAST:
                yield b"".join(pending)
                pending = None


def _json_value(text: str):
    """``json.loads`` with a fast path for the plain numbers most values are (10x faster)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)  # also JSON's NaN and Infinity
    except ValueError:
        return json.loads(text)


def _items_tree(items) -> dict:
    """``{key: value}`` of history items (``key`` or ``nested_key`` + ``value_json``)."""
    tree: dict = {}
    for item in items:
        set_path(tree, tuple(item.nested_key) or (item.key,), _json_value(item.value_json))
    return tree


class _Items:
    """The config or summary as W&B's records update it: the latest JSON text per key path,
    decoded once at the end (the summary is rewritten at every ``log()`` call)."""

    def __init__(self):
        self.latest: dict[tuple, str] = {}

    def update(self, items) -> None:
        latest = self.latest
        for item in items:
            path = item.nested_key
            latest[(path[0],) if len(path) == 1 else tuple(path) or (item.key,)] = item.value_json

    def remove(self, items) -> None:
        for item in items:
            path = tuple(item.nested_key) or (item.key,)
            for key in [k for k in self.latest if k[: len(path)] == path]:
                del self.latest[key]

    def tree(self) -> dict:
        tree: dict = {}
        for path, text in self.latest.items():
            set_path(tree, tuple(path), _json_value(text))
        return tree


def _flat_numbers(row: dict, prefix: str, out: dict, skipped: dict) -> None:
    """Numbers of a history row by their W&B key (nested dicts joined by ``.``); media and text counted."""
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool) or value is None:
            skipped["other"] = skipped.get("other", 0) + 1
        elif isinstance(value, (int, float)):
            out[name] = value
        elif _is_media(value):
            kind = str(value["_type"])
            skipped[kind] = skipped.get(kind, 0) + 1
        elif isinstance(value, dict):
            _flat_numbers(value, name + ".", out, skipped)
        else:
            kind = "text" if isinstance(value, str) else "other"
            skipped[kind] = skipped.get(kind, 0) + 1


def _is_media(value) -> bool:
    """W&B media and tables (images, histograms …) are dicts with a ``_type``."""
    return isinstance(value, dict) and "_type" in value


def metric_name_and_context(key: str) -> tuple[str, dict]:
    """Aim's rule: ``"train/loss"`` → ``("loss", {"tag": "train", "subset": "train"})``."""
    if "/" not in key:
        return key, {}
    tag, name = key.rsplit("/", 1)
    context: dict = {"tag": tag}
    for subset in _SUBSETS:
        if subset in tag:
            context["subset"] = subset
            break
    return name, context


_SYSTEM_NAMES = {
    "cpu": "cpu",
    "memory_percent": "memory_percent",
    "proc.memory.percent": "p_memory_percent",
    "disk./.usagePercent": "disk_percent",
}
_GPU_NAMES = {
    "gpu": "gpu",
    "memoryAllocated": "gpu_memory_percent",
    "temp": "gpu_temp",
    "powerWatts": "gpu_power_watts",
}


def system_metric(key: str) -> tuple[str, dict] | None:
    """A W&B system-metric key as the ``__system__*`` sequence aimcol's own sampler writes, or
    ``None`` for one it has no counterpart of (network, disk I/O, per-core CPU …)."""
    name = _SYSTEM_NAMES.get(key)
    if name is not None:
        return f"__system__{name}", {}
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "gpu" and parts[1].isdigit() and parts[2] in _GPU_NAMES:
        return f"__system__{_GPU_NAMES[parts[2]]}", {"gpu": int(parts[1])}
    return None


class _SystemMetrics:
    """W&B ``stats`` records (one sample each) as aimcol's system metrics, stepped 0, 1, 2 …"""

    def __init__(self):
        self.columns: dict[tuple[str, tuple], tuple[dict, list, list]] = {}
        self.other = 0
        self.last_time: float | None = None

    def add_sample(self, stats) -> None:
        when = _timestamp(stats.timestamp)
        self.last_time = when if self.last_time is None else max(self.last_time, when)
        for item in stats.item:
            target = system_metric(item.key)
            value = _json_value(item.value_json)
            if target is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                self.other += 1
                continue
            name, context = target
            cols = self.columns.get((name, tuple(context.items())))
            if cols is None:
                cols = self.columns[(name, tuple(context.items()))] = (context, [], [])
            cols[1].append(float(value))
            cols[2].append(when)

    def series(self) -> list[Series]:
        return [
            Series(name, context, np.arange(len(values), dtype=np.int64), np.asarray(values), times=np.asarray(times))
            for (name, _), (context, values, times) in self.columns.items()
        ]


class _History:
    """Numeric history columns per key: per key the rows it has a value in and the values; per
    row its step, time and epoch (so a point costs two list appends)."""

    def __init__(self):
        self.columns: dict[str, tuple[list, list]] = {}
        self.steps: list[int] = []
        self.times: list[float] = []
        self.epochs: list[int | None] = []
        self.skipped: dict[str, int] = {}
        self.next_step = 0

    def add_row(self, record) -> None:
        texts: dict[str, str] = {}  # top-level key → its JSON text
        nested = []
        for item in record.item:
            path = item.nested_key
            if len(path) > 1:
                nested.append(item)
            else:
                texts[path[0] if path else item.key] = item.value_json
        if record.HasField("step"):
            step = record.step.num
        else:
            step = int(_json_value(texts["_step"])) if "_step" in texts else self.next_step
        self.next_step = step + 1
        when = _json_value(texts["_timestamp"]) if "_timestamp" in texts else math.nan
        epoch = _json_value(texts["epoch"]) if "epoch" in texts else None
        if isinstance(epoch, float) and epoch.is_integer():
            epoch = int(epoch)  # Lightning and others log the epoch as a float
        row_index = len(self.steps)
        self.steps.append(step)
        self.times.append(when if isinstance(when, (int, float)) and not isinstance(when, bool) else math.nan)
        self.epochs.append(epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None)
        row = {k: _json_value(t) for k, t in texts.items() if not k.startswith("_")}
        for item in nested:
            if not item.nested_key[0].startswith("_"):
                set_path(row, tuple(item.nested_key), _json_value(item.value_json))
        numbers: dict = {}
        _flat_numbers(row, "", numbers, self.skipped)
        for key, value in numbers.items():
            cols = self.columns.get(key)
            if cols is None:
                cols = self.columns[key] = ([], [])
            cols[0].append(row_index)
            cols[1].append(value)

    @property
    def last_time(self) -> float | None:
        times = np.asarray(self.times, dtype=np.float64)
        return None if not len(times) or np.isnan(times).all() else float(np.nanmax(times))

    def series(self) -> list[Series]:
        steps = np.asarray(self.steps, dtype=np.int64)
        times = np.asarray(self.times, dtype=np.float64)
        has_epoch = np.fromiter((e is not None for e in self.epochs), dtype=bool, count=len(self.epochs))
        epochs = np.fromiter((e or 0 for e in self.epochs), dtype=np.int64, count=len(self.epochs))
        out = []
        for key, (rows, values) in self.columns.items():
            name, context = metric_name_and_context(key)
            index = np.asarray(rows, dtype=np.int64)
            ints = all(isinstance(v, int) and _INT64_MIN <= v <= _INT64_MAX for v in values)
            key_times = times[index]
            out.append(
                Series(
                    name,
                    context,
                    steps[index],
                    np.asarray(values, dtype=np.int64 if ints else np.float64),
                    epochs=epochs[index] if has_epoch[index].all() else None,
                    times=None if np.isnan(key_times).any() else key_times,
                )
            )
        return out


def _timestamp(ts) -> float:
    return ts.seconds + ts.nanos / 1e9


def read_run_file(path: str) -> RunData:
    """One ``.wandb`` file as :class:`RunData` (module docstring for the mapping)."""
    record_class = _record_class()
    history = _History()
    config, summary = _Items(), _Items()
    run = exit_record = None
    system = _SystemMetrics()
    last_time: float | None = None
    for payload in iter_records(path):
        record = record_class()
        try:
            record.ParseFromString(payload)
        except Exception as exc:
            raise ImportSourceError(f"{path}: a record is not a W&B protobuf Record: {exc}") from exc
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.add_row(record.history)
        elif kind == "run":
            run = record.run
            config.update(run.config.update)
            summary.update(run.summary.update)
        elif kind in ("config", "summary"):
            items = config if kind == "config" else summary
            items.update(getattr(record, kind).update)
            items.remove(getattr(record, kind).remove)
        elif kind == "stats":
            system.add_sample(record.stats)
        elif kind == "output_raw":
            last_time = max(last_time or 0.0, _timestamp(record.output_raw.timestamp))
        elif kind == "exit":
            exit_record = record.exit
    if run is None:
        raise ImportSourceError(f"{path}: no run record (not a W&B run, or its start was never written)")
    return _run_data(run, config.tree(), summary.tree(), history, system, exit_record, last_time)


def _run_data(run, config, summary, history, system, exit_record, last_time) -> RunData:
    config.pop("_wandb", None)
    start = _timestamp(run.start_time) if run.HasField("start_time") else None
    data = RunData(
        name=run.display_name or run.run_id,
        experiment=run.project or None,
        description=run.notes or None,
        params={
            "params": config,
            "summary": {k: v for k, v in summary.items() if not k.startswith("_") and not _is_media(v)},
            "wandb_run_id": run.run_id,
            "wandb_run_name": run.display_name or run.run_id,
        },
        tags=list(run.tags),
        series=history.series() + system.series(),
        skipped=dict(history.skipped),
        creation_time=start,
    )
    if system.other:
        data.skipped["system metrics without an aimcol counterpart"] = system.other
    if exit_record is None:  # killed before it could finish: no end, as a crashed run
        data.exit_status = None
        return data
    ends = [t for t in (history.last_time, system.last_time, last_time) if t is not None]
    if start is not None and exit_record.runtime:
        ends.append(start + exit_record.runtime)
    data.end_time = max(ends) if ends else start
    if exit_record.exit_code != 0:
        data.exit_status, data.exit_error = "failed", f"exit code {exit_record.exit_code}"
    return data


def find_run_files(folder: str) -> list[str]:
    """The ``run-*.wandb`` files under ``folder`` (a project folder, its ``wandb/`` or one run folder)."""
    found = []
    for root, dirs, files in os.walk(folder):  # symlinks (wandb/latest-run) are not followed
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files) if f.startswith("run-") and f.endswith(".wandb"))
    return found


class WandbSource(Source):
    """Every run folder with a ``.wandb`` file under DIR; the folder's name is the source id."""

    kind = "wandb"

    def __init__(self, folder: str):
        if not os.path.isdir(folder):
            raise ImportSourceError(f"W&B folder {folder!r} does not exist or is not a folder")
        _record_class()
        self.folder = os.path.realpath(folder)
        self._paths: dict[str, str] = {}

    def list_runs(self) -> list[SourceRun]:
        refs = []
        for path in find_run_files(self.folder):
            run_dir = os.path.basename(os.path.dirname(path))
            ref = SourceRun(id=f"{run_dir}/{os.path.basename(path)}", name=run_dir, size=_size(path))
            self._paths[ref.id] = path
            refs.append(ref)
        return refs

    def read_run(self, ref: SourceRun) -> RunData:
        return read_run_file(self._paths[ref.id])


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
