"""The Compare view's two panes at once: every core per model host (the baseline) vs the cores shared.

Both panes run the chat's default model (the shipped starter) on the same prompt at the same
time, as the Compare view does: one pane fast, one reasoning. The baseline gives each of the two
llama.cpp hosts a thread per core (llama.cpp's default in the studio); the studio now gives the
Compare slots half the cores each (`studio/chat/service.py: CONCURRENT_SLOTS`). The figures are the
wall time until both answers are in: the median and the worst of `--repeats` runs, and their
ratios. Oversubscribed, llama.cpp's threads wait on each other at every op, so the baseline's
worst run can stall for tens of seconds while its median looks fine.

    .venv/bin/python bench/compare_threads.py [--repeats 5] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = ("A baker makes 40 loaves in the morning and 26 in the afternoon, sells 17 of them, and then bakes "
          "10 more. How many loaves does the baker have?")


def both_panes(chat, slots: tuple[str, str], settings: dict) -> float:
    """Wall seconds until both panes (fast in one slot, reasoning in the other) have answered."""
    errors: list[BaseException] = []

    def pane(slot: str, mode: str) -> None:
        try:
            chat.run_pane(PROMPT, {"mode": mode}, slot=slot, settings=settings)
        except BaseException as e:  # noqa: BLE001 - reported after the join
            errors.append(e)

    threads = [threading.Thread(target=pane, args=(slots[0], "fast")), threading.Thread(target=pane, args=(slots[1], "reasoning"))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--home", default=None)
    args = ap.parse_args()

    from chat_overhead import open_bench_studio

    from studio.chat import ChatService
    from studio.chat.service import CONCURRENT_SLOTS

    st, tmp = open_bench_studio(args.home)
    chat = ChatService(st)
    settings = {"temperature": 0.0, "max_tokens_fast": 32, "max_tokens_reasoning": 32, "think_budget": 96}
    # the baseline's slots are not Compare slots: each host keeps a thread per core
    runs = {"every core per host (baseline)": ("bench-a", "bench-b"), "cores shared (Compare slots)": CONCURRENT_SLOTS}
    try:
        for slots in runs.values():  # load each host once, outside the timing
            both_panes(chat, slots, settings)
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):  # interleaved: a noisy moment hits both
            for name, slots in runs.items():
                times[name].append(both_panes(chat, slots, settings))
    finally:
        chat.close()
        st.close()
        if tmp is not None:
            tmp.cleanup()
    (base, new), (base_max, new_max) = ([f(v) for v in times.values()] for f in (statistics.median, max))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"two Compare panes at once (fast + reasoning), {os.cpu_count()} cores, load average {load:.2f}, "
          f"median of {args.repeats}")
    for name, v in times.items():
        print(f"  {name:32s} median {statistics.median(v):6.2f} s  worst {max(v):6.2f} s  ({', '.join(f'{x:.2f}' for x in v)})")
    print(f"  speed-up: median {base / new:.1f}x, worst {base_max / new_max:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
