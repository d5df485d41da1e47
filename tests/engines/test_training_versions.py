"""Training across transformers versions: the checkpointing flag's name, and the warning for a
transformers older than the one training was measured on (5.17 trained a broken SFT adapter)."""

import transformers

from engines.training.common import TESTED_TRANSFORMERS, checkpointing_arg, old_transformers_warning


def test_an_older_transformers_is_named_in_a_warning_with_the_upgrade():
    msg = old_transformers_warning("5.17.0")
    assert msg is not None
    assert "transformers 5.17.0" in msg and f"transformers>={TESTED_TRANSFORMERS}" in msg


def test_the_tested_and_newer_versions_train_without_a_warning():
    assert old_transformers_warning(TESTED_TRANSFORMERS) is None
    assert old_transformers_warning("5.24.0") is None
    assert old_transformers_warning("6.0.1") is None
    assert old_transformers_warning("5.24.0.dev0") is not None  # before the release


def test_the_installed_transformers_is_one_training_was_checked_on():
    # pyproject pins it; a make test that resolved an older one would train broken adapters
    assert old_transformers_warning(transformers.__version__) is None


def test_the_checkpointing_flag_is_one_this_transformers_accepts(tmp_path):
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", **{checkpointing_arg(): True})
    assert getattr(args, checkpointing_arg()) is True
