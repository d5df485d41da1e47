"""Schema additions for datasets (full-text search over examples, ratings).

Revision ID: 0002
Revises: 0001

Each feature area owns one migration in the chain, so work on separate areas never
forks the history. Empty until the area needs a table or an index of its own.
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
