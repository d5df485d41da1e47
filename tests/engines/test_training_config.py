"""The training methods' configs: each method keeps its defaults, and stored configs still load.

The wizard's Advanced panel, `studio train fields` and `--set` read a config class through
`dataclasses.fields` (name, `default`, `metadata["help"]`), so these tests read it the same way.
The defaults below were recorded from the configs as they were before they shared a base.
"""

from __future__ import annotations

from dataclasses import MISSING, fields

import pytest

from engines.training.dpo import DPOJobConfig
from engines.training.grpo import GRPOJobConfig
from engines.training.reward import RewardJobConfig
from engines.training.sft import SFTJobConfig

SHARED = {
    "base_model_path": "", "base_gguf": "", "train_file": "", "eval_file": "",
    "output_dir": "output/adapter", "checkpoint_dir": "checkpoints", "resume_from": "",
    "adapter_path": "",  # moved here from the preference methods when SFT learned to continue an adapter
    "chat_template": "gemma", "chat_template_text": "",
    "lora_r": 16, "lora_alpha": 32, "target_modules": "all-linear",
    "warmup_steps": 0, "epochs": 1.0, "max_steps": -1, "gradient_accumulation_steps": 1, "max_length": 512,
    "seed": 42, "eval_steps": 0, "save_steps": 50, "keep_checkpoints": 2, "logging_steps": 1,
    "precision": "auto", "gradient_checkpointing": False, "qlora": False,
}
PREFERENCE = {"monitors": "", "lora_dropout": 0.0, "lr_scheduler": "constant", "batch_size": 4, "eval_fraction": 0.1}
DEFAULTS = {
    SFTJobConfig: {
        **SHARED, "lora_dropout": 0.05, "learning_rate": 2e-4, "lr_scheduler": "cosine", "batch_size": 4, "eval_fraction": 0.0,
        "packing": False, "group_by_length": False, "assistant_only_loss": True,
    },
    DPOJobConfig: {
        **SHARED, **PREFERENCE, "learning_rate": 5e-5,
        "beta": 0.1, "loss_type": "sigmoid", "label_smoothing": 0.0, "max_new_tokens": 48,
    },
    GRPOJobConfig: {
        **SHARED, **PREFERENCE, "learning_rate": 1e-5, "batch_size": 8, "eval_fraction": 0.0,
        "rewards": "exact_match", "num_generations": 4, "max_completion_length": 128, "temperature": 1.0,
        "beta": 0.04, "loss_type": "dapo", "human_ratings_file": "", "human_ratings_max": 32,
        "completion_prefix": "", "think_calculator": False,  # added after the record: rollouts as the chat runs
        "scale_rewards": "group",  # added in round 9: trl's default, so older jobs train as they did
    },
    RewardJobConfig: {
        **SHARED, **PREFERENCE, "learning_rate": 1e-4, "center_rewards_coefficient": 0.0, "length_bias_threshold": 0.25,
    },
}
CONFIGS = list(DEFAULTS)


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_each_method_keeps_its_fields_and_defaults(cls):
    seen = {f.name: f.default for f in fields(cls)}  # as the wizard reads them
    assert seen == DEFAULTS[cls]
    for v in seen.values():
        assert type(v) in (str, int, float, bool)  # a plain default the wizard can show


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_has_help_and_a_plain_default(cls):
    for f in fields(cls):
        assert f.metadata.get("help", "").strip(), f.name
        assert f.default is not MISSING and f.default_factory is MISSING, f.name


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_a_stored_config_loads_and_round_trips(cls):
    stored = cls(base_model_path="base", train_file="train.jsonl").to_dict()
    assert cls.from_dict(stored).to_dict() == stored


def test_a_grpo_config_stored_by_an_older_run_loads():
    stored = {  # a GRPO job's config as the studio stored it, every field spelled out
        "base_model_path": "b", "base_gguf": "", "adapter_path": "", "train_file": "t", "eval_file": "",
        "output_dir": "output/adapter", "checkpoint_dir": "checkpoints", "resume_from": "", "chat_template": "gemma",
        "chat_template_text": "", "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear",
        "learning_rate": 1e-05, "lr_scheduler": "constant", "warmup_steps": 0, "epochs": 1.0, "max_steps": -1,
        "batch_size": 8, "gradient_accumulation_steps": 1, "max_length": 512, "seed": 42, "eval_fraction": 0.0,
        "eval_steps": 0, "save_steps": 50, "keep_checkpoints": 2, "logging_steps": 1, "precision": "auto",
        "gradient_checkpointing": False, "qlora": False, "monitors": {}, "rewards": [{"name": "exact_match", "weight": 1.0}],
        "num_generations": 4, "max_completion_length": 128, "temperature": 1.0, "beta": 0.04, "loss_type": "dapo",
        "human_ratings_file": "", "human_ratings_max": 32,
    }
    # fields added since then take their defaults: the run's rollouts stay as trl samples them
    assert GRPOJobConfig.from_dict(stored).to_dict() == {**stored, "completion_prefix": "", "think_calculator": False,
                                                         "scale_rewards": "group"}


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("field,value", [("lora_r", 0), ("learning_rate", 3.0), ("lr_scheduler", "zigzag"), ("precision", "fp8"),
                                         ("max_length", 4), ("eval_fraction", 0.6), ("logging_steps", 0)])
def test_every_method_refuses_bad_shared_values_naming_the_field(cls, field, value):
    from engines.training.common import TrainingError

    with pytest.raises(TrainingError) as e:
        cls(base_model_path="m", train_file="t.jsonl", **{field: value})
    assert field in e.value.message


def test_the_fields_every_method_has_are_declared_once_in_training_config():
    from engines.training.config import TrainingConfig

    base = {f.name: f for f in fields(TrainingConfig)}
    assert set.intersection(*({f.name for f in fields(c)} for c in CONFIGS)) == set(base)
    for cls in CONFIGS:
        for f in fields(cls):
            declaring = [k for k in reversed(cls.__mro__) if f.name in vars(k).get("__annotations__", {})]
            first, *restated = declaring
            assert "default_of" not in first.__dataclass_fields__[f.name].metadata, (cls.__name__, f.name)
            before = first.__dataclass_fields__[f.name]
            for k in restated:  # only a method's own default, through method_default, and only when it differs
                mine = k.__dataclass_fields__[f.name]
                assert f.name in base and mine.metadata.get("default_of") == f.name, (k.__name__, f.name)
                assert mine.type == base[f.name].type, (k.__name__, f.name)
                assert mine.metadata["help"].startswith(base[f.name].metadata["help"]), (k.__name__, f.name)
                assert mine.default != before.default, f"{k.__name__}.{f.name} restates the default it inherits"
                before = mine
