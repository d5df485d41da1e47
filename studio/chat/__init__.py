"""The chat service: conversations in SQLite, modes, routing, compare votes (see service.py)."""

from studio.chat.service import MODES, ChatService, ResolvedModel

__all__ = ["MODES", "ChatService", "ResolvedModel"]
