"""Database layer: typed SQLAlchemy 2.0 models and an engine migrated by Alembic on open."""

from studio.db.models import (
    Base,
    Conversation,
    Dataset,
    DatasetVersion,
    EvalRun,
    Example,
    Job,
    JobEvent,
    Message,
    Model,
    Setting,
    VersionRow,
)
from studio.db.session import Database

__all__ = [
    "Base",
    "Conversation",
    "Database",
    "Dataset",
    "DatasetVersion",
    "EvalRun",
    "Example",
    "Job",
    "JobEvent",
    "Message",
    "Model",
    "Setting",
    "VersionRow",
]
