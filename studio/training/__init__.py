"""Training: a base model + a dataset version + a method + a preset -> a job -> an adapter.

    from studio.training import TrainingService
    svc = TrainingService(studio)
    plan = svc.plan("sft", base="gemma-3-270m (base)", dataset="greetings", preset="quick",
                    overrides={"max_steps": 40})
    job_id = svc.launch(plan)        # the child runs engines.training.sft:run_job
    studio.jobs.wait(job_id)         # the runner then registers the adapter (finish.py)

What is where:
    methods.py      the method registry (`register_method`, `get_method`) and `--set` parsing
    service.py      TrainingService: plan, validate, estimate, launch, clone, export as YAML
    finish.py       after a job succeeds: move its adapter to models/ and register it
    sft.py          the SFT method
    preference.py   the reward / dpo / grpo methods, and scoring answers with a reward model
    estimates.py    the wizard's review numbers (exact LoRA size, first-use conversion time)

The training loops themselves are in engines/training/. To add a method, write its config and
`run_job` there, add its job kind to engines.run_job.JOB_KINDS and its finisher to
studio.jobs.finishers, and register it from a module here imported below.
"""

from studio.training.methods import (
    MANAGED_FIELDS,
    METHODS,
    Method,
    coerce,
    field_help,
    get_method,
    parse_overrides,
    register_method,
)
from studio.training.service import TrainingService

# The built-in methods register themselves on import; the wizard lists them in this order.
from studio.training import sft  # noqa: F401  (first)
from studio.training import preference  # noqa: F401  (after sft)

__all__ = [
    "MANAGED_FIELDS",
    "METHODS",
    "Method",
    "TrainingService",
    "coerce",
    "field_help",
    "get_method",
    "parse_overrides",
    "register_method",
]
