"""Read a GGUF file's metadata and tensor table without loading the weights.

gguf.GGUFReader memory-maps every metadata array into numpy objects, which takes ~15 s
for gemma's 262k-token vocabulary. The registry only needs the scalars, so this reader
walks the header with struct and seeks past large arrays: a few hundred ms.

An imported GGUF is untrusted: every key, string, array, tensor name and shape in the header
is bounded (the _MAX_* constants) before it is used; long strings are skipped, not kept, and
general.name is reduced to printable characters. The chat template is kept as text and only
ever rendered in the sandboxed Jinja environment (engines/templates.py).

    info = read_gguf_info("model.gguf")   # GGUFInfo(architecture="gemma3", ...)
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"

# GGUFValueType ids (gguf/constants.py) -> struct format for the fixed-size ones
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# An imported GGUF is untrusted input: every size in its header is bounded before it is used.
_MAX_KEY = 256  # GGUF keys are dotted names like "tokenizer.chat_template"
_MAX_STRING = 64 * 1024 * 1024  # a string this long (tokenizer.huggingface.json is a few MB) is corruption
_MAX_KEPT_STRING = 64 * 1024  # metadata values longer than this are skipped, not kept
_MAX_CHAT_TEMPLATE = 1024 * 1024  # real templates are KBs
_MAX_ARRAY = 1 << 24  # elements; vocabularies and merges are a few hundred thousand
_MAX_TENSOR_NAME = 256  # GGML_MAX_NAME is 64
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_ELEMENTS = 1 << 48  # per tensor
_MAX_NAME = 200  # general.name as shown in the studio


class GGUFError(ValueError):
    """The file is not a readable GGUF; the message names the file and the cause."""


@dataclass
class GGUFInfo:
    path: str
    architecture: str
    file_type: str | None  # quantisation, e.g. "MOSTLY_Q4_K_M"
    kind: str  # "model" or "adapter"
    context_length: int | None
    block_count: int | None
    chat_template: str | None
    parameters: int
    file_size: int
    name: str | None
    metadata: dict[str, Any] = field(default_factory=dict)  # scalars and short arrays only
    tensors: dict[str, tuple[tuple[int, ...], int]] = field(default_factory=dict)  # name -> (shape, type)


class _R:
    def __init__(self, f: BinaryIO, path: str, size: int):
        self.f, self.path, self.size = f, path, size

    def read(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise GGUFError(f"{self.path}: truncated GGUF (ended inside the header)")
        return b

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self, limit: int = _MAX_STRING, what: str = "a string") -> str:
        n = self.unpack("<Q")
        if n > limit or self.f.tell() + n > self.size:
            raise GGUFError(f"{self.path}: corrupt GGUF ({what} of {n} bytes in the header; at most {limit})")
        return self.read(n).decode("utf-8", errors="replace")

    def skip_string(self) -> int:
        n = self.unpack("<Q")
        if n > _MAX_STRING or self.f.tell() + n > self.size:
            raise GGUFError(f"{self.path}: corrupt GGUF (a string of {n} bytes runs past the end of the file)")
        self.f.seek(n, os.SEEK_CUR)
        return n

    def kept_string(self, key: str):
        """A string value: kept when short (the chat template up to its own bound), else skipped."""
        limit = _MAX_CHAT_TEMPLATE if key == "tokenizer.chat_template" else _MAX_KEPT_STRING
        start = self.f.tell()
        n = self.unpack("<Q")
        self.f.seek(start)
        if n <= limit:
            return self.string(limit)
        if key == "tokenizer.chat_template":
            raise GGUFError(f"{self.path}: the chat template is {n} bytes; at most {limit} are accepted")
        return f"<string of {self.skip_string()} bytes>"

    def value(self, vtype: int, keep_arrays: bool, key: str = ""):
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype])
        if vtype == _STRING:
            return self.kept_string(key)
        if vtype == _ARRAY:
            etype = self.unpack("<I")
            n = self.unpack("<Q")
            if n > _MAX_ARRAY:
                raise GGUFError(f"{self.path}: corrupt GGUF (an array of {n} elements; at most {_MAX_ARRAY})")
            if etype in _SCALAR:
                width = struct.calcsize(_SCALAR[etype])
                if self.f.tell() + n * width > self.size:
                    raise GGUFError(f"{self.path}: corrupt GGUF (an array runs past the end of the file)")
                if keep_arrays and n <= 64:
                    return [self.unpack(_SCALAR[etype]) for _ in range(n)]
                self.f.seek(n * width, os.SEEK_CUR)
                return f"<array of {n}>"
            if etype == _STRING:
                if keep_arrays and n <= 64:
                    return [self.string(_MAX_KEPT_STRING) for _ in range(n)]
                for _ in range(n):
                    self.skip_string()
                return f"<array of {n} strings>"
            raise GGUFError(f"{self.path}: unsupported GGUF array element type {etype}")
        raise GGUFError(f"{self.path}: corrupt GGUF (unknown value type {vtype})")


def _file_type_name(ft: int | None) -> str | None:
    if ft is None:
        return None
    try:
        from gguf.constants import LlamaFileType

        return LlamaFileType(ft).name
    except Exception:
        return f"type {ft}"


def _tensor_elements(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def display_name(value: Any, limit: int = _MAX_NAME) -> str | None:
    """A name from untrusted metadata, fit to show: no control characters, bounded length."""
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip()
    return text[:limit] or None


def read_gguf_info(path: str | os.PathLike) -> GGUFInfo:
    path = str(path)
    try:
        size = os.path.getsize(path)
        f = open(path, "rb")
    except OSError as e:
        raise GGUFError(f"{path}: cannot open ({e.strerror or e})") from e
    with f:
        r = _R(f, path, size)
        if f.read(4) != GGUF_MAGIC:
            raise GGUFError(f"{path}: not a GGUF file (bad magic bytes)")
        version = r.unpack("<I")
        if version not in (2, 3):
            raise GGUFError(f"{path}: unsupported GGUF version {version}")
        n_tensors = r.unpack("<Q")
        n_kv = r.unpack("<Q")
        if n_tensors > 1_000_000 or n_kv > 1_000_000:
            raise GGUFError(f"{path}: corrupt GGUF header ({n_tensors} tensors, {n_kv} keys)")
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string(_MAX_KEY, "a key")
            vtype = r.unpack("<I")
            meta[key] = r.value(vtype, keep_arrays=not key.startswith("tokenizer.ggml."), key=key)
        tensors: dict[str, tuple[tuple[int, ...], int]] = {}
        for _ in range(n_tensors):
            name = r.string(_MAX_TENSOR_NAME, "a tensor name")
            n_dims = r.unpack("<I")
            if n_dims > _MAX_DIMS:
                raise GGUFError(f"{path}: corrupt GGUF (tensor {name!r} has {n_dims} dimensions)")
            shape = tuple(r.unpack("<Q") for _ in range(n_dims))
            if _tensor_elements(shape) > _MAX_ELEMENTS:
                raise GGUFError(f"{path}: corrupt GGUF (tensor {name!r} has shape {shape})")
            ttype = r.unpack("<I")
            r.unpack("<Q")  # offset
            tensors[name] = (shape, ttype)
        header_end = f.tell()
    if n_tensors and header_end >= size:
        raise GGUFError(f"{path}: truncated GGUF (no tensor data after the header)")
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch.replace("-", "").replace("_", "").isalnum() or len(arch) > 64:
        raise GGUFError(f"{path}: GGUF without a valid general.architecture")
    ctx = meta.get(f"{arch}.context_length")
    return GGUFInfo(
        path=path,
        architecture=arch,
        file_type=_file_type_name(meta.get("general.file_type")),
        kind=str(meta.get("general.type", "model")),
        context_length=int(ctx) if isinstance(ctx, int) else None,
        block_count=meta.get(f"{arch}.block_count") if isinstance(meta.get(f"{arch}.block_count"), int) else None,
        chat_template=meta.get("tokenizer.chat_template") if isinstance(meta.get("tokenizer.chat_template"), str) else None,
        parameters=sum(_tensor_elements(s) for s, _ in tensors.values()),
        file_size=size,
        name=display_name(meta.get("general.name")),
        metadata=meta,
        tensors=tensors,
    )


def read_base_gguf(path: str | os.PathLike, hint: str) -> GGUFInfo:
    """The header of a GGUF base model. ConversionError (with `hint`) if the file cannot be
    read, and also if it holds a LoRA adapter rather than a model."""
    from engines.conversion import ConversionError

    try:
        info = read_gguf_info(path)
    except GGUFError as e:
        raise ConversionError(str(e), hint=hint) from e
    if info.kind == "adapter":
        raise ConversionError(f"{path}: this GGUF is a LoRA adapter, not a base model")
    return info
