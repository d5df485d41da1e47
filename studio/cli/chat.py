"""`studio chat "PROMPT"` and `studio eval router SUITE.jsonl` (registered by studio.cli).

    studio chat "What is 17 * 23?" --mode auto --think-budget 256 --json
    studio chat "Hi" --model http://127.0.0.1:8080#qwen3   # any OpenAI-compatible server
    studio eval router suite.jsonl --json                 # lines {"query", "expect": fast|reasoning}

`studio chat` stores the exchange as a conversation (the Chat page lists it), unless --no-save.
"""

from __future__ import annotations

import sys
from pathlib import Path

from studio.cli import action, command_group
from studio.errors import UserError


def register(sub, groups) -> None:
    common = groups["common"]
    p = action(sub, common, "chat", cmd_chat, help="ask the chat one question (fast, reasoning or auto)")
    p.add_argument("prompt", help="the message")
    p.add_argument("--model", help="registry model name (default: the default model), or http(s)://server[#model]")
    p.add_argument("--adapter", help="a GGUF LoRA adapter from the registry, applied to --model")
    p.add_argument("--mode", choices=["fast", "reasoning", "auto"], default="fast")
    p.add_argument("--think-budget", type=int, default=None, help="max hidden thinking tokens (reasoning)")
    p.add_argument("--think-min", type=int, default=None, help="min thinking tokens: an early end becomes 'Wait,'")
    p.add_argument("--max-tokens", type=int, default=None, help="max visible answer tokens")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--system", default=None, help="a system prompt")
    p.add_argument("--template", default=None, help="chat template for a remote server (chatml, gemma, llama3)")
    p.add_argument("--no-save", action="store_true", help="do not store the exchange as a conversation")
    p.add_argument("--tools", default=None, help="comma-separated tools to enable (e.g. calculator,notes.search)")
    p.add_argument("--yes", action="store_true", help="allow tools that are not read-only (MCP) without asking")

    ev = groups.get("eval")
    if ev is None:  # the core area creates `studio eval`; keep working if it is registered later
        ev = groups["eval"] = command_group(sub, common, "eval", "evaluation suites", metavar="SUITE")
    r = action(ev, common, "router", cmd_eval_router, help="accuracy of the fast/reasoning router on a labelled suite")
    r.add_argument("suite", help='JSONL: {"query": str, "expect": "fast"|"reasoning"} per line')
    r.add_argument("--train", help="fit the router's classifier on this JSONL first (stored in the studio)")
    r.add_argument("--rules-only", action="store_true", help="ignore a trained classifier")
    r.add_argument("--measure", action="store_true", help="run the model in reasoning mode to measure hidden tokens")
    r.add_argument("--think-budget", type=int, default=256)
    r.add_argument("--model", default=None)


def cmd_chat(args, ctx) -> dict:
    from studio.chat import ChatService

    if args.think_budget is not None and args.think_budget < 1:
        raise UserError("--think-budget must be at least 1")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UserError("--max-tokens must be at least 1")
    settings: dict = {}
    if args.think_budget is not None:
        settings["think_budget"] = args.think_budget
    if args.think_min is not None:
        settings["think_min"] = args.think_min
    if args.max_tokens is not None:
        settings["max_tokens_fast"] = settings["max_tokens_reasoning"] = args.max_tokens
    if args.temperature is not None:
        settings["temperature"] = args.temperature
    if args.seed is not None:
        settings["seed"] = args.seed
    if args.system:
        settings["system_prompt"] = args.system
    if args.model or args.adapter:
        pick = {"model": args.model, "adapter": args.adapter, "template": args.template}
        settings["models"] = {m: pick for m in ("fast", "reasoning")}
    if args.tools:
        settings["tools"] = [t.strip() for t in args.tools.split(",") if t.strip()]
    chat = ChatService(ctx.studio)
    if args.yes:
        chat.confirm_tool = lambda _name, _args, _desc: True
    stream = not args.json and sys.stdout.isatty()

    def on_event(ev: dict) -> None:
        if stream and ev.get("type") in ("answer", "thinking"):
            sys.stdout.write(ev["text"] if ev["type"] == "answer" else "")
            sys.stdout.flush()

    try:
        if args.no_save:
            out = chat.run_turn_for({"settings": settings}, [{"role": "user", "content": args.prompt}], mode=args.mode, on_event=on_event)
        else:
            conv = chat.create_conversation(mode=args.mode, settings=settings)
            msg = chat.send(conv["id"], args.prompt, on_event=on_event)
            meta = msg["meta"]
            out = {
                "answer": msg["content"],
                "thinking": msg["thinking"],
                "mode": meta["mode"],
                "route_reason": (meta.get("route") or {}).get("reason"),
                "stats": meta["stats"],
                "meta": meta,
            }
    finally:
        chat.close()
    if stream:
        sys.stdout.write("\n")
    stats = {k: out["stats"][k] for k in ("prompt_tokens", "visible_tokens", "hidden_tokens", "ttft_s", "tokens_per_s", "latency_s", "cost")}
    meta = out.get("meta") or {}
    result = {"answer": out["answer"], "thinking": out["thinking"], "mode": out["mode"], "route_reason": out["route_reason"], "stats": stats}
    if meta.get("tool_calls"):
        result["tool_calls"] = meta["tool_calls"]
    if (meta.get("context") or {}).get("dropped"):
        result["context"] = meta["context"]
    return result


