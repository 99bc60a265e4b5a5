"""The on-disk format: the only code in aimcol that reads or writes bytes in a repository.

Layout (see ``FORMAT.md`` beside this file)::

    .aimcol/
      FORMAT                        format name and version (msgpack)
      runs/<hash>/manifest.msgpack  run metadata, params, sequence table, segment list
      runs/<hash>/live-<n>.arrows   Arrow IPC stream: the open segment, one batch per flush
      runs/<hash>/seg-<n>.arrow     Arrow IPC file: sealed, sorted by (seq, step), zstd
      runs/<hash>/lock              flock()ed while a writer has the run open
      index/                        rebuildable cache of all manifests, for queries
"""
