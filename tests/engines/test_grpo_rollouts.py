"""GRPO rollouts as the chat's reasoning mode runs: a prefilled think block and the calculator
writing each "a op b =" result, neither of them trained on (engines/training/rollouts.py)."""

import types
from pathlib import Path

import pytest

from engines.templates import CHATML
from engines.training.grpo import GRPOJobConfig, run_grpo
from engines.training.rollouts import _Row, thinking_rollout
from tests.engines.pref_tiny import write_jsonl
from tests.helpers.tiny_model import make_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    path = make_tiny_model(tmp_path_factory.mktemp("rollouts") / "tiny")
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = CHATML
    model = AutoModelForCausalLM.from_pretrained(path)
    gen = GenerationConfig(max_new_tokens=8, do_sample=True, temperature=1.0, top_k=0, pad_token_id=tok.pad_token_id,
                           eos_token_id=tok.eos_token_id)
    return types.SimpleNamespace(path=path, tok=tok, model=model, trainer=types.SimpleNamespace(model=model, generation_config=gen))


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_a_thinking_line_ending_in_arithmetic_gets_the_calculators_result_masked(tiny):
    tok = tiny.tok
    row = _Row(_ids(tok, "<think>\n"), [0] * len(_ids(tok, "<think>\n")), "<think>\n")
    row.calc_on = True
    row.take(_ids(tok, "eggs: 7 * 4 =") + _ids(tok, " 99 and more"), tok, {tok.eos_token_id})
    assert row.text == "<think>\neggs: 7 * 4 = 28"  # the model's "=" and what came after it are replaced
    assert row.calcs == 1 and not row.done
    n = len(_ids(tok, "<think>\n"))
    assert row.mask[:n] == [0] * n  # the prefix is not the model's
    first_calc = row.mask.index(0, n)
    assert tok.decode(row.ids[n:first_calc]).strip() == "eggs: 7 * 4"  # the plan is the model's
    assert row.mask[first_calc:] == [0] * (len(row.ids) - first_calc)
    assert tok.decode(row.ids[first_calc:]).strip() == "= 28"  # the result is the calculator's
    assert row.generated == sum(row.mask)


def test_an_equals_sign_that_is_not_arithmetic_stays_the_models(tiny):
    tok = tiny.tok
    row = _Row([], [], "<think>\n")
    row.calc_on = True
    row.take(_ids(tok, "x = y") + [tok.eos_token_id], tok, {tok.eos_token_id})
    assert row.text.startswith("<think>\nx =") and row.calcs == 1 and all(row.mask)
    row.take(_ids(tok, " y") + [tok.eos_token_id], tok, {tok.eos_token_id})
    assert row.done and row.ids[-1] == tok.eos_token_id


def test_after_the_thinking_closes_the_calculator_is_off(tiny):
    tok = tiny.tok
    row = _Row([], [], "<think>\nok\n</think>\n\n")
    row.calc_on = True
    row.take(_ids(tok, "3 + 4 = 8") + [tok.eos_token_id], tok, {tok.eos_token_id})
    assert row.text.endswith("3 + 4 = 8<eos>") and row.calcs == 0 and all(row.mask) and row.done


def test_rollout_samples_from_the_model_with_the_prefix_and_the_calculator(tiny):
    tok = tiny.tok
    # push the random model to write "=" at once, right after a prefix that ends in arithmetic
    eq = _ids(tok, "=")
    assert len(eq) == 1
    prefix = "<think>\nsum: 2 + 3 "
    ro = thinking_rollout(tok, prefix=prefix, calculator=True, max_new_tokens=6,
                          generate_kwargs={"sequence_bias": {(eq[0],): 50.0}})
    prompts = [[{"role": "user", "content": "what is 2 plus 3"}]] * 3
    out = ro(prompts, tiny.trainer)
    assert len(out["completion_ids"]) == 3 and out["logprobs"] is None
    n_prefix = len(_ids(tok, prefix))
    for ids, mask in zip(out["completion_ids"], out["env_mask"]):
        text = tok.decode(ids)
        assert text.startswith(prefix + "= 5")  # the calculator's result, not the model's digits
        assert mask[:n_prefix] == [0] * n_prefix and len(mask) == len(ids)
        assert 1 <= sum(mask) <= 6  # the model's own tokens, capped at max_new_tokens
    assert tok.decode(out["prompt_ids"][0]).endswith("what is 2 plus 3<|im_end|>\n<|im_start|>assistant\n")


def test_grpo_trains_on_rollouts_with_a_prefix_and_the_calculator(tmp_path, tiny):
    rows = [{"prompt": f"what is {a} plus {b}", "answer": str(a + b)} for a, b in [(1, 2), (3, 4), (2, 2), (5, 1)]]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    cfg = GRPOJobConfig(base_model_path=str(tiny.path), train_file=str(train), chat_template="chatml", max_steps=2,
                        batch_size=4, num_generations=4, learning_rate=1e-3, beta=0.0, lora_r=4, lora_alpha=8,
                        save_steps=0, max_length=64, max_completion_length=8, completion_prefix="<think>\n",
                        think_calculator=True, rewards=["exact_match", "format", {"name": "length_penalty", "target_chars": 12}],
                        output_dir=str(tmp_path / "out"), checkpoint_dir=str(tmp_path / "ck"),
                        monitors={"sample_every": 1})
    events = []
    res = run_grpo(cfg, lambda t, **d: events.append((t, d)), lambda: False)
    assert res["steps"] == 2
    samples = [s for t, d in events if t == "samples" for s in d["samples"]]
    assert samples and all(s["completion"].startswith("<think>\n") for s in samples)
    lengths = [d["completions/mean_length"] for t, d in events if t == "progress" and "completions/mean_length" in d]
    assert lengths and max(lengths) <= 8  # trl counts the model's tokens only: the prefix is masked
    # the policy's own tokens carry the gradient: the LoRA moved away from its zero init
    from safetensors.torch import load_file

    weights = load_file(str(Path(res["adapter_dir"]) / "adapter_model.safetensors"))
    assert max(float(v.abs().max()) for k, v in weights.items() if "lora_B" in k) > 0
