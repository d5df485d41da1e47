"""`studio eval tools SUITE.jsonl`: tool-call accuracy (the chat area adds `eval router`),
and `studio evals list/show` for stored runs."""

from __future__ import annotations

from studio.cli import action, command_group


def register(sub, groups) -> None:
    common = groups["common"]
    p = action(groups["eval"], common, "tools", cmd_eval_tools, help="tool-call accuracy of a JSONL suite")
    p.add_argument("suite", nargs="?", help="JSONL of {query, expect: {tool, args}} (default: the built-in example suite)")
    p.add_argument("--enabled", help="comma-separated tools enabled (default: every tool the suite or classifier knows)")
    p.add_argument("--no-store", action="store_true", help="do not store the run")

    p = action(groups["eval"], common, "ladder", cmd_eval_ladder,
               help="a suite over every stage of the starter recipe (base, +SFT, +DPO, +GRPO) in every mode")
    p.add_argument("suite", nargs="?", help="JSONL of {family, query, answer?, expect_tool?} (default: the starter's held-out split)")
    p.add_argument("--models", help="comma-separated model names, or LABEL=NAME (default: base and each recipe stage)")
    p.add_argument("--modes", default="fast,reasoning,auto")
    p.add_argument("--limit", type=int, help="only the first N rows")
    p.add_argument("--per-family", type=int, help="only the first N rows of each family (a quick ladder)")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--no-think-calculator", action="store_true",
                   help="reasoning turns compute every digit themselves (default: the calculator writes each "
                        "'a op b =' result in the thinking)")
    p.add_argument("--no-store", action="store_true", help="do not store the run")

    esub = command_group(sub, common, "evals", "stored evaluation runs")
    p = action(esub, common, "list", cmd_list)
    p.add_argument("--kind", default="tools")
    p = action(esub, common, "show", cmd_show)
    p.add_argument("id", type=int)


def cmd_eval_tools(args, ctx):
    from engines.tools.intent import EXAMPLE_SUITE
    from studio.tools.suite import run_suite

    out = run_suite(ctx.studio, args.suite or EXAMPLE_SUITE, store=not args.no_store,
                    enabled=args.enabled.split(",") if args.enabled else None)
    if args.json:
        return out
    m = out["metrics"]
    pct = lambda v: "n/a" if v is None else f"{v:.1%}"  # noqa: E731
    lines = [f"suite: {out['suite']}  ({m['n']} queries)  router: {out['model_ref']}",
             f"tool-selection accuracy: {pct(m['accuracy'])}",
             f"'none' accuracy:         {pct(m['none_accuracy'])}",
             f"argument match rate:     {pct(m['arg_match_rate'])}  ({m['arg_rows']} rows with expected args)",
             "", f"{'tool':<14}{'precision':>10}{'recall':>8}{'support':>9}"]
    for lab, s in m["per_tool"].items():
        lines.append(f"{lab:<14}{pct(s['precision']):>10}{pct(s['recall']):>8}{s['support']:>9}")
    w = max(8, *(len(x) + 1 for x in m["labels"]))
    lines += ["", "confusion (rows: expected, columns: chosen)", " " * w + "".join(f"{x[:w-1]:>{w}}" for x in m["labels"])]
    for lab, row in zip(m["labels"], m["confusion"]):
        lines.append(f"{lab:<{w}}" + "".join(f"{v:>{w}}" for v in row))
    misses = [r for r in out["rows"] if r["chosen"] != r["tool"]]
    if misses:
        lines += ["", "misrouted:"] + [f"  line {r['line']}: {r['query']!r} expected {r['tool']}, chose {r['chosen']} "
                                       f"({r['confidence']:.2f})" for r in misses]
    if "run_id" in out:
        lines.append(f"\nstored as eval run {out['run_id']}")
    return "\n".join(lines)


def cmd_eval_ladder(args, ctx):
    import sys

    from studio.evals.ladder import ladder_table, run_ladder
    from studio.evals.suites import default_suite

    suite = args.suite or str(default_suite())

    def progress(ev):
        if ev["done"] % 10 == 0 or ev["done"] == ev["total"]:
            print(f"ladder: {ev['done']}/{ev['total']} ({ev['model']}, {ev['mode']})", file=sys.stderr, flush=True)

    out = run_ladder(ctx.studio, suite, models=[m.strip() for m in args.models.split(",")] if args.models else None,
                     modes=[m.strip() for m in args.modes.split(",") if m.strip()], on_progress=progress,
                     settings={"temperature": args.temperature, "think_calculator": not args.no_think_calculator}, limit=args.limit, per_family=args.per_family,
                     store=not args.no_store)
    if getattr(args, "json", False):
        return out
    return ladder_table(out) + (f"\nstored as eval run {out['id']}" if "id" in out else "")


def cmd_list(args, ctx):
    from studio.tools.suite import list_runs

    return {"runs": list_runs(ctx.studio, args.kind)}


def cmd_show(args, ctx):
    from studio.tools.suite import get_run

    return get_run(ctx.studio, args.id)
