"""Schema additions for chat (conversation search and the like).

Revision ID: 0003
Revises: 0002

Each feature area owns one migration in the chain, so work on separate areas never
forks the history. Empty until the area needs a table or an index of its own.
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
