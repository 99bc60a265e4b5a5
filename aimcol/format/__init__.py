"""The on-disk format: the only code in aimcol that decides which bytes a repository holds.

It reads and writes them only through a :class:`~aimcol.format.storage.Storage` (today
:class:`~aimcol.format.local_storage.LocalStorage`; :func:`~aimcol.format.storage.storage_for`
picks the backend of a location).  Object keys are listed in :mod:`aimcol.format.repo_layout`,
the bytes of each object in ``FORMAT.md`` beside this file.

Where things live:

* ``storage``, ``local_storage``, ``testing`` — the storage interface, the local backend,
  and the conformance suite every backend passes;
* ``repo_layout`` — object keys, ``FORMAT`` versioning, creating/opening a repository;
* ``manifest`` — the per-run manifest (msgpack), the single source of truth of a run;
* ``segments``, ``ipc_file``, ``sequence_stats`` — metric points: live Arrow IPC streams,
  sealed Arrow IPC files and the direct reader of their record batches, per-sequence stats;
* ``run_store`` — one run's writer (claim, appends, sealing, recovery) and reader;
* ``run_index``, ``index_tables``, ``index_file``, ``change_journal`` — the run index: a
  rebuildable cache of every manifest as two Arrow tables, its file, and the journal that
  keeps it fresh;
* ``arrow_numpy``, ``arrow_gather`` — Arrow <-> NumPy conversion and row gathers that never
  import pandas or ``pyarrow.compute``;
* ``value_kinds``, ``param_tree`` — value kinds shared with the query engine, and the
  flattening and lookup of nested params.

This package imports nothing of aimcol above it (only :mod:`aimcol.errors`).
"""
