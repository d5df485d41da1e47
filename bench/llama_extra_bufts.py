"""Decode speed of the packaged gemma-3-270m Q4_K_M with and without llama.cpp's extra buffer types.

The model host turns them off after a crash on AMX CPUs (`engines.inference.llama_params`);
this says what that costs. Each run is its own child process (a crash there is reported as a
result, not a dead bench), and the two settings alternate so both see the same machine load.
Decode tokens/s comes from llama.cpp's own counters (`llama_perf_context`: eval time and count,
prompt processing excluded). Prints the medians, the ratio off/on of the medians and the median
of the per-pair ratios (a pair runs back to back, so it shares the machine's load), with the
load average at the start and the end.

    .venv/bin/python bench/llama_extra_bufts.py [--runs 5] [--tokens 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROMPT = "Here is a short story about a lighthouse keeper and a storm. Once upon a time,"


def one_run(extra_bufts: bool, tokens: int, threads: int, model: str) -> dict:
    """In this (child) process: load, decode `tokens` greedy tokens, read llama.cpp's timings."""
    import llama_cpp

    from engines.inference.llama_params import open_llama

    llm = open_llama(extra_bufts=extra_bufts, model_path=model, n_ctx=512, n_threads=threads,
                     n_threads_batch=threads, verbose=False)
    prompt = llm.tokenize(PROMPT.encode(), add_bos=True)
    llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
    n = 0
    for _tok in llm.generate(prompt, top_k=1, temp=0.0, reset=True):  # greedy; EOS is not special here
        n += 1
        if n >= tokens:
            break
    perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
    return {"decode_tokens_per_s": perf.n_eval / (perf.t_eval_ms / 1000), "n_eval": perf.n_eval,
            "prompt_tokens_per_s": perf.n_p_eval / (perf.t_p_eval_ms / 1000) if perf.t_p_eval_ms else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", choices=["on", "off"], help=argparse.SUPPRESS)  # the child's side
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one == "on", args.tokens, args.threads, args.model)))
        return

    from chat_overhead import model_path

    from engines.inference.llama_params import system_info

    model = model_path()
    load_start = os.getloadavg()
    results: dict[str, list[float]] = {"on": [], "off": []}
    pair_ratios = []
    crashes: dict[str, str] = {}
    for _ in range(args.runs):
        pair = {}
        for side in ("on", "off"):
            p = subprocess.run([sys.executable, __file__, "--one", side, "--model", model, "--tokens", str(args.tokens),
                                "--threads", str(args.threads)], capture_output=True, text=True, cwd=ROOT)
            if p.returncode != 0:
                crashes[side] = f"exit code {p.returncode}: {p.stderr.strip()[-300:]}"
                continue
            pair[side] = json.loads(p.stdout.strip().splitlines()[-1])["decode_tokens_per_s"]
            results[side].append(pair[side])
        if len(pair) == 2:
            pair_ratios.append(pair["off"] / pair["on"])
    med = {k: statistics.median(v) if v else None for k, v in results.items()}
    out = {
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "threads": args.threads,
        "tokens": args.tokens,
        "runs": args.runs,
        "decode_tokens_per_s_extra_bufts_on": med["on"],
        "decode_tokens_per_s_extra_bufts_off": med["off"],
        "ratio_off_over_on": med["off"] / med["on"] if med["on"] and med["off"] else None,
        "median_pair_ratio_off_over_on": statistics.median(pair_ratios) if pair_ratios else None,
        "pair_ratios": pair_ratios,
        "all_runs": results,
        "crashes": crashes,
        "system_info": system_info(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
