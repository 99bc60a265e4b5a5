"""``aimcol sync SOURCE DESTINATION``: copy runs between repositories (local folders or buckets)."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "sync",
        help="copy runs from one repository to another (a folder, s3://…, gs://…); idempotent",
        description="Copy every run of SOURCE into DESTINATION (created if missing). Runs already equal "
        "there are skipped, so running it again copies nothing. Either side may be a folder or an "
        "object-store URI (credentials from the cloud's usual variables and profiles).",
    )
    p.add_argument("source", help="repository to copy from")
    p.add_argument("destination", help="repository to copy into")
    p.add_argument("--run", action="append", dest="runs", metavar="HASH", help="only this run (repeatable)")
    p.add_argument("--include-active", action="store_true", help="also copy runs a live process is writing")
    p.add_argument("--json", action="store_true", help="one JSON line per run, then a summary line")
    p.set_defaults(func=cmd_sync)


def cmd_sync(args) -> int:
    from aimcol.sdk.sync import sync_repos

    def progress(result) -> None:
        if args.json:
            print(json.dumps({"run": result.run_hash, "action": result.action, "files": result.files}))
        elif result.action != "unchanged":
            print(f"{result.run_hash}  {result.action}  ({result.files} files)")
        sys.stdout.flush()

    report = sync_repos(
        args.source, args.destination, run_hashes=args.runs, include_active=args.include_active, progress=progress
    )
    if args.json:
        print(
            json.dumps({"summary": {a: report.count(a) for a in ("copied", "updated", "unchanged", "skipped-active")}})
        )
    else:
        print(report.summary())
    return 0
