"""Supervised fine-tuning, as the wizard and `studio train sft` offer it.

    studio train sft --base "gemma-3-270m (base)" --dataset greetings --preset quick
    TrainingService(studio).plan("sft", base=..., dataset="greetings")    # the same from code

The config (`SFTJobConfig`), its presets (engines/training/presets/*.yaml) and the training
loop live in engines.training.sft; this module registers the method, first in the list.
With `--adapter NAME` (or a recipe stage after another) it keeps training that adapter.
"""

from __future__ import annotations

from engines.training.sft import SFTJobConfig
from studio.training.methods import register_method, starting_adapter

register_method(
    "sft",
    "Supervised fine-tuning (LoRA)",
    ("sft",),
    SFTJobConfig,
    description="Teach the format, the interaction norms and the domain voice from example conversations.",
    prepare=starting_adapter,  # --adapter: keep training an earlier fine-tune
)
