"""Prompt-lookup decoding (n-gram speculation from the prompt) on and off, through the model host.

Two tasks, same model (the packaged gemma-3-270m), greedy, interleaved on/off in the same run:
- copy: a passage followed by "the same passage, copied:" so the answer repeats the prompt
  (the case prompt lookup exists for: rewriting, summarising with quotes, editing code);
- chat: plain chat questions in the model's template, whose answers do not copy the prompt.
Reports decode tokens/s (after the first token), whole-request seconds and the model host's CPU
seconds per request (which other load on the machine barely moves), and the on/off ratios. The chat default may only be on if plain chat never slows down by more than 2%.

    .venv/bin/python bench/speculative.py [--runs 3] [--tokens 96] [--prompts 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chat_overhead import QUESTIONS, model_path  # noqa: E402

PASSAGES = [
    "The lighthouse on the northern cliffs was built in 1872 from granite quarried on the island. Its lamp burned "
    "whale oil until 1905, then paraffin, and since 1961 it has run on electricity from the village grid. The keeper's "
    "cottage now houses a small museum with the original lens, a logbook of storms and the keeper's brass telescope.",
    "To reset the router, hold the small button on the back for ten seconds until the light blinks orange. Wait two "
    "minutes for it to restart, then connect to the network named on the sticker under the router and open the setup "
    "page in a browser. Choose a new password of at least twelve characters and write it down somewhere safe.",
    "def moving_average(values, window):\n    if window <= 0:\n        raise ValueError('window must be positive')\n"
    "    out = []\n    total = 0.0\n    for i, v in enumerate(values):\n        total += v\n        if i >= window:\n"
    "            total -= values[i - window]\n        if i >= window - 1:\n            out.append(total / window)\n"
    "    return out\n",
]


def copy_prompt(passage: str) -> str:
    return f"Original:\n{passage}\n\nThe same text, copied exactly:\n"


def chat_prompt(question: str) -> str:
    from engines.templates import get_template, render

    return render(get_template("gemma").inference, [{"role": "user", "content": question}], bos_token="",
                  add_generation_prompt=True)


def host_cpu_s(backend) -> float:
    """CPU seconds the model-host child has used: unlike wall time, barely moved by other load."""
    import psutil

    t = psutil.Process(backend.pid).cpu_times()
    return t.user + t.system


def one(backend, spec, prompt: str, n: int) -> tuple[float, float, int, float]:
    from engines.inference.backend import CompletionParams, Done, Sampling

    cpu0 = host_cpu_s(backend)
    t0 = time.perf_counter()
    times, tokens = [], 0
    for ev in backend.complete(prompt, CompletionParams(n, ("<end_of_turn>",), Sampling(temperature=0.0)), spec=spec):
        if isinstance(ev, Done):
            tokens = ev.completion_tokens
            break
        times.append(time.perf_counter())
    total = time.perf_counter() - t0
    rate = (tokens - 1) / (times[-1] - times[0]) if tokens > 1 and len(times) > 1 and times[-1] > times[0] else 0.0
    return rate, total, tokens, host_cpu_s(backend) - cpu0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--prompts", type=int, default=4, help="prompts per task (a loaded machine needs fewer)")
    args = ap.parse_args()
    from engines.inference.host import LocalBackend, ModelSpec

    path = model_path()
    specs = {False: ModelSpec(path), True: ModelSpec(path, prompt_lookup=True)}
    backend = LocalBackend(max_models=2)
    results: dict[tuple[str, bool], list[tuple[float, float, int]]] = {}
    try:
        for spec in specs.values():
            backend.load(spec)
        tasks = {"copy": [copy_prompt(p) for p in PASSAGES[: args.prompts]],
                 "chat": [chat_prompt(q) for q in QUESTIONS[: args.prompts]]}
        for r in range(args.runs):
            for task, prompts in tasks.items():
                for i, prompt in enumerate(prompts):
                    order = [False, True] if (r + i) % 2 == 0 else [True, False]
                    for on in order:
                        res = one(backend, specs[on], prompt, args.tokens)
                        results.setdefault((task, on), []).append(res)
                        print(f"run {r} {task} {i} lookup={'on ' if on else 'off'} {res[2]:3d} tokens "
                              f"{res[0]:6.1f} tok/s {res[1]:5.2f} s, host CPU {res[3]:5.2f} s", flush=True)
    finally:
        backend.close()
    print()
    for task in ("copy", "chat"):
        off, on = results[(task, False)], results[(task, True)]
        r_off, r_on = statistics.median(x[0] for x in off), statistics.median(x[0] for x in on)
        s_off, s_on = statistics.median(x[1] for x in off), statistics.median(x[1] for x in on)
        worst = min(a[0] / b[0] for a, b in zip(on, off) if b[0])
        c_off, c_on = statistics.median(x[3] for x in off), statistics.median(x[3] for x in on)
        print(f"{task}: host CPU per request {c_off:.2f} -> {c_on:.2f} s (on/off {c_on / c_off:.2f}; "
              f"worst pair {max(a[3] / b[3] for a, b in zip(on, off) if b[3]):.2f})")
        print(f"{task}: decode {r_off:.1f} -> {r_on:.1f} tok/s (x{r_on / r_off:.2f}); request {s_off:.2f} -> {s_on:.2f} s "
              f"(x{s_off / s_on:.2f} faster); worst single-prompt decode ratio {worst:.2f}; "
              f"tokens {sum(x[2] for x in off)} / {sum(x[2] for x in on)}")


if __name__ == "__main__":
    main()
