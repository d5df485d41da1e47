"""Schema additions for tool use: HTTP tools, intent classifier versions, the decision log.

Revision ID: 0004
Revises: 0003

The knowledge base's FTS5 index lives in its own file, home/kb/kb.db (engines/tools/search.py),
so it can be rebuilt or copied without touching the studio database.
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "http_tools",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("method", sa.String(10), nullable=False, server_default="GET"),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("schema", sa.JSON, nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("examples", sa.JSON, nullable=False),
        sa.Column("timeout_s", sa.Float, nullable=False, server_default="10"),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
    )
    op.create_table(
        "intent_classifiers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False, unique=True),
        sa.Column("source", sa.Text, nullable=False),  # the dataset file it was trained on
        sa.Column("path", sa.Text, nullable=False),  # the pickled pipeline under home/tools/
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),  # data hash, counts, train_s, cv_accuracy
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
    )
    op.create_table(
        "tool_decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("tool", sa.String(40)),  # NULL: answer directly
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("top", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("probs", sa.JSON, nullable=False),
        sa.Column("enabled", sa.JSON, nullable=False),
        sa.Column("classifier_version", sa.Integer),
        sa.Column("origin", sa.String(20), nullable=False, server_default="chat"),  # chat | cli
    )
    op.create_index("ix_tool_decisions_created", "tool_decisions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_tool_decisions_created", "tool_decisions")
    op.drop_table("tool_decisions")
    op.drop_table("intent_classifiers")
    op.drop_table("http_tools")
