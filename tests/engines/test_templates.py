"""One chat template serves training and inference: same text, BOS first."""

from __future__ import annotations

import pytest

from engines.templates import TEMPLATES, get_template, inference_template, render

CONVERSATION = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "What is 2+2?"},
]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_training_and_inference_forms_render_the_same_text(name):
    t = get_template(name)
    assert "{%- generation -%}" in t.training and "endgeneration" not in t.inference
    for gen in (True, False):
        a = render(t.training, CONVERSATION, bos_token="<bos>", add_generation_prompt=gen)
        b = render(t.inference, CONVERSATION, bos_token="<bos>", add_generation_prompt=gen)
        assert a == b
        assert a.startswith("<bos>") and a.count("<bos>") == 1
    assert t.stop[0] in render(t.inference, CONVERSATION[:3], bos_token="<bos>")


def test_gemma_format_is_exact():
    text = render(get_template("gemma").inference, CONVERSATION, bos_token="<bos>", add_generation_prompt=True)
    assert text == (
        "<bos><start_of_turn>user\nAnswer briefly.\n\nHi there<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_inference_form_runs_in_a_plain_jinja_sandbox():
    """llama-cpp-python renders with a plain sandboxed Jinja env, without trl's extension."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    for t in TEMPLATES.values():
        plain = env.from_string(t.inference).render(messages=CONVERSATION, bos_token="<bos>", add_generation_prompt=True)
        assert plain == render(t.training, CONVERSATION, bos_token="<bos>", add_generation_prompt=True)


def test_hf_tokenizer_masks_exactly_the_assistant_text(gemma_hf_dir):
    """transformers reads the generation markers: the mask covers the answer and its end tag."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gemma_hf_dir)
    t = get_template("gemma")
    out = tok.apply_chat_template(
        CONVERSATION[:3], chat_template=t.training, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    masked = tok.decode([i for i, m in zip(ids, mask) if m])
    assert masked == "Hello!<end_of_turn>\n"


def test_unknown_template_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown chat template 'vicuna'"):
        get_template("vicuna")
    assert inference_template("{% generation %}x{% endgeneration %}") == "x"
