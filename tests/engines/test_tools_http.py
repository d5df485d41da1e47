"""User-defined HTTP tools against a real "weather" server on 127.0.0.1."""

from __future__ import annotations

import pytest

from engines.tools.http_tool import HttpToolError, HttpToolSpec, call_http_tool
from engines.tools.registry import http_tool, run_tool
from tests.helpers.weather_server import serve_weather


def weather_spec(base: str, **kw) -> HttpToolSpec:
    return HttpToolSpec(name="weather", description="Current weather for a city", url=base + "/weather?city={city}",
                        schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                        **kw)


def test_http_tool_fills_the_template_and_passes_on_only_the_chosen_fields():
    with serve_weather() as (base, requests):
        out = call_http_tool(weather_spec(base, fields=["temp_c", "wind.kmh"]), {"city": "Los Angeles"})
    assert out["status"] == 200
    assert out["data"] == {"temp_c": 24, "wind.kmh": 5}
    assert requests == ["/weather?city=Los%20Angeles"]


def test_http_tool_without_fields_passes_the_whole_response():
    with serve_weather() as (base, _):
        out = call_http_tool(weather_spec(base), {"city": "Oslo"})
    assert out["data"]["conditions"] == "snow"


def test_http_errors_and_unreachable_hosts_are_structured_tool_errors():
    with serve_weather() as (base, _):
        tool = http_tool(weather_spec(base))
        missing = run_tool(tool, {"city": "Atlantis"})
        no_arg = run_tool(tool, {})
    assert missing["ok"] is False and "HTTP 404" in missing["error"]
    assert no_arg["ok"] is False and "missing required argument 'city'" in no_arg["error"]
    gone = run_tool(tool, {"city": "Paris"})  # the server is down now
    assert gone["ok"] is False and "cannot reach" in gone["error"]


def test_a_non_json_response_cannot_feed_fields():
    with serve_weather() as (base, _):
        spec = HttpToolSpec(name="page", description="a page", url=base + "/html", fields=["temp_c"])
        with pytest.raises(HttpToolError, match="not JSON"):
            call_http_tool(spec, {})


@pytest.mark.parametrize("kw, why", [
    ({"name": "Weather!"}, "lower-case"),
    ({"url": "file:///etc/passwd"}, "http:// or https://"),
    ({"url": "http://127.0.0.1/w?city={town}"}, "not in the schema"),
    ({"method": "DELETE"}, "not supported"),
    ({"description": " "}, "needs a description"),
])
def test_bad_definitions_are_refused_with_the_cause(kw, why):
    base = dict(name="weather", description="d", url="http://127.0.0.1/w?city={city}",
                schema={"type": "object", "properties": {"city": {"type": "string"}}})
    with pytest.raises(HttpToolError, match=why):
        HttpToolSpec(**{**base, **kw})
