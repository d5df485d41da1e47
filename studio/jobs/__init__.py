"""Jobs: a queue in the database and child processes watched by the runner."""

from studio.jobs.manager import TERMINAL, JobManager, job_to_dict

__all__ = ["TERMINAL", "JobManager", "job_to_dict"]
