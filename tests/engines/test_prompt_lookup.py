"""Prompt-lookup decoding in the model host: greedy answers are the same with it on, also for a
prompt longer than llama.cpp's batch of 512 tokens (llama-cpp-python sizes its logits array from
logits_all, which the host sets), and a copy-the-prompt answer copies."""

from __future__ import annotations

import pytest

from engines.inference.backend import CompletionParams, Done, Piece, Sampling
from engines.inference.host import LocalBackend, ModelSpec


def answer(backend, spec, prompt: str, n: int) -> tuple[str, Done]:
    text, done = [], None
    for ev in backend.complete(prompt, CompletionParams(n, (), Sampling(temperature=0.0)), spec=spec):
        if isinstance(ev, Piece):
            text.append(ev.text)
        else:
            done = ev
    return "".join(text), done


@pytest.mark.slow
def test_prompt_lookup_keeps_greedy_answers_and_handles_prompts_past_one_batch(gemma_gguf):
    passage = ("The lighthouse on the northern cliffs was built in 1872 from granite quarried on the island. "
               "Its lamp burned whale oil until 1905, then paraffin, and since 1961 it has run on electricity. ")
    short = f"Original:\n{passage}\n\nThe same text, copied exactly:\n"
    long = "Notes:\n" + passage * 14 + "\nThe first sentence of the notes, copied:\n"
    b = LocalBackend(max_models=1)
    try:
        off, on = ModelSpec(str(gemma_gguf)), ModelSpec(str(gemma_gguf), prompt_lookup=True)
        assert b.count_tokens(long, spec=off) > 512
        for prompt, n in ((short, 24), (long, 12)):
            plain, d_off = answer(b, off, prompt, n)
            looked, d_on = answer(b, on, prompt, n)
            assert looked == plain and d_on.completion_tokens == d_off.completion_tokens == n
        assert plain.strip().startswith("The lighthouse on the northern cliffs")
    finally:
        b.close()
