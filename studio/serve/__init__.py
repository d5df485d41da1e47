"""The studio's OpenAI-compatible server (`studio serve`) over the registered models.

    from studio.serve import StudioServer
    srv = StudioServer(studio, port=8000).start()    # on 127.0.0.1; another host needs api_key
    # any OpenAI client: base_url=srv.url + "/v1", model="gemma-3-270m (base)"
    srv.close()

What is where: server.py runs the HTTP server and its routes; api.py translates the OpenAI
chat dialect to the studio's chat turns and back.
"""

from studio.serve.server import StudioServer, is_loopback

__all__ = ["StudioServer", "is_loopback"]
