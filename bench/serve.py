"""Tokens/s through `studio serve` (the official openai client, streaming) against the in-app
chat path (ChatService.run_turn_for), same model, same prompts, same greedy settings, in the
same run, interleaved so both sides see the same machine load. Both are timed the same way, on
the caller's side: decode tokens/s = (tokens - 1) / (last token time - first token time).
Target: ratio >= 0.95.

    .venv/bin/python bench/serve.py [--runs 3] [--tokens 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chat_overhead import QUESTIONS, open_default_studio  # noqa: E402

MODEL = "gemma-3-270m (base)"


def rate(times: list[float], tokens: int) -> float:
    return (tokens - 1) / (times[-1] - times[0]) if tokens > 1 and len(times) > 1 and times[-1] > times[0] else 0.0


def in_app(chat, question: str, n: int) -> tuple[float, int]:
    times: list[float] = []
    out = chat.run_turn_for({"settings": {"temperature": 0.0, "max_tokens_fast": n}}, [{"role": "user", "content": question}],
                            mode="fast", model=MODEL, on_event=lambda ev: times.append(time.perf_counter())
                            if ev.get("type") == "answer" else None)
    k = out["stats"]["visible_tokens"]
    return rate(times, k), k


def served(client, question: str, n: int) -> tuple[float, int]:
    times: list[float] = []
    tokens = 0
    for ch in client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}], max_tokens=n,
                                             temperature=0.0, stream=True, stream_options={"include_usage": True}):
        if ch.usage:
            tokens = ch.usage.completion_tokens
        if ch.choices and ch.choices[0].delta.content:
            times.append(time.perf_counter())
    return rate(times, tokens), tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    import openai

    from studio.chat import ChatService
    from studio.serve import StudioServer

    with tempfile.TemporaryDirectory() as tmp:
        studio = open_default_studio(tmp)
        srv = StudioServer(studio, port=0).start()
        chat = ChatService(studio)
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="bench", max_retries=0, timeout=300)
        try:
            in_app(chat, "Hello", 4)  # load both model hosts before timing
            served(client, "Hello", 4)
            a, s = [], []
            for r in range(args.runs):
                for i, q in enumerate(QUESTIONS[: 4]):
                    pair = [("app", in_app, chat), ("server", served, client)]
                    if (r + i) % 2:
                        pair.reverse()
                    for name, fn, target in pair:
                        tps, k = fn(target, q, args.tokens)
                        (a if name == "app" else s).append(tps)
                        print(f"run {r} q{i} {name:6s} {k:3d} tokens {tps:6.1f} tok/s", flush=True)
        finally:
            chat.close()
            srv.close()
            studio.close()
    ma, ms = statistics.median(a), statistics.median(s)
    print(f"\nin-app chat path: median {ma:.1f} tok/s over {len(a)} turns")
    print(f"studio serve (openai client, streaming): median {ms:.1f} tok/s over {len(s)} turns")
    print(f"ratio server / in-app: {ms / ma:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
