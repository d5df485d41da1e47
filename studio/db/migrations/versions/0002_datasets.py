"""Schema additions for datasets (full-text search over examples, ratings).

Revision ID: 0002
Revises: 0001

Each feature area owns one migration in the chain, so work on separate areas never
forks the history.

- examples_fts: a contentless FTS5 index over the human text of each example (not its JSON
  keys). Examples are immutable and never deleted while a version uses them, so the index
  only grows; it is filled lazily up to `max(examples.id)` before a search, which keeps a
  million-row import free of per-row trigger cost.
- ratings: one row per choice made in the Rate view, keyed by an order-free hash of the
  (prompt, answer, answer) triple, so a second rating of the same pair can be compared
  with the first (rater agreement).
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE VIRTUAL TABLE examples_fts USING fts5(text, content='', tokenize='unicode61 remove_diacritics 2')")
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pair_hash", sa.String(64), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("answer_a", sa.Text(), nullable=False),
        sa.Column("answer_b", sa.Text(), nullable=False),
        sa.Column("choice", sa.String(10), nullable=False),  # a | b | tie | skip
        sa.Column("preferred_hash", sa.String(64), nullable=True),  # hash of the preferred answer text
        sa.Column("source", sa.Text(), nullable=False, server_default=""),
        sa.Column("target_dataset", sa.String(200), nullable=False, server_default=""),
        sa.Column("agrees", sa.Boolean(), nullable=True),  # vs the previous rating of this pair
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_ratings_pair", "ratings", ["pair_hash", "id"])


def downgrade() -> None:
    op.drop_index("ix_ratings_pair", "ratings")
    op.drop_table("ratings")
    op.execute("DROP TABLE examples_fts")
