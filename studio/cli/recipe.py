"""`studio recipe ...`: run a recipe of training stages through the job runner.

    studio recipe run starter [--until sft|dpo|grpo|export|register] [--set sft.max_steps=20] --wait --json
    studio recipe status starter --json
    studio recipe ship MODEL          # copy a recipe's output into the package data (release step)

Without --wait the recipe runs in a detached `studio recipe run ... --wait` process; running
the same command again resumes it (finished stages are skipped, an interrupted job resumes).
"""

from __future__ import annotations

import subprocess
import sys

from studio.cli import action, command_group


def register(sub, groups) -> None:
    common = groups["common"]
    rsub = command_group(sub, common, "recipe", "run a recipe: SFT -> DPO -> GRPO -> export -> register")
    p = action(rsub, common, "run", cmd_run, help="run or resume a recipe")
    p.add_argument("recipe", nargs="?", default="starter", help="a packaged recipe name or a YAML file")
    p.add_argument("--until", help="stop after this stage")
    p.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE", help="override a stage's config")
    p.add_argument("--wait", action="store_true", help="run here and wait for the end")
    p = action(rsub, common, "status", cmd_status, help="the stages of a recipe's current run")
    p.add_argument("recipe", nargs="?", default="starter")
    p.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE")
    p = action(rsub, common, "ship", cmd_ship, help="copy a recipe's registered model into the package data")
    p.add_argument("model")
    p.add_argument("--out", help="folder (default: studio/starter/data)")


def cmd_run(args, ctx):
    from studio.starter.recipe import load_recipe, run_recipe

    load_recipe(args.recipe, args.set)  # bad input fails here, before anything starts
    if not args.wait:
        cmd = [sys.executable, "-m", "studio", "--home", str(ctx.studio.home.root), "recipe", "run", args.recipe, "--wait"]
        cmd += [x for s in args.set for x in ("--set", s)] + (["--until", args.until] if args.until else [])
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(ctx.studio.home.jobs / "recipe.log", "ab"), start_new_session=True)
        return {"recipe": args.recipe, "state": "started", "hint": "follow it in the Jobs page or `studio recipe status`"}

    def show(ev):
        if not getattr(args, "json", False) and ev.get("type") == "stage":
            print(f"[{ev['stage']}] {ev.get('state')}" + (f" job {ev['job_id']}" if ev.get("job_id") else "")
                  + (f" -> {ev['model']}" if ev.get("model") else ""), file=sys.stderr, flush=True)

    return run_recipe(ctx.studio, args.recipe, until=args.until, overrides=args.set, on_event=show)


def cmd_status(args, ctx):
    from studio.starter.recipe import recipe_status

    return recipe_status(ctx.studio, args.recipe, args.set)


def cmd_ship(args, ctx):
    from studio.starter.recipe import STARTER_DIR, ship

    return ship(ctx.studio, args.model, args.out or STARTER_DIR)
