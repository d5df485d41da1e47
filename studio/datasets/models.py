"""ORM classes of the datasets area (tables created by migration 0002)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import Boolean, DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from studio.db.models import Base, utcnow


class Rating(Base):
    """One choice in the Rate view; `agrees` compares it with the previous rating of the pair."""

    __tablename__ = "ratings"
    __table_args__ = (Index("ix_ratings_pair", "pair_hash", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_hash: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text)
    answer_a: Mapped[str] = mapped_column(Text)
    answer_b: Mapped[str] = mapped_column(Text)
    choice: Mapped[str] = mapped_column(String(10))  # a | b | tie | skip
    preferred_hash: Mapped[Optional[str]] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text, default="", server_default="")
    target_dataset: Mapped[str] = mapped_column(String(200), default="", server_default="")
    agrees: Mapped[Optional[bool]] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
