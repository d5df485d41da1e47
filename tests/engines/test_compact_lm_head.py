"""trl's fused LM head on CPU scores only the labelled positions once the studio loads a base
(engines/training/common.py `score_labelled_positions_only`), with the same numbers as scoring all."""

from __future__ import annotations

import pytest
import torch

from engines.training.common import load_base, score_labelled_positions_only
from tests.helpers.tiny_model import make_tiny_model

trl_utils = pytest.importorskip("trl.trainer.utils")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("compact") / "tiny")


def _batch(vocab: int):
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(3, vocab, (3, 12), generator=g)
    attn = torch.ones_like(ids)
    attn[1, :4] = 0  # a left-padded row
    labels = ids.clone()
    labels[:, :7] = -100  # the prompt: no label
    labels[attn == 0] = -100
    labels[2, :] = -100  # a row with nothing to learn
    return ids, attn, labels


def _score(model, ids, attn, labels, monkeypatch):
    """Fused log-probs, entropy, top-1 and loss, the gradient of one weight, and how many rows
    the LM head projected."""
    projected = []
    apply = trl_utils._ChunkedLogProbFunction.apply

    def spy(hidden, *rest):
        projected.append(hidden.shape[0])
        return apply(hidden, *rest)

    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply", spy)
    model.zero_grad()
    out = model(input_ids=ids, attention_mask=attn, labels=labels, fused_lm_head=True)
    out.loss.backward()
    weight = next(p for n, p in model.named_parameters() if n.endswith("layers.0.mlp.down_proj.weight"))
    return out, weight.grad.clone(), projected


def test_only_labelled_positions_are_projected_and_the_numbers_do_not_change(tiny_dir, monkeypatch):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    trl_utils.add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    ids, attn, labels = _batch(model.config.vocab_size)
    n_labelled = int((labels[:, 1:] != -100).sum())

    decide = trl_utils._use_triton
    monkeypatch.setattr(trl_utils, "_use_triton", getattr(decide, "original", decide))  # trl as shipped
    full, full_grad, full_rows = _score(model, ids, attn, labels, monkeypatch)
    assert full_rows == [ids.shape[0] * (ids.shape[1] - 1)]  # trl on CPU: every position

    assert score_labelled_positions_only()
    compact, compact_grad, compact_rows = _score(model, ids, attn, labels, monkeypatch)
    assert compact_rows == [n_labelled] and 0 < n_labelled < full_rows[0]

    torch.testing.assert_close(compact.loss, full.loss)
    torch.testing.assert_close(compact.log_probs, full.log_probs)
    torch.testing.assert_close(compact.entropy, full.entropy)
    assert torch.equal(compact.is_top1, full.is_top1)
    assert torch.equal(compact.label_mask, full.label_mask)
    assert full_grad.abs().sum() > 0
    torch.testing.assert_close(compact_grad, full_grad)


def test_loading_a_base_for_training_installs_it_once(tiny_dir, monkeypatch):
    decide = trl_utils._use_triton
    monkeypatch.setattr(trl_utils, "_use_triton", getattr(decide, "original", decide))
    load_base(tiny_dir, template="chatml")
    installed = trl_utils._use_triton
    assert installed.studio_compact and installed(torch.device("cpu"))
    assert score_labelled_positions_only() and trl_utils._use_triton is installed  # not wrapped twice
