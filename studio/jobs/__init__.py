"""Jobs: a queue in the database and child processes watched by the runner.

    job_id = studio.jobs.submit("sft", config, name="my run")    # a JobManager, on every Studio
    studio.jobs.subscribe(lambda job_id, event: ...)             # progress, checkpoints, done, error
    studio.jobs.wait(job_id).state       # one of TERMINAL: succeeded, failed, cancelled, interrupted

What is where: manager.py runs the queue (one process per data home holds the runner lock)
and starts `python -m engines.run_job JOB_DIR`, whose JOB_KINDS map a kind to its function;
finishers.py maps a kind to what the core does after it succeeds (register an adapter, an export).
"""

from studio.jobs.manager import TERMINAL, JobManager, job_to_dict

__all__ = ["TERMINAL", "JobManager", "job_to_dict"]
