"""The Ollama Modelfile written next to every export."""

from __future__ import annotations

from engines.conversion.modelfile import GO_TEMPLATES, build_modelfile
from engines.templates import TEMPLATES


def test_adapter_modelfile_names_base_and_adapter_with_template_and_stops():
    text = build_modelfile(from_path="/models/base.gguf", adapter_path="./bot-lora.gguf", template_name="gemma")
    lines = text.splitlines()
    assert "FROM /models/base.gguf" in lines and "ADAPTER ./bot-lora.gguf" in lines
    assert 'PARAMETER stop "<end_of_turn>"' in lines
    assert text.count('TEMPLATE """') == 1 and "{{ .Content }}<end_of_turn>" in text
    assert "<bos>" not in text  # Ollama adds BOS itself (add_bos_token in the GGUF)


def test_every_studio_template_has_a_go_translation_with_its_own_stop_marker():
    assert set(GO_TEMPLATES) == set(TEMPLATES)
    for name, tpl in TEMPLATES.items():
        for stop in tpl.stop:
            assert stop in GO_TEMPLATES[name]
        text = build_modelfile(from_path="./merged.gguf", template_name=name)
        assert f'PARAMETER stop "{tpl.stop[0]}"' in text and "ADAPTER" not in text


def test_unknown_template_leaves_the_gguf_template_in_charge_and_quotes_stops():
    text = build_modelfile(from_path="./m.gguf", template_name="custom", stop=['say "bye"'])
    assert "TEMPLATE" not in text.replace("# No TEMPLATE", "")
    assert 'PARAMETER stop "say \\"bye\\""' in text
