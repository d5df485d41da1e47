"""The export service end to end: a registered adapter -> an export job (a real child process)
-> files in exports/ -> a registry entry with lineage, loaded by real llama.cpp.

The adapters here are random LoRAs in gemma-3-270m's shapes (fast); the agreement with
transformers+peft on a really trained adapter is in tests/engines/test_export_agreement.py.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from studio.errors import UserError
from studio.models.exports import lineage, submit_export
from tests.export_fixtures import GEMMA_270M, register_adapter, write_random_lora


def _run(studio, job_id):
    assert studio.jobs.try_become_runner()
    return studio.jobs.wait(job_id, timeout=300)


def test_export_job_writes_gguf_lora_and_modelfile_and_registers_the_lineage(studio_with_model, tmp_path):
    st = studio_with_model
    adapter = register_adapter(st, write_random_lora(tmp_path / "ad", **GEMMA_270M, modules=("q_proj", "v_proj")))
    job = _run(st, submit_export(st, adapter.name))
    assert job.state == "succeeded", (job.error, job.hint)

    export = st.registry.get(job.result["model"])
    base = st.registry.get("gemma-3-270m (base)")
    assert (export.kind, export.format, export.parent_id, export.job_id) == ("export", "gguf-lora", adapter.id, job.id)
    assert export.meta["base_gguf"] == base.path and export.meta["type"] == "lora"
    assert export.chat_template == adapter.chat_template and export.architecture == "gemma3"
    assert sorted(p.name for p in st.home.exports.iterdir()) == ["tiny-adapter-lora.Modelfile", "tiny-adapter-lora.gguf"]

    modelfile = (st.home.exports / "tiny-adapter-lora.Modelfile").read_text()
    assert f"FROM {base.path}\n" in modelfile
    assert "ADAPTER ./tiny-adapter-lora.gguf\n" in modelfile
    assert 'TEMPLATE """' in modelfile and "<start_of_turn>model" in modelfile
    assert 'PARAMETER stop "<end_of_turn>"' in modelfile

    chain = lineage(st, export.id)
    assert [s["name"] for s in chain] == [export.name, adapter.name, base.name]
    assert chain[0]["job"]["kind"] == "export" and chain[0]["job"]["config"]["adapter_id"] == adapter.id

    from engines.inference.llama_params import open_llama  # the model host loads a gguf-lora export like this

    llm = open_llama(model_path=export.meta["base_gguf"], lora_path=export.path, n_ctx=64, verbose=False)
    assert len(llm.create_completion("Hello", max_tokens=2, temperature=0.0)["choices"][0]["text"]) > 0


def test_cli_exports_a_merged_q8_0_model_carrying_the_adapter_template(studio_with_model, tmp_path):
    from engines.conversion.gguf_meta import read_gguf_info
    from studio.cli import main

    st = studio_with_model
    adapter = register_adapter(st, write_random_lora(tmp_path / "ad", **GEMMA_270M, modules=("o_proj",)), name="my adapter")
    st.close()  # the CLI opens the home itself and runs the job
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--home", str(st.home.root), "export", "gguf", "my adapter", "--merge", "--type", "q8_0", "--wait", "--json"])
    result = json.loads(out.getvalue())
    assert code == 0, result
    export = result["export"]
    assert (export["format"], export["quantization"], export["parent"]) == ("gguf", "Q8_0", "my adapter")
    info = read_gguf_info(export["path"])
    assert info.file_type == "MOSTLY_Q8_0"
    assert info.chat_template == adapter.chat_template  # llama.cpp's chat completion uses it unasked
    assert info.metadata["tokenizer.ggml.bos_token_id"] == 2  # the tokenizer came along
    assert export["path"].endswith("exports/my-adapter-merged-q8_0.gguf")
    modelfile = open(export["meta"]["modelfile"]).read().splitlines()
    assert "FROM ./my-adapter-merged-q8_0.gguf" in modelfile and not any(l.startswith("ADAPTER") for l in modelfile)


