"""Fast vs reasoning vs auto on verifiable arithmetic word problems (written for this bench).

For each mode: accuracy (the last number in the answer equals the known result), hidden
(thinking) tokens, visible tokens and latency, as a table; auto also shows how many questions
it sent to reasoning. "Always reasoning" is the baseline auto is measured against (hidden
tokens saved, accuracy kept). By default it runs the chat's default model in a fresh home: the
shipped starter assistant (a GGUF LoRA on gemma-3-270m); `--model "gemma-3-270m (base)"` runs
the base, which is not expected to solve these; pass --model NAME --home DIR for a fine-tune in
a studio home, or --model http://server:8080#model for a served model.

    .venv/bin/python bench/modes.py [--budget 64] [--max-tokens 32] [--limit 10]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (question, answer): half one-step (auto should keep these fast), half multi-step
PROBLEMS = [
    ("What is 7 + 5?", 12),
    ("What is 9 times 6?", 54),
    ("What is 100 minus 37?", 63),
    ("What is 48 divided by 8?", 6),
    ("What is 15 + 27?", 42),
    ("A baker makes 12 loaves in the morning and 9 in the afternoon, then sells 15 of them. How many loaves are left?", 6),
    ("Tom has 3 boxes with 8 pencils each. He gives away 5 pencils and then buys 4 more. How many pencils does he have now?", 23),
    ("A train travels at 60 km per hour for 2 hours and then at 40 km per hour for 3 hours. How many km does it travel in total?", 240),
    ("Anna saves 5 dollars a week for 6 weeks, then spends 12 dollars on a book. How much money does she have left?", 18),
    ("A garden has 4 rows of 7 tulips. After that, 6 tulips are picked and 3 new ones are planted. How many tulips are in the garden?", 25),
]

_NUM = re.compile(r"-?\d+(?:\.\d+)?")


def correct(answer: str, expected: int) -> bool:
    nums = _NUM.findall(answer.replace(",", ""))
    return bool(nums) and float(nums[-1]) == expected


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=64, help="thinking budget (hidden tokens)")
    ap.add_argument("--max-tokens", type=int, default=32, help="visible answer tokens")
    ap.add_argument("--limit", type=int, default=len(PROBLEMS))
    ap.add_argument("--model", default=None)
    ap.add_argument("--home", default=None)
    ap.add_argument("--no-think-calculator", action="store_true",
                    help="reasoning computes every digit itself (default: the calculator writes 'a op b =' results)")
    args = ap.parse_args()

    from chat_overhead import open_bench_studio

    from studio.chat import ChatService

    st, tmp = open_bench_studio(args.home)
    chat = ChatService(st)
    settings = {"think_budget": args.budget, "max_tokens_fast": args.max_tokens, "max_tokens_reasoning": args.max_tokens,
                "temperature": 0.0, "use_router_classifier": False, "think_calculator": not args.no_think_calculator}
    problems = PROBLEMS[: args.limit]
    chat.run_turn_for({"settings": settings}, [{"role": "user", "content": "Hi"}], mode="fast", model=args.model)  # load
    table = {}
    for mode in ("fast", "reasoning", "auto"):
        ok = hidden = visible = routed = 0
        latency = 0.0
        t0 = time.perf_counter()
        for q, expected in problems:
            out = chat.run_turn_for({"settings": settings}, [{"role": "user", "content": q}], mode=mode, model=args.model)
            ok += correct(out["answer"], expected)
            hidden += out["stats"]["hidden_tokens"]
            visible += out["stats"]["visible_tokens"]
            latency += out["stats"]["latency_s"]
            routed += out["mode"] == "reasoning"
        table[mode] = {"accuracy": ok / len(problems), "hidden": hidden, "visible": visible,
                       "latency_s": latency / len(problems), "to_reasoning": routed, "wall_s": time.perf_counter() - t0}
    chat.close()
    st.close()
    if tmp:
        tmp.cleanup()
    n = len(problems)
    print(f"{n} arithmetic word problems ({sum(1 for q, _ in problems if len(q) > 40)} multi-step); "
          f"thinking budget {args.budget}, answer {args.max_tokens} tokens; model: {args.model or 'the default (starter assistant)'}; "
          f"calculator in thinking: {'off' if args.no_think_calculator else 'on'}")
    print(f"{'mode':10} {'accuracy':>8} {'hidden tok':>10} {'visible tok':>11} {'latency/q s':>11} {'->reasoning':>11}")
    for mode, r in table.items():
        print(f"{mode:10} {r['accuracy']:8.0%} {r['hidden']:10d} {r['visible']:11d} {r['latency_s']:11.2f} {r['to_reasoning']:>8}/{n}")
    always = table["reasoning"]["hidden"]
    if always:
        print(f"auto spends {table['auto']['hidden'] / always:.2f}x the hidden tokens of always-reasoning "
              f"and {table['auto']['latency_s'] / table['reasoning']['latency_s']:.2f}x its latency")


if __name__ == "__main__":
    main()
