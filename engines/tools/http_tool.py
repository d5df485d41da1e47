"""User-defined HTTP tools: a URL template, a method, an argument schema, response fields.

    spec = HttpToolSpec(name="weather", description="Current weather for a city",
                        url="http://127.0.0.1:8000/weather?city={city}",
                        schema={"type": "object", "properties": {"city": {"type": "string"}},
                                "required": ["city"]},
                        fields=["temp_c", "conditions"])
    call_http_tool(spec, {"city": "Paris"})   # {"status": 200, "data": {"temp_c": 18, ...}}

Arguments are URL-encoded into the template's `{placeholders}` (query-string arguments not in
the template are appended for GET, sent as JSON for POST). Only http and https URLs; the
response is capped in size and must be JSON unless no fields are asked for.
"""

from __future__ import annotations

import json
import re
import string
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field

from engines.tools.schema import SchemaError, validate_args

METHODS = ("GET", "POST")
MAX_RESPONSE_BYTES = 1_000_000
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class HttpToolError(ValueError):
    """A bad tool definition, or a call that failed (the message names the cause)."""


@dataclass
class HttpToolSpec:
    name: str = field(metadata={"help": "lower-case tool name the classifier and suites use"})
    description: str = field(metadata={"help": "what the tool answers; shown to the model and the user"})
    url: str = field(metadata={"help": "URL template with {arg} placeholders"})
    schema: dict = field(default_factory=lambda: {"type": "object", "properties": {}},
                         metadata={"help": "JSON schema of the arguments"})
    method: str = "GET"
    fields: list[str] = field(default_factory=list, metadata={"help": "dotted response fields to pass on; empty: all"})
    examples: list[str] = field(default_factory=list, metadata={"help": "example queries that should route here"})
    timeout_s: float = 10.0

    def __post_init__(self):
        if not _NAME.match(self.name or ""):
            raise HttpToolError(f"tool name {self.name!r} must be lower-case letters, digits and _ (start with a letter)")
        if not self.description.strip():
            raise HttpToolError(f"tool {self.name!r} needs a description (the model and the user read it)")
        self.method = self.method.upper()
        if self.method not in METHODS:
            raise HttpToolError(f"method {self.method!r} is not supported; use {' or '.join(METHODS)}")
        parts = urllib.parse.urlsplit(self.url.replace("{", "").replace("}", ""))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise HttpToolError(f"URL {self.url!r} must start with http:// or https:// and name a host")
        if not isinstance(self.schema, dict) or self.schema.get("type", "object") != "object":
            raise HttpToolError("the argument schema must be a JSON object schema ({\"type\": \"object\", ...})")
        props = self.schema.setdefault("properties", {})
        missing = [p for p in self.placeholders() if p not in props]
        if missing:
            raise HttpToolError(f"URL placeholders {missing} are not in the schema's properties; add them "
                                f"(e.g. {{\"properties\": {{\"{missing[0]}\": {{\"type\": \"string\"}}}}}})")

    def placeholders(self) -> list[str]:
        return url_placeholders(self.url)

    def to_dict(self) -> dict:
        return asdict(self)


def url_placeholders(url: str) -> list[str]:
    """The {names} in a URL template, in order."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(url) if f]
    except ValueError as e:
        raise HttpToolError(f"URL template {url!r} is malformed ({e})") from None


def pick(data, dotted: str):
    """data["a"]["b"] for "a.b" (list indices allowed: "items.0.name"); KeyError when absent."""
    cur = data
    for part in dotted.split("."):
        if isinstance(cur, list) and part.isdigit():
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise KeyError(dotted)
    return cur


def build_request(spec: HttpToolSpec, args: dict) -> urllib.request.Request:
    values = {k: urllib.parse.quote(str(v), safe="") for k, v in args.items()}
    url = spec.url.format(**{p: values[p] for p in spec.placeholders()})
    rest = {k: v for k, v in args.items() if k not in spec.placeholders()}
    body = None
    if spec.method == "GET" and rest:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(rest)
    elif spec.method == "POST":
        body = json.dumps(rest).encode()
    req = urllib.request.Request(url, data=body, method=spec.method,
                                 headers={"Accept": "application/json", "User-Agent": "model-studio"})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    return req


def call_http_tool(spec: HttpToolSpec, args: dict) -> dict:
    """Call the endpoint; returns {"url", "status", "data"} or raises HttpToolError."""
    try:
        args = validate_args(spec.schema, args)
    except SchemaError as e:
        raise HttpToolError(f"{spec.name}: {e}") from None
    req = build_request(spec, args)
    try:
        with urllib.request.urlopen(req, timeout=spec.timeout_s) as resp:  # noqa: S310 - scheme checked above
            raw = resp.read(MAX_RESPONSE_BYTES + 1)
            status = resp.status
    except urllib.error.HTTPError as e:
        raise HttpToolError(f"{spec.name}: {req.full_url} answered HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise HttpToolError(f"{spec.name}: cannot reach {req.full_url} ({reason}); is the service running?") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise HttpToolError(f"{spec.name}: the response is larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        if spec.fields:
            raise HttpToolError(f"{spec.name}: the response is not JSON, so fields {spec.fields} cannot be read") from None
        data = raw.decode("utf-8", "replace")[:4000]
    if spec.fields:
        picked, missing = {}, []
        for f in spec.fields:
            try:
                picked[f] = pick(data, f)
            except (KeyError, IndexError):
                missing.append(f)
        if missing and not picked:
            raise HttpToolError(f"{spec.name}: the response has none of the fields {missing}")
        data = picked
    return {"url": req.full_url, "status": status, "data": data}
