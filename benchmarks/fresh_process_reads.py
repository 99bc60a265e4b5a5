"""W2's reads timed in one fresh process, for comparing two aimcol trees on one repository.

    PYTHONPATH=<tree> python benchmarks/fresh_process_reads.py <W2 repository>

Prints one JSON line: import, the first ``query_runs``, the selective ``query_metrics`` and the
all-``loss`` one with every value fetched by ``sparse_numpy()``, in seconds.  Alternate the trees
and compare medians (benchmarks/RESULTS.md, "Storage interface").
"""

import json
import sys
import time

t0 = time.perf_counter()
import aimcol  # noqa: E402

t1 = time.perf_counter()
repo = aimcol.Repo(sys.argv[1])
runs = list(repo.query_runs("run.hparams.batch_size > 32"))
t2 = time.perf_counter()
n = 0
for m in repo.query_metrics(
    "run.hparams.batch_size > 32 and metric.name == 'loss' and metric.context.subset == 'train'"
):
    n += len(m.values.sparse_numpy()[1])
t3 = time.perf_counter()
for m in repo.query_metrics("metric.name == 'loss'"):
    n += len(m.values.sparse_numpy()[1])
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "query_runs": t2 - t1, "selective": t3 - t2, "all_loss": t4 - t3, "points": n}))
