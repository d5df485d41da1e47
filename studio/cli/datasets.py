"""`studio datasets ...`: import, list, show, export, stats, split (registered by studio.cli)."""

from __future__ import annotations

from studio.cli import action, command_group


def _service(ctx):
    from studio.datasets.service import DatasetService

    return DatasetService(ctx.studio)


def register(sub, groups) -> None:
    common = groups["common"]
    dsub = command_group(sub, common, "datasets", "import, inspect and export datasets")

    p = action(dsub, common, "import", cmd_import, help="import JSONL, JSON, CSV, Parquet or a save_to_disk folder")
    p.add_argument("path")
    p.add_argument("--name", required=True)
    p.add_argument("--kind", default="auto", choices=["auto", "sft", "preference", "prompt"])
    p.add_argument("--append", action="store_true", help="add the rows to an existing dataset as a new version")

    action(dsub, common, "list", cmd_list, help="datasets with their latest version")

    p = action(dsub, common, "show", cmd_show, help="one dataset version: rows, splits, tags, history")
    p.add_argument("name")
    p.add_argument("--version", type=int)

    p = action(dsub, common, "export", cmd_export, help="write a version as JSONL or Parquet")
    p.add_argument("name")
    p.add_argument("path")
    p.add_argument("--format", choices=["jsonl", "parquet"])
    p.add_argument("--version", type=int)
    p.add_argument("--split", choices=["train", "eval"])

    p = action(dsub, common, "stats", cmd_stats, help="the quality report of a version")
    p.add_argument("name")
    p.add_argument("--version", type=int)

    p = action(dsub, common, "split", cmd_split, help="a seeded train/eval split as a new version")
    p.add_argument("name")
    p.add_argument("--eval", type=float, default=0.1, dest="eval_fraction", help="share of rows for eval (default 0.1)")
    p.add_argument("--seed", type=int, default=0)

    p = action(dsub, common, "delete", cmd_delete, help="delete a dataset and all its versions")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")
    groups["datasets"] = dsub


def cmd_import(args, ctx) -> dict:
    r = _service(ctx).import_file(args.path, args.name, args.kind, append=args.append)
    return r.to_dict()


def cmd_list(args, ctx) -> dict:
    return {"datasets": _service(ctx).list()}


def cmd_show(args, ctx) -> dict:
    return _service(ctx).show(args.name, args.version)


def cmd_export(args, ctx) -> dict:
    return _service(ctx).export(args.name, args.path, args.format, args.version, args.split)


def cmd_stats(args, ctx) -> dict:
    return _service(ctx).stats(args.name, args.version)


def cmd_split(args, ctx) -> dict:
    return _service(ctx).split(args.name, args.eval_fraction, args.seed)


def cmd_delete(args, ctx) -> dict:
    from studio.errors import UserError

    if not args.yes:
        raise UserError(f"Deleting {args.name!r} removes all its versions", hint="pass --yes to confirm")
    _service(ctx).delete_dataset(args.name)
    return {"deleted": args.name}
