"""The correctness proof of the GGUF export: llama.cpp with the export agrees with transformers+peft.

A LoRA is really trained on gemma-3-270m (a short plain torch loop on a synthetic format,
in a session fixture), exported as a GGUF LoRA and as a merged f16 GGUF, and the greedy
continuations of fixed prompts the adapter never saw are compared token by token.

Both sides see the same token ids (llama.cpp's tokenizer), so the comparison is about the
weights and the maths, not about tokenizers. The HF base is dequantised from the Q4_K_M GGUF,
so both start from the same weights. llama.cpp multiplies the Q4_K_M base with activations
quantised to 8 bits, though, so with the LoRA on the quantised base a near-tie can flip a
token and the free-running continuations then drift apart; the adapter is trained until its
answers are decisive. Teacher forcing (the next token llama.cpp picks after each prefix of
transformers' answer) is checked as well, since it does not let one flip hide the rest.
"""

from __future__ import annotations

import pytest

from engines.templates import get_template, render

pytestmark = pytest.mark.slow

TRAIN_TOPICS = ["rain", "apples", "music", "trains", "cats", "winter", "coffee", "rivers", "books", "stars", "bread", "chess"]
TEST_TOPICS = ["the sea", "dogs", "mountains", "tea"]  # never trained on
N_TOKENS = 16
TPL = get_template("gemma").inference


def _prompt(topic: str) -> str:
    return render(TPL, [{"role": "user", "content": f"Describe {topic}."}], bos_token="<bos>", add_generation_prompt=True)


def _answer(topic: str) -> str:
    return f"## {topic.upper()} ##\n- short: {topic} are nice.\nEND"


@pytest.fixture(scope="session")
def vocab(gemma_gguf):
    from engines.inference.llama_params import open_llama

    return open_llama(model_path=str(gemma_gguf), vocab_only=True, verbose=False)


def _tokens(vocab, text: str) -> list[int]:
    return vocab.tokenize(text.encode(), add_bos=False, special=True)


