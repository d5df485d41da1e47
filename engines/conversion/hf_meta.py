"""Read a Hugging Face model directory's facts (architecture, size, template) from its files."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path


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


def _safetensors_params(path: Path) -> int:
    """Count parameters from safetensors headers (8-byte length + JSON), never the data."""
    total = 0
    for f in sorted(path.glob("*.safetensors")):
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > 100 * 1024 * 1024:
                raise HFDirError(f"{f}: corrupt safetensors header")
            header = json.loads(fh.read(n))
        for k, v in header.items():
            if k == "__metadata__":
                continue
            c = 1
            for d in v["shape"]:
                c *= d
            total += c
    return total


def _chat_template(path: Path) -> str | None:
    jinja = path / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text(encoding="utf-8")
    tc = path / "tokenizer_config.json"
    if tc.exists():
        try:
            t = json.loads(tc.read_text(encoding="utf-8")).get("chat_template")
        except json.JSONDecodeError as e:
            raise HFDirError(f"{tc}: not valid JSON ({e})") from e
        if isinstance(t, str):
            return t
    return None


def read_hf_info(path: str | Path) -> HFInfo:
    path = Path(path)
    if not path.is_dir():
        raise HFDirError(f"{path}: not a directory")
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    adapter_cfg = path / "adapter_config.json"
    if adapter_cfg.exists():
        try:
            cfg = json.loads(adapter_cfg.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise HFDirError(f"{adapter_cfg}: not valid JSON ({e})") from e
        return HFInfo(
            path=str(path),
            architecture=str(cfg.get("peft_type", "LORA")),
            model_type="peft",
            parameters=_safetensors_params(path) or None,
            dtype=None,
            context_length=None,
            chat_template=_chat_template(path),
            file_size=size,
            is_peft_adapter=True,
            base_model=cfg.get("base_model_name_or_path"),
        )
    config = path / "config.json"
    if not config.exists():
        raise HFDirError(
            f"{path}: no config.json or adapter_config.json; not a Hugging Face model or PEFT adapter directory"
        )
    try:
        cfg = json.loads(config.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise HFDirError(f"{config}: not valid JSON ({e})") from e
    text_cfg = cfg.get("text_config") or cfg
    archs = cfg.get("architectures") or [cfg.get("model_type", "unknown")]
    return HFInfo(
        path=str(path),
        architecture=str(archs[0]),
        model_type=str(cfg.get("model_type", "unknown")),
        parameters=_safetensors_params(path) or None,
        dtype=cfg.get("torch_dtype") or cfg.get("dtype"),
        context_length=text_cfg.get("max_position_embeddings"),
        chat_template=_chat_template(path),
        file_size=size,
    )
