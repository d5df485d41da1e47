"""Write an Ollama Modelfile next to an export, so `ollama create NAME -f Modelfile` works.

    text = build_modelfile(from_path="base.gguf", adapter_path="adapter.gguf", template_name="gemma")

Ollama's TEMPLATE is a Go template over `.Messages` (Role, Content), not Jinja, so each of the
studio's chat templates (engines/templates.py) has a Go translation here that renders the same
turns. Ollama adds BOS itself (the GGUF says add_bos_token), so the Go templates start without
it. A template the studio does not know gets no TEMPLATE line: Ollama then uses the GGUF's own
`tokenizer.chat_template` (present in merged exports) and the Modelfile says so in a comment.
"""

from __future__ import annotations

from pathlib import Path

# Go-template translations of engines/templates.py (same turns, same newlines, no BOS).
GO_TEMPLATES = {
    "gemma": (
        '{{- $system := "" }}{{- range .Messages }}{{- if eq .Role "system" }}{{ $system = .Content }}{{- end }}{{- end }}\n'
        "{{- $first := true }}\n"
        "{{- range .Messages }}\n"
        '{{- if eq .Role "user" }}<start_of_turn>user\n'
        "{{ if and $first $system }}{{ $system }}\n\n{{ end }}{{ .Content }}<end_of_turn>\n"
        "{{ $first = false }}\n"
        '{{- else if eq .Role "assistant" }}<start_of_turn>model\n'
        "{{ .Content }}<end_of_turn>\n"
        "{{ end }}\n"
        "{{- end }}<start_of_turn>model\n"
    ),
    "chatml": (
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
        "{{ .Content }}<|im_end|>\n"
        "{{ end }}<|im_start|>assistant\n"
    ),
    "llama3": (
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
        "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
}
STOPS = {"gemma": ["<end_of_turn>"], "chatml": ["<|im_end|>"], "llama3": ["<|eot_id|>"]}
DEFAULT_PARAMETERS = {"temperature": 0.7, "top_p": 0.95, "num_ctx": 4096}


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_modelfile(
    *,
    from_path: str,
    adapter_path: str | None = None,
    template_name: str | None = None,
    stop: list[str] | None = None,
    parameters: dict | None = None,
    system: str | None = None,
) -> str:
    lines = [
        "# Ollama Modelfile written by Model Studio.",
        "# Create the model with:  ollama create NAME -f Modelfile",
        f"FROM {from_path}",
    ]
    if adapter_path:
        lines.append(f"ADAPTER {adapter_path}")
    go = GO_TEMPLATES.get(template_name or "")
    if go:
        if '"""' in go:
            raise ValueError("a Go template may not contain triple quotes")
        lines.append(f'TEMPLATE """{go}"""')
    else:
        lines.append(f"# No TEMPLATE: the chat template {template_name or '(none)'!r} has no Go translation; "
                     "Ollama uses the GGUF's tokenizer.chat_template if it has one.")
    for s in stop if stop is not None else STOPS.get(template_name or "", []):
        lines.append(f"PARAMETER stop {_quote(s)}")
    for k, v in {**DEFAULT_PARAMETERS, **(parameters or {})}.items():
        lines.append(f"PARAMETER {k} {v}")
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"


def write_modelfile(path: str | Path, text: str) -> Path:
    """Temp name, then rename: a Modelfile is never seen half-written."""
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
