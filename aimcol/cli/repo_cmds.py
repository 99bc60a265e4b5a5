"""``aimcol init``, ``aimcol check`` and ``aimcol repair``: repository-level commands."""

from __future__ import annotations

import os

from aimcol.cli.output import UserError, add_repo_argument, open_repo


def register(sub) -> None:
    p = sub.add_parser("init", help="create a .aimcol repository in a folder (default: cwd)")
    p.add_argument("path", nargs="?", default=".", help="folder to create .aimcol in")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("check", help="verify that every run's files read back; list crashed runs")
    add_repo_argument(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("repair", help="seal crashed runs' live segments and remove stray files")
    add_repo_argument(p)
    p.set_defaults(func=cmd_repair)


def cmd_init(args) -> int:
    from aimcol import Repo

    path = os.path.abspath(args.path)
    if not os.path.isdir(path):
        raise UserError(f"{path} is not a folder")
    repo = Repo(path, init=True)
    print(f"aimcol repository ready at {repo.path}")
    return 0


def _scan(repo):
    from aimcol.format import manifest as manifest_io
    from aimcol.format.run_store import check_run, run_needs_repair

    layout = repo.layout
    for run_hash in sorted(repo.run_hashes()):
        problems = check_run(layout, run_hash)
        active = layout.storage.run_claimed(run_hash)
        fixable = []
        crashed = False
        if not problems:
            manifest = manifest_io.read_manifest(layout, run_hash)
            crashed = manifest.get("end_time") is None and not active
            if not active:
                fixable = run_needs_repair(layout, run_hash, manifest)
        yield run_hash, active, crashed, problems, fixable


def cmd_check(args) -> int:
    repo = open_repo(args.repo)
    broken = 0
    total = 0
    for run_hash, _active, crashed, problems, fixable in _scan(repo):
        total += 1
        for problem in problems:
            broken += 1
            print(f"{run_hash}: ERROR {problem}")
        if crashed:
            print(f"{run_hash}: crashed (writer died without closing; data kept, resume with Run({run_hash!r}))")
        for item in fixable:
            print(f"{run_hash}: repairable: {item}")
    print(f"checked {total} runs: {broken} unreadable files")
    return 1 if broken else 0


def cmd_repair(args) -> int:
    from aimcol.errors import FormatError, RunLockedError
    from aimcol.format.run_index import run_index
    from aimcol.format.run_store import repair_run

    repo = open_repo(args.repo)
    repaired = failed = 0
    for run_hash, active, _crashed, _problems, fixable in _scan(repo):
        if active or not fixable:
            continue
        try:
            skipped = repair_run(repo.layout, run_hash)
        except RunLockedError:
            continue  # a writer took it meanwhile: it recovers the run itself
        except FormatError as exc:  # too damaged to repair: say so, go on with the other runs
            failed += 1
            print(f"{run_hash}: ERROR not repaired: {exc}")
            continue
        repaired += 1
        print(f"{run_hash}: repaired ({'; '.join(fixable)})")
        for note in skipped:
            print(f"{run_hash}: dropped {note}")
    runs = run_index(repo.layout).rebuild().n_runs  # the index is a cache: rebuilt from the manifests
    print(f"repaired {repaired} runs; rebuilt the run index ({runs} runs)")
    return 1 if failed else 0
