"""Convert a GGUF base model into a Hugging Face directory that training can use.

transformers reads GGUF directly (dequantising every tensor), but a model loaded that way is
flagged as quantised and `save_pretrained` refuses it; it also spends ~10 s re-reading the
GGUF metadata and ~15 s converting gemma's tokenizer every time. So this runs once per base:
load through transformers, rebuild a plain model from the config (no quantization_config),
copy the weights in, save model + tokenizer to a temporary folder, then rename it into place.

    convert_gguf_to_hf("models/gemma-3-270m-q4_k_m.gguf", "models/gemma-3-270m-hf")

Run headless: `python -m engines.conversion.gguf_to_hf IN.gguf OUT_DIR`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from engines.conversion import ConversionError

MARKER = "studio-conversion.json"  # written last: a folder without it is not a finished conversion


def is_converted(out_dir: str | os.PathLike) -> bool:
    return (Path(out_dir) / MARKER).exists()


def convert_gguf_to_hf(gguf_path: str | os.PathLike, out_dir: str | os.PathLike, log=print) -> Path:
    """Dequantise a GGUF into a float32 HF directory (atomic: temp folder, then rename)."""
    gguf_path = Path(gguf_path).absolute()
    out_dir = Path(out_dir).absolute()
    if is_converted(out_dir):
        return out_dir
    if not gguf_path.is_file():
        raise ConversionError(f"{gguf_path}: no such GGUF file")

    from engines.conversion.gguf_meta import read_base_gguf

    info = read_base_gguf(gguf_path, hint="re-import or re-download the model file")

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.time()
    try:
        try:
            loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        except (ValueError, KeyError, NotImplementedError) as e:
            raise ConversionError(
                f"{gguf_path}: transformers cannot convert the {info.architecture!r} architecture "
                f"or its {info.file_type} quantisation ({e})",
                hint="import the model as a Hugging Face directory instead",
            ) from e
        log(f"loaded and dequantised {name} in {time.time() - t0:.0f} s")
        config = AutoConfig.from_pretrained(folder, gguf_file=name)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.dtype = "float32"
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
        tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
        if set(missing) - tied or unexpected:
            raise ConversionError(
                f"{gguf_path}: the dequantised weights do not fit the model built from its config "
                f"(missing {sorted(set(missing) - tied)[:5]}, unexpected {sorted(unexpected)[:5]})"
            )
        if tied:
            plain.tie_weights()
        del loaded
        tmp.mkdir(parents=True)
        plain.save_pretrained(tmp)
        t1 = time.time()
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        tok.save_pretrained(tmp)
        log(f"converted the tokenizer in {time.time() - t1:.0f} s")
        (tmp / MARKER).write_text(
            json.dumps(
                {
                    "source": str(gguf_path),
                    "source_size": gguf_path.stat().st_size,
                    "architecture": info.architecture,
                    "quantization": info.file_type,
                    "seconds": round(time.time() - t0, 1),
                },
                indent=2,
            )
        )
        if is_converted(out_dir):  # another process finished the same conversion first
            shutil.rmtree(tmp, ignore_errors=True)
            return out_dir
        if out_dir.exists():
            shutil.rmtree(out_dir)  # an unfinished folder from a crash (it had no marker)
        os.replace(tmp, out_dir)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno == 28:
            raise ConversionError(f"The disk is full while writing {out_dir}", hint="free disk space and retry") from e
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m engines.conversion.gguf_to_hf IN.gguf OUT_DIR", file=sys.stderr)
        return 2
    try:
        print(convert_gguf_to_hf(argv[0], argv[1]))
    except ConversionError as e:
        print(f"error: {e.message}" + (f" ({e.hint})" if e.hint else ""), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