def test_adapter_from_another_base_fails_the_job_with_the_cause_and_exports_stays_empty(studio_with_model, tmp_path):
    st = studio_with_model
    small = dict(GEMMA_270M, hidden=64, q_out=64, kv_out=32, ffn=128, layers=2)
    adapter = register_adapter(st, write_random_lora(tmp_path / "ad", **small), name="foreign")
    job = _run(st, submit_export(st, adapter.name))
    assert job.state == "failed"
    assert "adapter_model.safetensors" in job.error and "different base model" in job.error
    assert "base model it was trained on" in job.hint
    assert list(st.home.exports.iterdir()) == []
    assert [m.name for m in st.registry.list("export") if not m.meta.get("starter")] == []  # only the packaged starter


def test_missing_adapter_config_is_refused_before_any_job_is_queued(studio_with_model, tmp_path):
    st = studio_with_model
    ad = write_random_lora(tmp_path / "ad", **GEMMA_270M, modules=("q_proj",))
    adapter = register_adapter(st, ad)
    (ad / "adapter_config.json").unlink()
    with pytest.raises(UserError) as e:
        submit_export(st, adapter.name)
    assert str(ad / "adapter_config.json") in e.value.message
    assert st.jobs.list() == []


def test_only_adapters_can_be_exported_and_merge_needs_a_whole_model_type(studio_with_model, tmp_path):
    st = studio_with_model
    with pytest.raises(UserError, match="only PEFT LoRA adapters"):
        submit_export(st, "gemma-3-270m (base)")
    adapter = register_adapter(st, write_random_lora(tmp_path / "ad", **GEMMA_270M, modules=("q_proj",)))
    with pytest.raises(UserError, match="f16 or q8_0"):
        submit_export(st, adapter.name, merge=True, out_type="lora")


def test_a_reward_model_is_refused_with_a_reason_before_any_job(studio_with_model, tmp_path):
    from studio.db import Model

    st = studio_with_model
    adapter = register_adapter(st, write_random_lora(tmp_path / "rm", **GEMMA_270M, modules=("q_proj",)), name="rm")
    with st.db.session() as s:
        m = s.get(Model, adapter.id)
        m.meta = {**m.meta, "method": "reward"}
    with pytest.raises(UserError, match="is a reward model") as e:
        submit_export(st, "rm")
    assert "Rate and Compare" in e.value.hint
    assert st.jobs.list() == []


def test_deleting_an_export_removes_its_gguf_and_modelfile_and_the_adapter_names_it_first(studio_with_model, tmp_path):
    st = studio_with_model
    adapter = register_adapter(st, write_random_lora(tmp_path / "ad", **GEMMA_270M, modules=("q_proj",)))
    job = _run(st, submit_export(st, adapter.name))
    export = st.registry.get(job.result["model"])
    with pytest.raises(UserError, match="GGUF LoRA"):
        st.registry.delete(adapter.id)  # the message names the export that depends on it
    removed = st.registry.delete(export.id)
    assert sorted(removed) == sorted([export.path, export.meta["modelfile"]])
    assert list(st.home.exports.iterdir()) == []


def test_an_imported_peft_folder_without_a_base_is_exported_on_the_base_named(studio_with_model, tmp_path):
    st = studio_with_model
    imported = st.registry.import_path(write_random_lora(tmp_path / "peft-folder", **GEMMA_270M, modules=("q_proj",)))
    assert imported.kind == "adapter" and imported.parent_id is None
    with pytest.raises(UserError, match="no base model") as e:
        submit_export(st, imported.name)
    assert "--base" in e.value.hint
    job = _run(st, submit_export(st, imported.name, base_ref="gemma-3-270m (base)"))
    assert job.state == "succeeded", (job.error, job.hint)
    export = st.registry.get(job.result["model"])
    assert export.meta["base"] == "gemma-3-270m (base)" and export.meta["base_gguf"].endswith("gemma-3-270m-q4_k_m.gguf")
