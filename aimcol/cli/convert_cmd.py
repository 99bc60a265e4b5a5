"""``aimcol convert tensorboard|mlflow|aim|wandb``: import runs from other trackers.

The importers live in ``aimcol/convert/`` (one module per source, one shared writer); this
module only parses arguments and prints the summary.  Exit code 1 if any source run was
skipped as unreadable (each one is named on stderr), 0 otherwise.
"""

from __future__ import annotations

import sys

from aimcol.cli.output import UserError, add_repo_argument, open_repo


def register(sub) -> None:
    conv = sub.add_parser("convert", help="import runs from TensorBoard, MLflow, Aim or W&B")
    conv_sub = conv.add_subparsers(dest="convert_source", metavar="SOURCE")
    conv.set_defaults(func=lambda args: conv.print_help() or 1)

    def common(p) -> None:
        add_repo_argument(p)
        p.add_argument("--dry-run", action="store_true", help="read the source and say what would be imported")
        p.add_argument("--no-progress", action="store_true", help="plain lines even on a terminal")

    p = conv_sub.add_parser("tensorboard", help="scalars of a TensorBoard log dir (one run per folder)")
    p.add_argument("logdir", help="the log dir TensorBoard would be started with")
    p.add_argument("--experiment", default=None, help="experiment of the imported runs")
    common(p)
    p.set_defaults(func=cmd_convert, make_source=_tensorboard)

    p = conv_sub.add_parser("mlflow", help="runs, params, tags and metric histories of an MLflow tracking store")
    p.add_argument("--tracking-uri", default=None, help="e.g. ./mlruns, file:///path/mlruns or sqlite:///mlflow.db")
    p.add_argument("--experiment", default=None, help="only this MLflow experiment (name or id)")
    common(p)
    p.set_defaults(func=cmd_convert, make_source=_mlflow)

    p = conv_sub.add_parser("aim", help="runs of an Aim repository (params, tags, experiments, metrics)")
    p.add_argument("aim_repo", metavar="REPO", help="the folder holding .aim")
    p.add_argument(
        "--aim-python",
        default=None,
        help="a Python interpreter that can import aim (default: this one, else $AIMCOL_AIM_PYTHON)",
    )
    common(p)
    p.set_defaults(func=cmd_convert, make_source=_aim)

    p = conv_sub.add_parser("wandb", help="W&B offline run folders (wandb/offline-run-*), read without a server")
    p.add_argument("wandb_dir", metavar="DIR", help="a wandb/ folder, the folder holding it, or one run folder")
    common(p)
    p.set_defaults(func=cmd_convert, make_source=_wandb)


def _tensorboard(args):
    from aimcol.convert.tensorboard import TensorBoardSource

    return TensorBoardSource(args.logdir, experiment=args.experiment)


def _mlflow(args):
    from aimcol.convert.mlflow import MlflowSource

    return MlflowSource(args.tracking_uri, experiment=args.experiment)


def _aim(args):
    from aimcol.convert.aim import AimSource

    return AimSource(args.aim_repo, python=args.aim_python)


def _wandb(args):
    from aimcol.convert.wandb import WandbSource

    return WandbSource(args.wandb_dir)


def _repo_for(args):
    """The target repository; created unless ``--dry-run`` (then ``None`` when there is none yet)."""
    if not args.dry_run:
        return open_repo(args.repo, init=True)
    try:
        return open_repo(args.repo)
    except UserError:
        return None


def cmd_convert(args) -> int:
    from aimcol.convert.importer import convert
    from aimcol.convert.progress import Progress

    source = args.make_source(args)
    try:
        repo = _repo_for(args)
        refs = source.list_runs()
        if not refs:
            raise UserError(f"no runs found to convert from {source.kind}")
        bar = False if args.no_progress else None
        progress = Progress(len(refs), sum(r.size for r in refs), stream=sys.stderr, bar=bar)
        report = convert(repo, source, dry_run=args.dry_run, progress=progress, refs=refs)
    finally:
        source.close()
    if args.dry_run:
        points = sum(row[2] for row in report.would_import)
        objects = sum(row[3] for row in report.would_import)
        where = repo.path if repo is not None else "a new repository"
        print(f"would import {len(report.would_import)} runs, {points:,} points, {objects:,} objects into {where}")
        for name, series, n, n_objects in report.would_import:
            print(f"  {name}: {series} series, {n:,} points, {n_objects:,} objects")
    else:
        print(
            f"imported {len(report.imported)} runs, {report.points:,} points, {report.objects:,} objects into {repo.path}"
        )
    if report.already:
        print(f"{len(report.already)} runs were imported before and are left as they are")
    if report.not_imported:
        kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(report.not_imported.items()))
        print(f"not imported: {kinds}")
    if report.skipped:
        for name, why in report.skipped.items():
            print(f"aimcol: skipped unreadable run {name}: {why}", file=sys.stderr)
        return 1
    return 0
