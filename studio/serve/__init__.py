"""The studio's OpenAI-compatible server (`studio serve`): studio.serve.server runs it,
studio.serve.api translates the OpenAI chat dialect to the studio's chat turns."""

from studio.serve.server import StudioServer, is_loopback

__all__ = ["StudioServer", "is_loopback"]
