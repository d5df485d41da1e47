"""Schema additions for preference training (reward models and monitors).

Revision ID: 0005
Revises: 0004

Each feature area owns one migration in the chain, so work on separate areas never
forks the history. Empty until the area needs a table or an index of its own.
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
