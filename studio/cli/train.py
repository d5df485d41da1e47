"""`studio train ...`: fine-tune from the command line, the same path as the wizard.

    studio train sft --base "gemma-3-270m (base)" --dataset greetings --preset quick --steps 40 --wait --json
    studio train presets sft --json
    studio train fields sft --json
    studio train export-config JOB_ID [--format studio|trl] [--out FILE]

The `train` subparser group is stored as groups["train"], so studio/cli/train_pref.py adds
reward / dpo / grpo next to sft with `add_method_parser` (same flags, same handler).
"""

from __future__ import annotations

from pathlib import Path

from studio.cli import action, command_group
from studio.errors import UserError


def register(sub, groups) -> None:
    common = groups["common"]
    tsub = command_group(sub, common, "train", "fine-tune a base model (SFT; preference methods plug in)",
                         metavar="METHOD")
    groups["train"] = tsub
    add_method_parser(groups, "sft", "LoRA supervised fine-tuning on an sft dataset")

    p = action(tsub, common, "presets", cmd_presets, help="the presets of a method")
    p.add_argument("method", nargs="?", default="sft")
    p = action(tsub, common, "fields", cmd_fields, help="every config field of a method, with help")
    p.add_argument("method", nargs="?", default="sft")
    p = action(tsub, common, "export-config", cmd_export_config,
               help="a job's config as YAML for `accelerate launch -m engines.training.sft` or trl's CLI")
    p.add_argument("job", type=int)
    p.add_argument("--format", choices=["studio", "trl"], default="studio")
    p.add_argument("--out", help="write the YAML here (default: print it)")


def add_method_parser(groups, method: str, help_text: str):
    """`studio train METHOD` with the shared flags; returns the parser to add method flags."""
    p = action(groups["train"], groups["common"], method, cmd_train, help=help_text)
    p.add_argument("--base", required=True, help="base model name or id (`studio models list`)")
    p.add_argument("--dataset", required=True, help="dataset name")
    p.add_argument("--version", type=int, help="dataset version (default: the latest)")
    p.add_argument("--preset", default="quick", help="quick | balanced | thorough")
    p.add_argument("--steps", type=int, help="max optimizer steps (overrides the preset)")
    p.add_argument("--template", help="chat template: gemma | chatml | llama3 | model (default: by architecture)")
    p.add_argument("--adapter", help="start from this adapter (methods that support it)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field (repeatable)")
    p.add_argument("--name", default="", help="a name for the job")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the estimate, submit nothing")
    p.add_argument("--wait", action="store_true", help="wait for the end; print the metrics and the adapter")
    p.set_defaults(method=method)
    return p


def cmd_train(args, ctx):
    from studio.cli.core import submit_and_maybe_wait
    from studio.training import TrainingService, get_method, parse_overrides

    m = get_method(args.method)
    overrides = parse_overrides(m.config_cls, args.set)
    if args.steps is not None:
        if args.steps < 1:
            raise UserError(f"--steps must be at least 1, not {args.steps}")
        overrides["max_steps"] = args.steps
    svc = TrainingService(ctx.studio)
    plan = svc.plan(
        args.method, base=args.base, dataset=args.dataset, version=args.version, preset=args.preset,
        overrides=overrides, template=args.template, name=args.name, adapter=args.adapter,
    )
    if args.dry_run:
        return {"plan": plan, "estimate": svc.estimate(plan)}
    job_id = svc.launch(plan)
    out = submit_and_maybe_wait(ctx, args, job_id)
    if args.wait:
        result = out.get("result") or {}
        out = {
            "id": job_id,
            "state": out["state"],
            "error": out.get("error"),
            "hint": out.get("hint"),
            "adapter": result.get("model_name"),
            "adapter_dir": result.get("adapter_dir"),
            "metrics": {k: result.get(k) for k in ("steps", "train_loss", "first_loss", "last_loss", "eval_loss", "samples_per_s", "tokens_per_s")},
            **({"_exit": out["_exit"]} if "_exit" in out else {}),
        }
    return out


def cmd_presets(args, ctx):
    from studio.training import get_method

    return {"method": args.method, "presets": get_method(args.method).presets}


def cmd_fields(args, ctx):
    from studio.training import field_help, get_method

    return {"method": args.method, "fields": field_help(get_method(args.method).config_cls)}


def cmd_export_config(args, ctx):
    from studio.home import atomic_write_text
    from studio.training import TrainingService

    text = TrainingService(ctx.studio).export_config(args.job, args.format)
    if args.out:
        atomic_write_text(Path(args.out), text)
        return {"job": args.job, "format": args.format, "path": str(Path(args.out).absolute())}
    if args.json:
        return {"job": args.job, "format": args.format, "yaml": text}
    print(text)
    return None