def read_suite(path: str) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such file", hint="give a JSONL file with one {query, expect} object per line")
    from engines.tools.intent import IntentDataError, query_rows  # the one JSONL query-suite reader

    rows = []
    try:
        for i, row in query_rows(p):
            if row.get("expect") not in ("fast", "reasoning"):
                raise UserError(f"{p}:{i}: \"expect\" must be \"fast\" or \"reasoning\", got {row.get('expect')!r}")
            rows.append(row)
    except IntentDataError as e:
        raise UserError(str(e)) from None
    if not rows:
        raise UserError(f"{p}: the suite is empty")
    return rows


def cmd_eval_router(args, ctx) -> dict:
    from engines.inference.router import evaluate_router
    from studio.chat import ChatService
    from studio.db import EvalRun

    suite = read_suite(args.suite)
    chat = ChatService(ctx.studio)
    trained = chat.train_router(read_suite(args.train)) if args.train else None
    clf = None if args.rules_only else chat.router_classifier()
    ev = evaluate_router(suite, clf)
    # hidden-token cost: what auto spends versus sending every query to reasoning
    if args.measure:
        hidden = []
        try:
            for row in suite:
                out = chat.run_turn_for(
                    {"settings": {"think_budget": args.think_budget, "max_tokens_reasoning": 32, "temperature": 0.0}},
                    [{"role": "user", "content": row["query"]}], mode="reasoning", model=args.model,
                )
                hidden.append(out["stats"]["hidden_tokens"])
        finally:
            chat.close()
        basis = "measured with the model in reasoning mode"
    else:
        hidden = [args.think_budget] * len(suite)
        basis = f"estimated at the thinking budget ({args.think_budget} tokens per reasoning turn)"
    always = sum(hidden)
    auto = sum(h for h, r in zip(hidden, ev["rows"]) if r["routed"] == "reasoning")
    prices = chat.prices()
    result = {
        "suite": str(args.suite),
        "n": ev["n"],
        "accuracy": ev["accuracy"],
        "router": "classifier" if clf else "rules",
        "confusion": {f"expect_{k}": {f"routed_{r}": n for r, n in v.items()} for k, v in ev["confusion"].items()},
        "hidden_tokens": {
            "auto": auto,
            "always_reasoning": always,
            "saved_fraction": round(1 - auto / always, 4) if always else 0.0,
            "basis": basis,
        },
        "hidden_cost": {"auto": round(auto * prices.hidden_per_1k / 1000, 6), "always_reasoning": round(always * prices.hidden_per_1k / 1000, 6)},
        "errors": [r for r in ev["rows"] if r["routed"] != r["expect"]][:20],
    }
    if trained:
        result["trained"] = {"examples": trained["examples"], "train_accuracy": trained["train"]["accuracy"]}
    with ctx.studio.db.session() as s:
        s.add(EvalRun(kind="router", suite=str(args.suite), model_ref=result["router"], metrics={k: result[k] for k in ("n", "accuracy", "hidden_tokens")}, details=result))
    return result
