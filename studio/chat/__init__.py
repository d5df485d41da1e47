"""Chat: conversations in SQLite, the fast / reasoning / auto modes, routing and compare votes.

    from studio.chat import ChatService
    chat = ChatService(studio)
    conv = chat.create_conversation(mode="auto")
    msg = chat.send(conv["id"], "What is 17 * 23?", on_event=print)   # blocks: call it off the GUI thread
    chat.close()                                                       # ends the model-host processes

What is where: service.py holds ChatService (each slot's model host, turns, compare votes);
the turn itself, thinking, routing and the model host are in engines/inference/.
"""

from studio.chat.service import MODES, ChatService, ResolvedModel

__all__ = ["MODES", "ChatService", "ResolvedModel"]
