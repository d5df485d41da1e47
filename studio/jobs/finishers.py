"""What the core does after a job of a kind succeeds (register its adapter, its export...).

kind -> "module:function"; the function is fn(db: Database, home: Home, job: Job) -> dict
and runs in the runner process, after the child exited 0. What it returns is merged into the
job's result. If it raises, the job is marked failed with that message.
"""

FINISHERS = {
    "sft": "studio.training.finish:finish_training_job",
    "reward": "studio.training.finish:finish_training_job",
    "dpo": "studio.training.finish:finish_training_job",
    "grpo": "studio.training.finish:finish_training_job",
    "export": "studio.models.exports:finish_export_job",
}
