"""Imported GGUF files and Hugging Face folders are untrusted: every size in their metadata is
bounded, a name cannot be a path, a link cannot read files outside the folder, and a chat
template from such a file is still rendered in the sandboxed Jinja environment."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import jinja2
import pytest

from engines.conversion.gguf_meta import GGUFError, read_gguf_info
from engines.conversion.hf_meta import HFDirError, read_hf_info
from engines.templates import render
from studio.errors import UserError


# ---- a GGUF writer that can lie ----------------------------------------------------------------
def s(text: str | bytes, claimed: int | None = None) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw) if claimed is None else claimed) + raw


def kv(key: str | bytes, vtype: int, value: bytes) -> bytes:
    return s(key) + struct.pack("<I", vtype) + value


STRING, ARRAY, U32 = 8, 9, 4


def gguf(path: Path, kvs: list[bytes], tensors: list[tuple[str, tuple[int, ...]]] = (("w", (4,)),)) -> Path:
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    for name, shape in tensors:
        head += s(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        head += struct.pack("<IQ", 0, 0)  # F32, offset 0
    head += b"\0" * (-len(head) % 32)
    path.write_bytes(head + b"\0" * 64)
    return path


ARCH = kv("general.architecture", STRING, s("llama"))


def test_a_well_formed_gguf_reads(tmp_path):
    info = read_gguf_info(gguf(tmp_path / "m.gguf", [ARCH, kv("tokenizer.chat_template", STRING, s("{{ x }}"))]))
    assert info.architecture == "llama" and info.chat_template == "{{ x }}" and info.parameters == 4


@pytest.mark.parametrize("kvs, tensors, message", [
    ([ARCH, kv("general.description", STRING, s("x", claimed=1 << 40))], None, "a string of"),
    ([kv("k" * 10_000, STRING, s("v")), ARCH], None, "a key of 10000 bytes"),
    ([ARCH, kv("general.tags", ARRAY, struct.pack("<IQ", U32, 1 << 30))], None, "an array of 1073741824 elements"),
    ([ARCH, kv("tokenizer.ggml.tokens", ARRAY, struct.pack("<IQ", STRING, 3) + s("a") + s("b", claimed=1 << 50))], None,
     "runs past the end"),
    ([ARCH, kv("tokenizer.chat_template", STRING, s("{{ x }}" * 200_000))], None, "the chat template is 1400000 bytes"),
    ([ARCH], [("t" * 1000, (4,))], "a tensor name of 1000 bytes"),
    ([ARCH], [("w", (2, 2, 2, 2, 2))], "has 5 dimensions"),
    ([ARCH], [("w", (1 << 30, 1 << 30))], "has shape"),
    ([kv("general.architecture", STRING, s("../../etc"))], None, "valid general.architecture"),
], ids=["string_size", "key_size", "array_size", "string_in_a_skipped_array", "chat_template_size", "tensor_name_size",
        "tensor_dimensions", "tensor_elements", "architecture_as_a_path"])
def test_gguf_metadata_sizes_are_bounded(tmp_path, kvs, tensors, message):
    path = gguf(tmp_path / "evil.gguf", kvs, tensors or (("w", (4,)),))
    with pytest.raises(GGUFError, match=message):
        read_gguf_info(path)


def test_long_gguf_strings_are_skipped_not_kept_and_the_name_is_made_printable(tmp_path):
    info = read_gguf_info(gguf(tmp_path / "m.gguf", [
        ARCH, kv("general.description", STRING, s("x" * 200_000)),
        kv("general.name", STRING, s("nice\x1b[2J\x00 model" + "!" * 500))]))
    assert info.metadata["general.description"] == "<string of 200000 bytes>"
    assert info.name == "nice[2J model" + "!" * 187 and len(info.name) == 200


# ---- names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../evil", "a/b", "..", "a\\b", "tab\there", "x" * 201, "  "])
def test_an_imported_model_name_cannot_be_a_path(studio, tmp_path, name):
    path = gguf(tmp_path / "m.gguf", [ARCH])
    with pytest.raises(UserError, match="cannot be a model name"):
        studio.registry.import_path(path, name=name)
    assert [m.name for m in studio.registry.list()] == []  # nothing stored


def test_an_import_named_after_its_file_is_kept(studio, tmp_path):
    m = studio.registry.import_path(gguf(tmp_path / "tiny-llama.gguf", [ARCH]))
    assert m.name == "tiny-llama"


# ---- Hugging Face folders ------------------------------------------------------------------------
def hf_folder(root: Path, **files) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                                  "max_position_embeddings": 2048}))
    for name, text in files.items():
        (root / name.replace("__", ".")).write_text(text)
    return root


def test_a_link_out_of_the_folder_is_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    folder = hf_folder(tmp_path / "model")
    (folder / "chat_template.jinja").symlink_to(secret)
    with pytest.raises(HFDirError, match="links out of the model folder"):
        read_hf_info(folder)
    (folder / "chat_template.jinja").unlink()
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to("../secret.txt")
    with pytest.raises(HFDirError, match="links out of the model folder"):
        read_hf_info(folder)


def test_hugging_face_cache_snapshot_links_stay_readable(tmp_path):
    repo = tmp_path / "models--org--tiny"
    blob = hf_folder(repo / "blobs-src")
    (repo / "blobs").mkdir()
    (blob / "config.json").rename(repo / "blobs" / "abc123")
    snap = repo / "snapshots" / "rev"
    snap.mkdir(parents=True)
    (snap / "config.json").symlink_to("../../blobs/abc123")
    assert read_hf_info(snap).architecture == "LlamaForCausalLM"


def test_oversized_hf_files_are_refused(tmp_path):
    folder = hf_folder(tmp_path / "model")
    (folder / "chat_template.jinja").write_text("{{ x }}" * 200_000)
    with pytest.raises(HFDirError, match="larger than 1048576 bytes"):
        read_hf_info(folder)
    (folder / "chat_template.jinja").unlink()
    with open(folder / "tokenizer_config.json", "wb") as f:
        f.truncate(33 * 1024 * 1024)  # sparse: big on paper, no disk used
    with pytest.raises(HFDirError, match="larger than 33554432 bytes"):
        read_hf_info(folder)


def test_hf_strings_are_bounded_and_printable_and_numbers_checked(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["A" * 10_000], "model_type": "llama\x1b]0;pwned\x07", "torch_dtype": "x" * 100,
        "max_position_embeddings": "999999999999999999999"}))
    info = read_hf_info(folder)
    assert info.architecture == "A" * 200
    assert info.model_type == "llama]0;pwned"
    assert info.dtype == "x" * 32
    assert info.context_length is None


def test_a_corrupt_safetensors_header_is_an_error_not_a_crash(tmp_path):
    folder = hf_folder(tmp_path / "model")
    header = json.dumps({"w": {"dtype": "F32", "shape": "not a list", "data_offsets": [0, 4]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(HFDirError, match="corrupt safetensors header"):
        read_hf_info(folder)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 1 << 62))
    with pytest.raises(HFDirError, match="corrupt safetensors header"):
        read_hf_info(folder)


# ---- chat templates ----------------------------------------------------------------------------
EVIL_TEMPLATES = {
    "reach_python_classes": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "reach_os_through_globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "mutate_a_list": "{% set x = [] %}{{ x.append(1) }}",
}


@pytest.mark.parametrize("way", sorted(EVIL_TEMPLATES))
def test_an_imported_chat_template_is_rendered_in_the_jinja_sandbox(studio, tmp_path, way):
    path = gguf(tmp_path / "m.gguf", [ARCH, kv("tokenizer.chat_template", STRING, s(EVIL_TEMPLATES[way]))])
    m = studio.registry.import_path(path, name=f"evil-{way}")
    assert m.chat_template == EVIL_TEMPLATES[way]  # stored as data
    with pytest.raises((jinja2.exceptions.SecurityError, jinja2.exceptions.UndefinedError)):
        render(m.chat_template, [{"role": "user", "content": "hi"}])  # what the chat's turn renderer calls
