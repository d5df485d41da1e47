"""`studio train reward|dpo|grpo`: preference training from the command line (same path as the wizard).

    studio train reward --base NAME --dataset RATINGS --steps 40 --wait --json
    studio train dpo    --base NAME [--adapter SFT_ADAPTER] --dataset RATINGS --set beta=0.2 --wait --json
    studio train grpo   --base NAME [--adapter SFT_ADAPTER] --dataset MATH_PROMPTS \\
                        --set rewards=exact_match,length_penalty:0.2 --wait --json
    studio train grpo   ... --set 'rewards=[{"name": "reward_model", "model": "MY-RM"}]'
"""

from __future__ import annotations

from studio.cli import command_group


# What `--wait --json` prints under "metrics" for each method (besides steps and train_loss).
METRICS = {
    "reward": ("eval_accuracy_before", "eval_accuracy", "eval_margin_before", "eval_margin", "eval_pairs"),
    "dpo": ("heldout_margin_before", "heldout_margin", "heldout_accuracy_before", "heldout_accuracy", "rewards_margin", "rewards_accuracy"),
    "grpo": ("reward_first", "reward_last", "solved_first", "solved_last", "kl_last"),
}
HELP = {
    "reward": "train a reward model on a preference dataset (prompt, chosen, rejected)",
    "dpo": "DPO on a preference dataset, from the base or an adapter (the reference)",
    "grpo": "GRPO on a prompt dataset with weighted rewards (exact_match, code_tests, format, reward_model, length_penalty)",
}


def register(sub, groups) -> None:
    if "train" not in groups:  # studio/cli/train.py makes the group; without it, make our own
        groups["train"] = command_group(sub, groups["common"], "train", "fine-tune a base model", metavar="METHOD")
    from studio.cli.train import add_method_parser

    for method in ("reward", "dpo", "grpo"):
        p = add_method_parser(groups, method, HELP[method])
        p.set_defaults(func=cmd_train_pref)


def cmd_train_pref(args, ctx):
    from studio.cli.train import cmd_train

    out = cmd_train(args, ctx)
    if getattr(args, "wait", False) and isinstance(out, dict) and "metrics" in out:
        result = ctx.studio.jobs.get(out["id"]).result or {}
        out["metrics"] = {k: v for k, v in out["metrics"].items() if v is not None}
        out["metrics"].update({k: result.get(k) for k in METRICS[args.method]})
        out["warnings"] = result.get("warnings") or []
    return out
