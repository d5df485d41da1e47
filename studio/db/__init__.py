"""Database layer: typed SQLAlchemy 2.0 models and an engine migrated by Alembic on open.

    from sqlalchemy import select
    from studio.db import Model
    with studio.db.session() as s:          # a Database; one short session per thread
        adapters = s.scalars(select(Model).where(Model.kind == "adapter")).all()
    # leaving the block commits; an error rolls back

What is where: models.py holds the tables (an area's own tables may live with it, as
studio/datasets/models.py does), session.py opens, checks and migrates the file, and
migrations/ holds the Alembic revisions (a schema change is a new revision there).
"""

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
