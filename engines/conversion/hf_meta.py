"""Read a Hugging Face model directory's facts (architecture, size, template) from its files.

An imported folder is untrusted input. Every file is read with a size bound, a file that is
a link out of the folder is refused (except the Hugging Face cache's snapshot -> blob links,
which stay inside the model's `models--*` folder), and every string that reaches the
registry is bounded and stripped of control characters.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

_MAX_JSON = 32 * 1024 * 1024  # tokenizer_config.json with a 262k vocabulary is ~1 MB
_MAX_CHAT_TEMPLATE = 1024 * 1024
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
_MAX_TEXT = 200  # architecture, model type, dtype as shown
_MAX_BASE_MODEL = 512  # a hub id or a path, shown only


class HFDirError(ValueError):
    pass


@dataclass
class HFInfo:
    path: str
    architecture: str
    model_type: str
    parameters: int | None
    dtype: str | None
    context_length: int | None
    chat_template: str | None
    file_size: int
    is_peft_adapter: bool = False
    base_model: str | None = None


def _inside(folder: Path, f: Path) -> bool:
    """Does `f` resolve inside the folder (or the HF cache repo folder holding it)?"""
    real = Path(os.path.realpath(f))
    roots = [Path(os.path.realpath(folder))]
    roots += [p for p in roots[0].parents if p.name.startswith("models--")][:1]
    return any(real == r or r in real.parents for r in roots)


def _checked_file(folder: Path, f: Path) -> Path:
    """`f` resolved, if it stays inside the folder and is a regular file; else an error."""
    real = Path(os.path.realpath(f))
    if not _inside(folder, f):
        raise HFDirError(f"{f}: links out of the model folder (to {real}); refusing to read it")
    if not real.is_file():
        raise HFDirError(f"{f}: not a regular file")
    return real


def _read_bounded(folder: Path, f: Path, limit: int) -> bytes:
    real = _checked_file(folder, f)
    with open(real, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise HFDirError(f"{f}: larger than {limit} bytes; refusing to read it")
    return data


def _read_json(folder: Path, f: Path) -> dict:
    try:
        value = json.loads(_read_bounded(folder, f, _MAX_JSON).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise HFDirError(f"{f}: not valid JSON ({e})") from e
    if not isinstance(value, dict):
        raise HFDirError(f"{f}: not a JSON object")
    return value


def _text(value, limit: int = _MAX_TEXT) -> str | None:
    """A string from untrusted metadata, fit to show: printable characters only, bounded."""
    if not isinstance(value, str):
        return None
    return "".join(ch for ch in value if ch.isprintable()).strip()[:limit] or None


def _int(value, high: int = 1 << 40) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= high else None


def _safetensors_params(path: Path) -> int:
    """Count parameters from safetensors headers (8-byte length + JSON), never the data."""
    total = 0
    for f in sorted(path.glob("*.safetensors")):
        with open(_checked_file(path, f), "rb") as fh:
            raw = fh.read(8)
            (n,) = struct.unpack("<Q", raw) if len(raw) == 8 else (-1,)
            if not 0 < n <= _MAX_SAFETENSORS_HEADER:
                raise HFDirError(f"{f}: corrupt safetensors header")
            try:
                header = json.loads(fh.read(n))
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
                raise HFDirError(f"{f}: corrupt safetensors header ({e})") from e
        if not isinstance(header, dict):
            raise HFDirError(f"{f}: corrupt safetensors header")
        for k, v in header.items():
            if k == "__metadata__":
                continue
            shape = v.get("shape") if isinstance(v, dict) else None
            if not isinstance(shape, list) or len(shape) > 8 or not all(_int(d) or d == 0 for d in shape):
                raise HFDirError(f"{f}: corrupt safetensors header (tensor {str(k)[:80]!r})")
            c = 1
            for d in shape:
                c *= d
            total += c
    return total


def _chat_template(path: Path) -> str | None:
    jinja = path / "chat_template.jinja"
    if jinja.exists() or jinja.is_symlink():
        try:
            return _read_bounded(path, jinja, _MAX_CHAT_TEMPLATE).decode("utf-8")
        except UnicodeDecodeError as e:
            raise HFDirError(f"{jinja}: not UTF-8 text ({e})") from e
    tc = path / "tokenizer_config.json"
    if tc.exists() or tc.is_symlink():
        t = _read_json(path, tc).get("chat_template")
        if isinstance(t, str):
            if len(t.encode("utf-8")) > _MAX_CHAT_TEMPLATE:
                raise HFDirError(f"{tc}: the chat template is larger than {_MAX_CHAT_TEMPLATE} bytes")
            return t
    return None


def read_hf_info(path: str | Path) -> HFInfo:
    path = Path(path)
    if not path.is_dir():
        raise HFDirError(f"{path}: not a directory")
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and _inside(path, f))
    adapter_cfg = path / "adapter_config.json"
    if adapter_cfg.exists() or adapter_cfg.is_symlink():
        cfg = _read_json(path, adapter_cfg)
        return HFInfo(
            path=str(path),
            architecture=_text(cfg.get("peft_type")) or "LORA",
            model_type="peft",
            parameters=_safetensors_params(path) or None,
            dtype=None,
            context_length=None,
            chat_template=_chat_template(path),
            file_size=size,
            is_peft_adapter=True,
            base_model=_text(cfg.get("base_model_name_or_path"), _MAX_BASE_MODEL),
        )
    config = path / "config.json"
    if not (config.exists() or config.is_symlink()):
        raise HFDirError(
            f"{path}: no config.json or adapter_config.json; not a Hugging Face model or PEFT adapter directory"
        )
    cfg = _read_json(path, config)
    text_cfg = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else cfg
    archs = cfg.get("architectures") if isinstance(cfg.get("architectures"), list) else []
    return HFInfo(
        path=str(path),
        architecture=_text(archs[0] if archs else None) or _text(cfg.get("model_type")) or "unknown",
        model_type=_text(cfg.get("model_type")) or "unknown",
        parameters=_safetensors_params(path) or None,
        dtype=_text(cfg.get("torch_dtype") or cfg.get("dtype"), 32),
        context_length=_int(text_cfg.get("max_position_embeddings"), 1 << 26),
        chat_template=_chat_template(path),
        file_size=size,
    )
