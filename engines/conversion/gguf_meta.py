"""Read a GGUF file's metadata and tensor table without loading the weights.

gguf.GGUFReader memory-maps every metadata array into numpy objects, which takes ~15 s
for gemma's 262k-token vocabulary. The registry only needs the scalars, so this reader
walks the header with struct and seeks past large arrays: a few hundred ms.

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
_MAX_STRING = 64 * 1024 * 1024  # a chat template is KBs; anything near this is corruption


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

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > _MAX_STRING or self.f.tell() + n > self.size:
            raise GGUFError(f"{self.path}: corrupt GGUF (a string of {n} bytes in the header)")
        return self.read(n).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.unpack("<Q")
        if self.f.tell() + n > self.size:
            raise GGUFError(f"{self.path}: corrupt GGUF (a string runs past the end of the file)")
        self.f.seek(n, os.SEEK_CUR)

    def value(self, vtype: int, keep_arrays: bool):
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype = self.unpack("<I")
            n = self.unpack("<Q")
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
                    return [self.string() for _ in range(n)]
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
            key = r.string()
            vtype = r.unpack("<I")
            meta[key] = r.value(vtype, keep_arrays=not key.startswith("tokenizer.ggml."))
        tensors: dict[str, tuple[tuple[int, ...], int]] = {}
        for _ in range(n_tensors):
            name = r.string()
            n_dims = r.unpack("<I")
            if n_dims > 8:
                raise GGUFError(f"{path}: corrupt GGUF (tensor {name} has {n_dims} dimensions)")
            shape = tuple(r.unpack("<Q") for _ in range(n_dims))
            ttype = r.unpack("<I")
            r.unpack("<Q")  # offset
            tensors[name] = (shape, ttype)
        header_end = f.tell()
    if n_tensors and header_end >= size:
        raise GGUFError(f"{path}: truncated GGUF (no tensor data after the header)")
    arch = meta.get("general.architecture")
    if not isinstance(arch, str):
        raise GGUFError(f"{path}: GGUF without general.architecture")
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
        name=meta.get("general.name") if isinstance(meta.get("general.name"), str) else None,
        metadata=meta,
        tensors=tensors,
    )
