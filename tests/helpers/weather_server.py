"""A real "weather" HTTP server on 127.0.0.1 for the HTTP-tool tests.

    with serve_weather() as (base, requests):   # base: http://127.0.0.1:PORT; requests: paths seen
        ...
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

WEATHER = {"Paris": {"temp_c": 18.5, "conditions": "light rain", "wind": {"kmh": 12}},
           "Oslo": {"temp_c": -3, "conditions": "snow", "wind": {"kmh": 30}},
           "Los Angeles": {"temp_c": 24, "conditions": "sunny", "wind": {"kmh": 5}}}


@contextmanager
def serve_weather():
    """A real HTTP server: GET /weather?city=NAME -> JSON, 404 for unknown cities, /html -> text."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            requests.append(self.path)
            city = parse_qs(parts.query).get("city", [""])[0]
            if parts.path == "/html":
                body, ctype, code = b"<html>not json</html>", "text/html", 200
            elif city in WEATHER:
                body, ctype, code = json.dumps({"city": city, **WEATHER[city]}).encode(), "application/json", 200
            else:
                body, ctype, code = b'{"error": "unknown city"}', "application/json", 404
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        t.join()
