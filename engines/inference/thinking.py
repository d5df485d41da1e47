"""Split a streamed completion into hidden thinking and the visible answer.

Models that think natively wrap their reasoning in tags: `<think>…</think>` (DeepSeek-R1
distills, Qwen3, QwQ), `<thinking>`, `<reasoning>`, `<thought>`, Command-R's
`<|START_THINKING|>`, and others. The tags can arrive split across tokens ("<th", "ink>"), so
the parser holds back any tail that could still become a tag.

    p = ThinkingParser()
    for piece in stream:
        for kind, text in p.feed(piece):   # kind is "thinking" or "answer"
            ...
    tail = p.finish()
"""

from __future__ import annotations

from engines.inference.streaming import held_back

# (open, close) pairs, most specific first
THINK_TAGS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"),
    ("<thinking>", "</thinking>"),
    ("<reasoning>", "</reasoning>"),
    ("<thought>", "</thought>"),
    ("<|START_THINKING|>", "<|END_THINKING|>"),
    ("<|begin_of_thought|>", "<|end_of_thought|>"),
    ("◁think▷", "◁/think▷"),
    ("<seed:think>", "</seed:think>"),
)

# What the scaffold and budget forcing write into the prompt (the first pair above).
OPEN_TAG, CLOSE_TAG = THINK_TAGS[0]


class ThinkingParser:
    """A small state machine over the stream: outside a thinking block, or inside one.

    `start_inside=True` is for prompts that already opened the block (the scaffold prefills
    `<think>`, and so do the R1 templates), so the model only ever writes the closing tag.
    """

    def __init__(self, start_inside: bool = False, tags: tuple[tuple[str, str], ...] = THINK_TAGS):
        self.tags = tags
        self._buf = ""
        self._close: str | None = tags[0][1] if start_inside else None
        self.blocks_closed = 0

    @property
    def inside(self) -> bool:
        return self._close is not None

    def feed(self, piece: str) -> list[tuple[str, str]]:
        self._buf += piece
        out: list[tuple[str, str]] = []
        while self._buf:
            if self._close is None:
                hits = [(self._buf.find(o), o, c) for o, c in self.tags if o in self._buf]
                # a closing tag with no opener (the model echoes "</think>") is dropped, not shown
                hits += [(self._buf.find(c), c, None) for _o, c in self.tags if c in self._buf]
                if hits:
                    at, tag, close = min(hits, key=lambda h: (h[0], -len(h[1])))
                    self._emit(out, "answer", self._buf[:at])
                    self._buf = self._buf[at + len(tag) :]
                    self._close = close
                    continue
                keep = held_back(self._buf, [t for pair in self.tags for t in pair])
                kind = "answer"
            else:
                at = self._buf.find(self._close)
                if at >= 0:
                    self._emit(out, "thinking", self._buf[:at])
                    self._buf = self._buf[at + len(self._close) :]
                    self._close = None
                    self.blocks_closed += 1
                    continue
                keep = held_back(self._buf, [self._close])
                kind = "thinking"
            self._emit(out, kind, self._buf[: len(self._buf) - keep])
            self._buf = self._buf[len(self._buf) - keep :]
            break
        return out

    def finish(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        self._emit(out, "thinking" if self.inside else "answer", self._buf)
        self._buf = ""
        return out

    @staticmethod
    def _emit(out: list[tuple[str, str]], kind: str, text: str) -> None:
        if not text:
            return
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))


def split_thinking(text: str, start_inside: bool = False) -> tuple[str, str]:
    """(thinking, answer) of a whole completion."""
    p = ThinkingParser(start_inside=start_inside)
    parts = p.feed(text) + p.finish()
    return (
        "".join(t for k, t in parts if k == "thinking"),
        "".join(t for k, t in parts if k == "answer"),
    )
