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

    p = sub.add_parser(
        "repair", help="seal crashed runs' live segments, remove stray files, abort dead writers' multipart uploads"
    )
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


def cmd_check(args) -> int:
    repo = open_repo(args.repo)
    results = repo.check()
    broken = 0
    for found in results:
        for problem in found.problems:
            broken += 1
            print(f"{found.run}: ERROR {problem}")
        if found.status == "crashed":
            print(f"{found.run}: crashed (writer died without closing; data kept, resume with Run({found.run!r}))")
        for item in found.repairable:
            print(f"{found.run}: repairable: {item}")
    print(f"checked {len(results)} runs: {broken} unreadable files")
    return 1 if broken else 0


def cmd_repair(args) -> int:
    repo = open_repo(args.repo)
    results = repo.repair()
    failed = [done for done in results if done.error]
    for done in results:
        if done.error:
            print(f"{done.run}: ERROR not repaired: {done.error}")
            continue
        print(f"{done.run}: repaired ({'; '.join(done.fixed)})")
        for note in done.dropped:
            print(f"{done.run}: dropped {note}")
    print(f"repaired {len(results) - len(failed)} runs; rebuilt the run index")
    return 1 if failed else 0
