"""SQLAlchemy Core views of the tool-use tables created by migration 0004.

Kept apart from studio/db/models.py (the shared ORM) so the tools area owns its schema.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

http_tools = sa.Table(
    "http_tools", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(40), unique=True),
    sa.Column("description", sa.Text),
    sa.Column("method", sa.String(10)),
    sa.Column("url", sa.Text),
    sa.Column("schema", sa.JSON),
    sa.Column("fields", sa.JSON),
    sa.Column("examples", sa.JSON),
    sa.Column("timeout_s", sa.Float),
    sa.Column("created_at", sa.DateTime),
)

intent_classifiers = sa.Table(
    "intent_classifiers", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, unique=True),
    sa.Column("source", sa.Text),
    sa.Column("path", sa.Text),
    sa.Column("labels", sa.JSON),
    sa.Column("meta", sa.JSON),
    sa.Column("active", sa.Boolean),
    sa.Column("created_at", sa.DateTime),
)

tool_decisions = sa.Table(
    "tool_decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime),
    sa.Column("query", sa.Text),
    sa.Column("tool", sa.String(40)),
    sa.Column("confidence", sa.Float),
    sa.Column("top", sa.String(40)),
    sa.Column("reason", sa.Text),
    sa.Column("probs", sa.JSON),
    sa.Column("enabled", sa.JSON),
    sa.Column("classifier_version", sa.Integer),
    sa.Column("origin", sa.String(20)),
)
