"""`studio serve`: the registered models behind an OpenAI-compatible API.

    studio serve                               # http://127.0.0.1:8000/v1, no key needed on loopback
    studio serve --host 0.0.0.0 --api-key KEY  # any other address needs a key
    studio serve --prompt-lookup               # n-gram speculative decoding for every request

Blocks until Ctrl+C. Any OpenAI client works: base_url http://127.0.0.1:8000/v1, model = a
name from GET /v1/models (a base, a merged export or a GGUF LoRA adapter).
"""

from __future__ import annotations

import sys

from studio.cli import action


def register(sub, groups) -> None:
    p = action(sub, groups["common"], "serve", cmd_serve,
               help="serve the registered models over an OpenAI-compatible API")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --api-key)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", default=None, help="clients must send Authorization: Bearer KEY")
    p.add_argument("--prompt-lookup", action="store_true", help="prompt-lookup (n-gram) speculative decoding")


def cmd_serve(args, ctx):
    from studio.serve import StudioServer

    srv = StudioServer(ctx.studio, host=args.host, port=args.port, api_key=args.api_key, prompt_lookup=args.prompt_lookup)
    models = [m["id"] for m in srv.models()]
    print(f"studio serve: {srv.url}/v1 ({len(models)} models: {', '.join(models)})", file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
    return None
