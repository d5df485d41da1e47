"""`studio datasets ...`: import, list, show, export, stats, split (registered by studio.cli)."""

from __future__ import annotations


def _service(ctx):
    from studio.datasets.service import DatasetService

    return DatasetService(ctx.studio)


def register(sub, groups) -> None:
    common = groups["common"]
    ds = sub.add_parser("datasets", parents=[common], help="import, inspect and export datasets")
    dsub = ds.add_subparsers(dest="datasets_cmd", metavar="ACTION")
    dsub.required = True

    p = dsub.add_parser("import", parents=[common], help="import JSONL, JSON, CSV, Parquet or a save_to_disk folder")
    p.add_argument("path")
    p.add_argument("--name", required=True)
    p.add_argument("--kind", default="auto", choices=["auto", "sft", "preference", "prompt"])
    p.add_argument("--append", action="store_true", help="add the rows to an existing dataset as a new version")
    p.set_defaults(func=cmd_import)

    p = dsub.add_parser("list", parents=[common], help="datasets with their latest version")
    p.set_defaults(func=cmd_list)

    p = dsub.add_parser("show", parents=[common], help="one dataset version: rows, splits, tags, history")
    p.add_argument("name")
    p.add_argument("--version", type=int)
    p.set_defaults(func=cmd_show)

    p = dsub.add_parser("export", parents=[common], help="write a version as JSONL or Parquet")
    p.add_argument("name")
    p.add_argument("path")
    p.add_argument("--format", choices=["jsonl", "parquet"])
    p.add_argument("--version", type=int)
    p.add_argument("--split", choices=["train", "eval"])
    p.set_defaults(func=cmd_export)

    p = dsub.add_parser("stats", parents=[common], help="the quality report of a version")
    p.add_argument("name")
    p.add_argument("--version", type=int)
    p.set_defaults(func=cmd_stats)

    p = dsub.add_parser("split", parents=[common], help="a seeded train/eval split as a new version")
    p.add_argument("name")
    p.add_argument("--eval", type=float, default=0.1, dest="eval_fraction", help="share of rows for eval (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_split)

    p = dsub.add_parser("delete", parents=[common], help="delete a dataset and all its versions")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(func=cmd_delete)
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
