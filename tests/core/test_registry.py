"""The default base model and the model registry."""

from __future__ import annotations

import json
import os

import pytest

from studio.core import open_studio
from studio.errors import StudioError, UserError
from studio.models.registry import DEFAULT_MODEL_FILE, DEFAULT_MODEL_NAME


def test_first_use_assembles_and_registers_the_default_base_model(studio_with_model):
    m = studio_with_model.registry.get(DEFAULT_MODEL_NAME)
    assert m.kind == "base" and m.format == "gguf"
    assert m.architecture == "gemma3"
    assert m.quantization == "Q4_K_M"
    assert m.context_length == 32768
    assert m.chat_template is None and not m.is_instruct
    assert 250_000_000 < m.parameters < 300_000_000
    assert "semi-finished" in m.meta["note"]


def test_first_use_of_an_empty_home_assembles_the_model_from_the_package(tmp_path):
    st = open_studio(tmp_path / "h")
    try:
        m = st.registry.get(DEFAULT_MODEL_NAME)
        assert os.path.getsize(m.path) == m.file_size == 253113024
        assert not [p for p in (tmp_path / "h" / "models").iterdir() if p.name.startswith(".")]
    finally:
        st.close()


def test_corrupt_default_model_is_reported_not_overwritten(studio_with_model, tmp_path):
    m = studio_with_model.registry.get(DEFAULT_MODEL_NAME)
    studio_with_model.close()
    path = m.path
    os.unlink(path)  # break the hard link before writing, so the session copy stays intact
    with open(path, "wb") as f:
        f.write(b"GGUF" + b"\0" * 1000)
    with pytest.raises(StudioError) as e:
        open_studio(tmp_path / "home")
    assert path in e.value.message and "corrupt" in e.value.message
    assert "delete that file" in e.value.hint
    assert os.path.getsize(path) == 1004


def test_missing_default_model_is_recreated(studio_with_model, tmp_path):
    m = studio_with_model.registry.get(DEFAULT_MODEL_NAME)
    studio_with_model.close()
    os.unlink(m.path)
    st = open_studio(tmp_path / "home")
    try:
        assert os.path.getsize(m.path) == m.file_size
    finally:
        st.close()


def _tiny_hf_dir(path):
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "max_position_embeddings": 256}))
    (path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    return path


def test_import_registers_a_gguf_file_and_a_hf_directory(studio, gemma_gguf, tmp_path):
    g = studio.registry.import_path(gemma_gguf, name="my-gemma")
    assert g.kind == "base" and g.architecture == "gemma3" and not g.meta["managed"]
    h = studio.registry.import_path(_tiny_hf_dir(tmp_path / "tiny"), name="tiny")
    assert h.format == "hf" and h.architecture == "LlamaForCausalLM" and h.chat_template == "{{ messages }}"
    assert h.context_length == 256
    with pytest.raises(UserError, match="exists already"):
        studio.registry.import_path(gemma_gguf, name="my-gemma")


@pytest.mark.parametrize(
    "content, problem",
    [(b"", "bad magic"), (b"NOPE" + b"\0" * 64, "bad magic"), (b"GGUF\x03\0\0\0" + b"\xff" * 16, "corrupt GGUF header")],
)
def test_import_of_a_broken_gguf_names_the_file_and_stores_nothing(studio, tmp_path, content, problem):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    with pytest.raises(UserError) as e:
        studio.registry.import_path(bad)
    assert str(bad) in e.value.message and problem in e.value.message
    assert studio.registry.list() == []


def test_truncated_gguf_is_refused(studio, gemma_gguf, tmp_path):
    cut = tmp_path / "cut.gguf"
    with open(gemma_gguf, "rb") as f:
        cut.write_bytes(f.read(2_000_000))
    with pytest.raises(UserError, match="truncated"):
        studio.registry.import_path(cut)


def test_delete_refuses_while_others_depend_and_keeps_user_files(studio, gemma_gguf):
    from studio.db import Model

    base = studio.registry.import_path(gemma_gguf, name="b")
    studio.registry.add(Model(name="a", kind="adapter", format="peft", path="/nonexistent", parent_id=base.id, meta={}))
    with pytest.raises(UserError, match="a"):
        studio.registry.delete("b")
    studio.registry.delete("a")
    studio.registry.delete("b")
    assert os.path.exists(gemma_gguf)  # imported by path: the user's file stays


def test_gguf_header_reader_matches_the_gguf_package(gemma_gguf):
    """Our fast reader must agree with gguf's own on the facts the registry shows."""
    from gguf import GGUFReader

    from engines.conversion.gguf_meta import read_gguf_info

    info = read_gguf_info(gemma_gguf)
    r = GGUFReader(str(gemma_gguf))
    assert info.architecture == r.fields["general.architecture"].contents()
    assert info.context_length == r.fields["gemma3.context_length"].contents()
    assert len(info.tensors) == len(r.tensors)
    assert info.parameters == sum(int(t.n_elements) for t in r.tensors)


def test_default_model_file_name_is_stable():
    assert DEFAULT_MODEL_FILE == "gemma-3-270m-q4_k_m.gguf"


def test_deleting_a_gguf_base_also_removes_its_converted_copy(studio, gemma_gguf):
    from engines.conversion.gguf_to_hf import MARKER
    from studio.models.hf_cache import hf_dir_for

    base = studio.registry.import_path(gemma_gguf, name="b")
    hf = hf_dir_for(studio.home, base)
    hf.mkdir()
    (hf / MARKER).write_text("{}")  # what a finished conversion leaves
    removed = studio.registry.delete("b")
    assert str(hf) in removed and not hf.exists()
    assert os.path.exists(gemma_gguf)  # imported by path: the user's own file stays
