"""Chat templates: one source for training and for inference.

A base model has no chat template, so the user picks one when fine-tuning, and that exact
template is stored with the adapter and used again by llama.cpp at inference. A mismatch (or a
missing BOS) is the most common way a fine-tune looks broken, see ../shared/DESIGN.md.

Each template is written once, in its *training* form, with `{% generation %}` markers around
the assistant's text (trl's assistant-only loss reads them). `inference_template()` removes
the markers; the two render the same text, which `render()` and the tests check.

    tpl = get_template("gemma")
    text = render(tpl.inference, messages, bos_token="<bos>", add_generation_prompt=True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_GEN = re.compile(r"{%-?\s*(?:end)?generation\s*-?%}")


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    label: str
    training: str  # with {% generation %} markers
    stop: tuple[str, ...]  # strings that end an assistant turn at inference
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def inference(self) -> str:
        return inference_template(self.training)


def inference_template(training_template: str) -> str:
    """The same template without trl's generation markers (plain Jinja for llama.cpp)."""
    return _GEN.sub("", training_template)


# Literal text sits inside {{ '...' }} so that trim_blocks / `-` whitespace control (used by
# transformers and llama-cpp-python alike) can never eat a newline that belongs to the format.
# System messages fold into the first user turn: Gemma has no system role.
GEMMA = (
    "{{ bos_token }}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system = messages[0]['content'] -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set system = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<start_of_turn>model\\n' }}"
    "{%- generation -%}{{ message['content'] | trim }}{{ '<end_of_turn>\\n' }}{%- endgeneration -%}"
    "{%- else -%}"
    "{{ '<start_of_turn>user\\n' }}"
    "{%- if loop.first and system -%}{{ system | trim }}{{ '\\n\\n' }}{%- endif -%}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)

CHATML = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{ message['content'] | trim }}{{ '<|im_end|>\\n' }}{%- endgeneration -%}"
    "{%- else -%}"
    "{{ message['content'] | trim }}{{ '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

LLAMA3 = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{ message['content'] | trim }}{{ '<|eot_id|>' }}{%- endgeneration -%}"
    "{%- else -%}"
    "{{ message['content'] | trim }}{{ '<|eot_id|>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif -%}"
)

TEMPLATES: dict[str, ChatTemplate] = {
    "gemma": ChatTemplate("gemma", "Gemma", GEMMA, ("<end_of_turn>",), "Gemma's turn format; system folds into the first user turn."),
    "chatml": ChatTemplate("chatml", "ChatML", CHATML, ("<|im_end|>",), "Qwen and many open fine-tunes."),
    "llama3": ChatTemplate("llama3", "Llama 3", LLAMA3, ("<|eot_id|>",), "Meta Llama 3 header format."),
}


def get_template(name: str) -> ChatTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown chat template {name!r}; choose one of {', '.join(TEMPLATES)} or 'model'") from None


def default_template_for(architecture: str | None) -> str:
    arch = (architecture or "").lower()
    if "gemma" in arch:
        return "gemma"
    if "llama" in arch:
        return "llama3"
    return "chatml"


def _env():
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Generation(Extension):
        """Accept trl's {% generation %} blocks and render their body unchanged."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            from jinja2 import nodes

            return nodes.Scope(body, lineno=lineno)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[_Generation])

    def raise_exception(message):
        raise ValueError(message)

    env.globals["raise_exception"] = raise_exception
    return env


def render(
    template: str,
    messages: list[dict],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = False,
) -> str:
    """Render like transformers' apply_chat_template (and llama-cpp-python's Jinja formatter)."""
    return _env().from_string(template).render(
        messages=messages, bos_token=bos_token, eos_token=eos_token, add_generation_prompt=add_generation_prompt
    )
