"""GRPO rollouts that look like the chat's reasoning turns (trl's `rollout_func`).

trl samples a completion from the bare chat prompt: the model decides whether to think, and
does its own arithmetic. The chat's reasoning mode is not like that (engines/inference/turn.py):
it opens the think block for the model, and with `think_calculator` the calculator writes the
result of each "a op b =" line. A policy trained on the first and judged on the second learns
from the wrong rewards: its rollouts fail on digits the calculator would have got right.

`thinking_rollout` samples the way the chat runs:

- `prefix` (e.g. "<think>\\n") starts every completion, as the chat's prefill does;
- with `calculator`, a thinking line that ends in arithmetic stops at "=", and the calculator
  writes " = 28" (the same `calculator_result` the chat uses), then sampling goes on.

The prefix and the calculator's tokens are part of the completion (so the rewards read the
whole text), but `env_mask` marks them 0 and trl leaves them out of the loss: the policy is
trained on its own tokens only, the way trl masks tool results.

    GRPOTrainer(..., rollout_func=thinking_rollout(tokenizer, prefix="<think>\\n", calculator=True,
                                                   max_new_tokens=72))
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

CLOSE = "</think>"


def thinking_rollout(
    tokenizer,
    *,
    prefix: str = "",
    calculator: bool = False,
    max_new_tokens: int = 128,
    max_calc: int | None = None,
    generate_kwargs: dict[str, Any] | None = None,
) -> Callable[[list, Any], dict[str, Any]]:
    """A trl `rollout_func`: one completion per prompt it is given (trl repeats each prompt
    `num_generations` times before the call), sampled with the trainer's generation config."""
    from engines.inference.turn import MAX_CALC

    prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
    cap = MAX_CALC if max_calc is None else max_calc

    def rollout(prompts: list, trainer) -> dict[str, Any]:
        prompt_ids = [_prompt_ids(tokenizer, p) for p in prompts]
        rows = [_Row(list(prefix_ids), [0] * len(prefix_ids), prefix) for _ in prompts]
        model = trainer.model_wrapped if hasattr(trainer, "model_wrapped") else trainer.model
        config = copy.deepcopy(trainer.generation_config)
        eos = set(_as_list(config.eos_token_id)) | {tokenizer.eos_token_id}
        while True:
            active = [i for i, r in enumerate(rows) if not r.done]
            if not active:
                break
            left = {i: max_new_tokens - rows[i].generated for i in active}
            batch = [prompt_ids[i] + rows[i].ids for i in active]
            for i in active:
                rows[i].calc_on = calculator and rows[i].calcs < cap
            new = _generate(model, trainer, tokenizer, config, batch, max(left.values()),
                            [rows[i] for i in active], generate_kwargs)
            for i, tokens in zip(active, new):
                rows[i].take(tokens[: left[i]], tokenizer, eos)
                if rows[i].generated >= max_new_tokens:
                    rows[i].done = True
        return {"prompt_ids": prompt_ids, "completion_ids": [r.ids for r in rows], "logprobs": None,
                "env_mask": [r.mask for r in rows]}

    return rollout


class _Row:
    """One completion being sampled: its ids, their mask (1: the model's), its text."""

    def __init__(self, ids: list[int], mask: list[int], text: str):
        self.ids, self.mask, self.text = ids, mask, text
        self.done = False
        self.calcs = 0
        self.calc_on = False  # this round of sampling stops at "=" in the thinking
        self.generated = 0

    def thinking(self) -> bool:
        return CLOSE not in self.text

    def take(self, tokens: list[int], tokenizer, eos: set[int]) -> None:
        """Append one generate() call's tokens, up to the first stop: end of turn, or "=" in
        the thinking, where the calculator writes the result (its tokens masked 0)."""
        from engines.inference.turn import calculator_result

        for t in tokens:
            piece = tokenizer.decode([t], skip_special_tokens=False)
            if self.calc_on and "=" in piece and self.thinking():
                self.calcs += 1
                written = calculator_result(self.text)
                if written is None:  # not arithmetic: the "=" is the model's own
                    self._add([t], 1, piece)
                    self.generated += 1
                else:
                    ids = tokenizer(written, add_special_tokens=False)["input_ids"]
                    self._add(ids, 0, written)
                return  # generation went on past the stop for nothing: sample again from here
            self._add([t], 1, piece)
            self.generated += 1
            if t in eos:
                self.done = True
                return
        if not tokens:
            self.done = True

    def _add(self, ids: list[int], m: int, text: str) -> None:
        self.ids += ids
        self.mask += [m] * len(ids)
        self.text += text


def _prompt_ids(tokenizer, prompt) -> list[int]:
    if isinstance(prompt, list):  # conversational: the chat template with the generation prompt
        text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    else:
        text = prompt
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _generate(model, trainer, tokenizer, config, batch: list[list[int]], max_new: int, rows: list[_Row],
              generate_kwargs) -> list[list[int]]:
    """Sample every row of `batch` (left-padded) until its own stop; the new tokens per row."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    width = max(len(b) for b in batch)
    ids = torch.tensor([[pad] * (width - len(b)) + b for b in batch])
    attn = torch.tensor([[0] * (width - len(b)) + [1] * len(b) for b in batch])
    closed = [not r.thinking() for r in rows]
    seen = [""] * len(rows)
    pieces: dict[int, str] = {}

    class AtEquals(StoppingCriteria):
        """Stops a row at the first "=" it writes inside the thinking (the calculator's cue)."""

        def __call__(self, input_ids, scores, **kw):
            out = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            for j, t in enumerate(input_ids[:, -1].tolist()):
                piece = pieces.setdefault(t, tokenizer.decode([t], skip_special_tokens=False))
                seen[j] += piece
                if not closed[j] and CLOSE in seen[j]:
                    closed[j] = True
                elif rows[j].calc_on and not closed[j] and "=" in piece:
                    out[j] = True
            return out

    cfg = copy.copy(config)
    cfg.max_new_tokens = max_new
    kwargs = dict(generate_kwargs or {})
    if any(r.calc_on for r in rows):
        kwargs["stopping_criteria"] = StoppingCriteriaList([AtEquals()])
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is None:  # a bare model with a generation config, not a GRPOTrainer
        import contextlib

        ctx = contextlib.nullcontext(model)
    else:
        from trl.models import unwrap_model_for_generation

        ctx = unwrap_model_for_generation(model, accelerator)
    with ctx as m, torch.no_grad():
        out = m.generate(input_ids=ids.to(m.device), attention_mask=attn.to(m.device), generation_config=cfg, **kwargs)
    return [row[width:].tolist() for row in out.cpu()]