@pytest.fixture(scope="session")
def trained_adapter(tmp_path_factory, gemma_hf_dir, vocab):
    """A rank-8 LoRA on all projections, 30 AdamW steps: the "## X ##" format and the upper-case
    copy of the topic are learned with margin. (After 10 steps the format is there but the copy
    is a near-tie on some topics, which the Q4_K_M base's 8-bit activations can flip.)"""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    seqs = []
    for t in TRAIN_TOPICS:
        full = _tokens(vocab, render(TPL, [{"role": "user", "content": f"Describe {t}."},
                                           {"role": "assistant", "content": _answer(t)}], bos_token="<bos>"))
        seqs.append((full, len(_tokens(vocab, _prompt(t)))))
    width = max(len(s) for s, _ in seqs)
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100)
    for i, (s, n_prompt) in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
        labels[i, n_prompt : len(s)] = torch.tensor(s[n_prompt:])  # loss on the answer only

    model = AutoModelForCausalLM.from_pretrained(gemma_hf_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    model.train()
    for _step in range(30):
        batch = torch.randperm(len(seqs))[:4]
        loss = model(input_ids=ids[batch], attention_mask=mask[batch], labels=labels[batch]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 5, losses
    out = tmp_path_factory.mktemp("trained") / "adapter"
    model.save_pretrained(out)
    model.eval()
    hf = {}
    with torch.no_grad():
        for t in TEST_TOPICS:
            p = _tokens(vocab, _prompt(t))
            g = model.generate(input_ids=torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                               max_new_tokens=N_TOKENS, do_sample=False)
            hf[t] = g[0, len(p):].tolist()
    return out, hf


def _llama_greedy(vocab, **model_kw) -> tuple[dict, dict]:
    """Free-running greedy tokens per prompt, and teacher-forced picks (filled in by the caller)."""
    from engines.inference.llama_params import open_llama

    llm = open_llama(n_ctx=128, n_threads=2, logits_all=True, verbose=False, **model_kw)
    return llm


def _free_running(llm, vocab, topic: str) -> list[int]:
    out = []
    for tok in llm.generate(_tokens(vocab, _prompt(topic)), temp=0.0, top_k=1, reset=True):
        out.append(tok)
        if len(out) == N_TOKENS:
            break
    return out


def _teacher_forced(llm, vocab, topic: str, reference: list[int]) -> list[int]:
    """llama.cpp's argmax after the prompt and each prefix of the reference answer."""
    p = _tokens(vocab, _prompt(topic))
    llm.reset()
    llm.eval(p + reference[:-1])
    return [int(llm.scores[len(p) - 1 + i].argmax()) for i in range(len(reference))]


def _agreement(a: list[int], b: list[int]) -> float:
    return sum(x == y for x, y in zip(a, b)) / N_TOKENS


def test_gguf_lora_on_the_quantised_base_agrees_with_transformers_peft(trained_adapter, gemma_gguf, vocab, tmp_path):
    from engines.conversion.lora_to_gguf import base_spec_from_gguf, convert_lora_to_gguf

    adapter_dir, hf = trained_adapter
    lora = tmp_path / "adapter.gguf"
    convert_lora_to_gguf(adapter_dir, lora, base_spec_from_gguf(gemma_gguf))

    llm = _llama_greedy(vocab, model_path=str(gemma_gguf), lora_path=str(lora))
    free = {t: _free_running(llm, vocab, t) for t in TEST_TOPICS}
    forced = {t: _teacher_forced(llm, vocab, t, hf[t]) for t in TEST_TOPICS}
    base = _llama_greedy(vocab, model_path=str(gemma_gguf))
    plain = {t: _free_running(base, vocab, t) for t in TEST_TOPICS}

    free_rate = sum(_agreement(hf[t], free[t]) for t in TEST_TOPICS) / len(TEST_TOPICS)
    forced_rate = sum(_agreement(hf[t], forced[t]) for t in TEST_TOPICS) / len(TEST_TOPICS)
    base_rate = sum(_agreement(hf[t], plain[t]) for t in TEST_TOPICS) / len(TEST_TOPICS)
    print(f"\nLoRA on Q4_K_M: teacher-forced {forced_rate:.3f}, free-running {free_rate:.3f}, base without adapter {base_rate:.3f}")
    for t in TEST_TOPICS:
        print(f"  {t!r}: hf={vocab.detokenize(hf[t])!r} llama.cpp={vocab.detokenize(free[t])!r}")
    assert free_rate >= 0.9  # the criterion: greedy continuations, first 16 tokens
    assert forced_rate >= 0.9
    assert base_rate < 0.5  # the adapter is what makes them agree: without it the base says something else
    assert sum(vocab.detokenize(free[t]).startswith(b"## ") for t in TEST_TOPICS) >= 3  # the trained format


def test_exports_from_the_service_agree_with_peft_and_answer_in_the_trained_format_in_chat(
        trained_adapter, studio_with_model, vocab):
    """The Done-means path: adapter -> export jobs (GGUF LoRA and merged f16) -> the chat service."""
    from engines.conversion.gguf_meta import read_gguf_info
    from studio.chat.service import ChatService
    from studio.models.exports import submit_export
    from tests.export_fixtures import register_adapter

    adapter_dir, hf = trained_adapter
    st = studio_with_model
    adapter = register_adapter(st, adapter_dir, name="format-bot")
    assert st.jobs.try_become_runner()
    exports = {}
    for merge in (False, True):
        job = st.jobs.wait(submit_export(st, adapter.name, merge=merge), timeout=600)
        assert job.state == "succeeded", (job.error, job.hint)
        exports[merge] = st.registry.get(job.result["model"])
    merged = exports[True]
    info = read_gguf_info(merged.path)
    assert info.file_type == "MOSTLY_F16" and info.chat_template == TPL == merged.chat_template

    llm = _llama_greedy(vocab, model_path=merged.path)
    free = {t: _free_running(llm, vocab, t) for t in TEST_TOPICS}
    rate = sum(_agreement(hf[t], free[t]) for t in TEST_TOPICS) / len(TEST_TOPICS)
    print(f"\nmerged f16: free-running agreement {rate:.3f}")
    assert rate >= 0.9
    # the chat template inside the GGUF drives llama.cpp's own chat completion with no extra settings
    reply = llm.create_chat_completion([{"role": "user", "content": "Describe dogs."}], max_tokens=12, temperature=0.0)
    assert reply["choices"][0]["message"]["content"].startswith("## ")
    del llm

    chat = ChatService(st)
    try:
        for export in exports.values():  # what the Chat page does with the picked model
            turn = chat.run_turn_for(None, [{"role": "user", "content": "Describe dogs."}], mode="fast",
                                     model=export.name, overrides={"temperature": 0.0, "max_tokens_fast": 16})
            print(f"chat with {export.name}: {turn['answer']!r}")
            assert turn["answer"].startswith("## ") and "- short: dogs are nice." in turn["answer"]  # the trained format
            assert turn["meta"]["template"] == "gemma"
    finally:
        chat.close()
