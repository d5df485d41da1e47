"""The difficulty router: should this query get System 1 (fast) or System 2 (reasoning)?

A rule score over readable features (length, math / code / logic markers, multi-step wording)
decides by default, and the decision carries a reason a person can read ("multi-step math").
A small classifier (logistic regression over the same features plus word n-grams) can be
trained on labelled examples; it is stored as plain JSON numbers, never as a pickle.

    d = route_query("If a train leaves at 3pm at 60 km/h, when does it arrive 150 km away?")
    d.mode, d.reason      # "reasoning", "multi-step math"
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NUM = re.compile(r"\d+(?:[.,]\d+)?")
_OPS = re.compile(r"(?<=[\d\s)])[-+*/^×÷=%](?=[\s\d(])|\bsqrt\b|√|∑|∫")
# operations in words: "What is 17 plus 78?", "add 67 to 21", "Ines has twice as many"
_WORD_OPS = re.compile(r"\b(plus|minus|times|multiplied|divided|add|subtract|twice|half|double|triple)\b", re.I)
_MATH = re.compile(
    r"\b(calculate|compute|solve|equation|how (many|much|long|far|old)|percent(age)?|average|sum|product|"
    r"total|remainder|divisible|prime|probability|integral|derivative|prove|proof|ratio|speed|km/h|mph|"
    r"minutes?|hours?|costs?|price|interest|area|volume|perimeter|fraction|times as)\b",
    re.I,
)
_CODE = re.compile(
    r"```|\b(def|class|function|return|import|python|javascript|typescript|java|rust|sql|regex|"
    r"algorithm|complexity|big-o|recursion|bug|debug|compile|stack trace|exception|implement|refactor|"
    r"code|script|api)\b|[{};]\s*$|=>|\(\)",
    re.I | re.M,
)
_LOGIC = re.compile(
    r"\b(if .{1,80} then|therefore|implies|deduce|infer|puzzle|riddle|paradox|all .{1,30} are|"
    r"none of|either .{1,40} or|neither|true or false|which of|contradiction|logic(al)?|why)\b",
    re.I,
)
_STEPS = re.compile(
    r"\b(step[- ]by[- ]step|first\b.{0,80}\bthen|(?:and |, )?then|after that|explain (why|how)|compare|"
    r"plan|trade-?offs?|pros and cons|analy[sz]e|justify|walk me through|derive|in detail|"
    r"optimi[sz]e|design|evaluate|prove)\b",
    re.I,
)
_SMALLTALK = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|good (morning|night|evening)|what is your name|who are you)\b", re.I
)

FEATURES = ("words", "numbers", "operators", "math", "code", "logic", "multi_step", "questions", "smalltalk")


def features(query: str) -> dict[str, float]:
    q = query or ""
    return {
        "words": float(len(q.split())),
        "numbers": float(len(_NUM.findall(q))),
        "operators": float(len(_OPS.findall(q)) + len(_WORD_OPS.findall(q))),
        "math": float(len(_MATH.findall(q))),
        "code": float(len(_CODE.findall(q))),
        "logic": float(len(_LOGIC.findall(q))),
        "multi_step": float(len(_STEPS.findall(q))),
        "questions": float(q.count("?")),
        "smalltalk": 1.0 if _SMALLTALK.search(q) else 0.0,
    }


@dataclass(frozen=True)
class RouteDecision:
    mode: str  # fast | reasoning
    reason: str  # for people: "multi-step math", "short factual question"
    score: float  # > 0 leans to reasoning
    source: str = "rules"  # rules | classifier
    features: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "reason": self.reason, "score": round(self.score, 3), "source": self.source}


# Weights of the rule score; a query needs about two independent signals to cross zero.
WEIGHTS = {
    "numbers": 0.35,  # per number, capped below
    "operators": 0.6,
    "math": 0.8,
    "code": 0.9,
    "logic": 1.2,
    "multi_step": 1.1,
    "questions": 0.2,
    "smalltalk": -2.0,
    "arithmetic": 1.2,
}
BIAS = -1.5
THRESHOLD = 0.0


def _rule_score(f: dict[str, float]) -> tuple[float, dict[str, float]]:
    parts = {
        "numbers": WEIGHTS["numbers"] * min(f["numbers"], 4),
        "operators": WEIGHTS["operators"] * min(f["operators"], 3),
        "math": WEIGHTS["math"] * min(f["math"], 3),
        "code": WEIGHTS["code"] * min(f["code"], 3),
        "logic": WEIGHTS["logic"] * min(f["logic"], 2),
        "multi_step": WEIGHTS["multi_step"] * min(f["multi_step"], 2),
        "questions": WEIGHTS["questions"] * max(0.0, f["questions"] - 1),
        "smalltalk": WEIGHTS["smalltalk"] * f["smalltalk"],
        # a computation on two or more numbers ("What is 23 + 19?", "How many pencils are in 7
        # boxes of 6?"): even a short one goes to System 2, where the thinking's calculator makes
        # the digits exact; a fast answer has to guess them (bench/RESULTS.md, issue 11)
        "arithmetic": WEIGHTS["arithmetic"] * float(f["numbers"] >= 2 and (f["operators"] + f["math"]) >= 1),
        # long prompts are usually harder; short ones rarely need a scratchpad
        "length": 0.8 * math.tanh((f["words"] - 25) / 30),
    }
    return BIAS + sum(parts.values()), parts


def explain(mode: str, f: dict[str, float], parts: dict[str, float]) -> str:
    """A short reason in words, from the features that drove the decision."""
    if mode == "reasoning":
        topics = []
        if parts["math"] + parts["numbers"] + parts["operators"] + parts["arithmetic"] >= 1.0:
            topics.append("math")
        if parts["code"] > 0:
            topics.append("code")
        if parts["logic"] > 0:
            topics.append("logic")
        subject = " and ".join(topics[:2]) or "a hard question"
        if parts["multi_step"] > 0:
            return f"multi-step {subject}" if topics else "multi-step question"
        if f["words"] > 60:
            return f"long {subject}" if topics else "long, detailed request"
        return subject
    if f["smalltalk"]:
        return "small talk"
    if f["numbers"] and f["words"] <= 15:
        return "one-step arithmetic"
    if f["words"] <= 12:
        return "short factual question"
    return "no math, code, logic or multi-step markers"


# A bare computation: numbers, operators and these words only ("What is 3724 + 731?", "Calculate 7
# percent of 8166"). It needs no plan, so with the calculator tool on, System 1 sends it to the tool.
_BARE_WORDS = frozenset(
    "what whats is are how much calculate compute evaluate work out find get the a of and by to from into "
    "plus minus times multiplied multiply divided divide add subtract sum product difference quotient "
    "percent percentage square squared root sqrt cube cubed power equals equal please tell me give result value".split()
)


def bare_computation(query: str) -> bool:
    """True for a computation with nothing to plan: numbers and operators, no nouns of a story."""
    q = query or ""
    words = re.findall(r"[a-z]+", q.lower().replace("what's", "whats"))
    f = features(q)
    unary = any(w in ("root", "sqrt", "squared", "cubed") for w in words) or "√" in q  # one number is enough
    operation = (f["operators"] + f["math"]) >= 1 or unary
    return f["numbers"] >= (1 if unary else 2) and operation and all(w in _BARE_WORDS for w in words)


def route_query(query: str, classifier: "RouterClassifier | None" = None, *, tools=()) -> RouteDecision:
    """fast or reasoning for `query`. `tools`: the tools the turn may call; with the calculator
    among them a bare computation goes to fast mode, where the calculator gets the digits exact
    (thinking first only spends hidden tokens: bench/RESULTS.md, issue 11)."""
    f = features(query)
    if "calculator" in tools and bare_computation(query):
        return RouteDecision("fast", "a bare computation: the calculator tool does it", -1.0, "rules", f)
    score, parts = _rule_score(f)
    if classifier is not None:
        p = classifier.predict_proba(query)
        mode = "reasoning" if p >= 0.5 else "fast"
        reason = explain(mode, f, parts) if (score > THRESHOLD) == (mode == "reasoning") else (
            f"learned from examples (p={p:.2f})"
        )
        return RouteDecision(mode, reason, math.log(max(p, 1e-6) / max(1 - p, 1e-6)), "classifier", f)
    mode = "reasoning" if score > THRESHOLD else "fast"
    return RouteDecision(mode, explain(mode, f, parts), score, "rules", f)


# ---- the optional classifier --------------------------------------------------------------------
def _vector(query: str, vocab: dict[str, int]) -> list[float]:
    f = features(query)
    dense = [math.log1p(f[k]) for k in FEATURES]
    sparse = [0.0] * len(vocab)
    for w in _words(query):
        i = vocab.get(w)
        if i is not None:
            sparse[i] = 1.0
    return dense + sparse


def _words(query: str) -> set[str]:
    toks = re.findall(r"[a-z]+", query.lower())
    return set(toks) | {f"{a} {b}" for a, b in zip(toks, toks[1:])}


@dataclass
class RouterClassifier:
    """Logistic regression over the rule features and word uni/bigrams; JSON-serialisable."""

    vocab: dict[str, int]
    coef: list[float]
    intercept: float
    n_examples: int = 0

    def predict_proba(self, query: str) -> float:
        z = self.intercept + sum(c * x for c, x in zip(self.coef, _vector(query, self.vocab)))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_dict(self) -> dict:
        return {"vocab": self.vocab, "coef": self.coef, "intercept": self.intercept, "n_examples": self.n_examples}

    @classmethod
    def from_dict(cls, d: dict) -> "RouterClassifier":
        return cls(dict(d["vocab"]), [float(x) for x in d["coef"]], float(d["intercept"]), int(d.get("n_examples", 0)))


def train_classifier(examples: list[dict], min_count: int = 2, C: float = 1.0) -> RouterClassifier:
    """Fit on [{"query": str, "expect": "fast"|"reasoning"}, ...] (both labels needed)."""
    labels = [e.get("expect") for e in examples]
    bad = [i for i, lab in enumerate(labels) if lab not in ("fast", "reasoning")]
    if bad:
        raise ValueError(f"example {bad[0] + 1}: expect must be 'fast' or 'reasoning', got {labels[bad[0]]!r}")
    if len(set(labels)) < 2:
        raise ValueError("the router classifier needs examples of both 'fast' and 'reasoning'")
    from collections import Counter

    from sklearn.linear_model import LogisticRegression

    counts = Counter(w for e in examples for w in _words(e["query"]))
    vocab = {w: i for i, w in enumerate(sorted(w for w, c in counts.items() if c >= min_count))}
    X = [_vector(e["query"], vocab) for e in examples]
    y = [1 if lab == "reasoning" else 0 for lab in labels]
    model = LogisticRegression(C=C, max_iter=1000).fit(X, y)
    return RouterClassifier(vocab, [float(c) for c in model.coef_[0]], float(model.intercept_[0]), len(examples))


def evaluate_router(examples: list[dict], classifier: RouterClassifier | None = None) -> dict:
    """Accuracy and the confusion matrix (rows: expected, columns: routed)."""
    confusion = {e: {r: 0 for r in ("fast", "reasoning")} for e in ("fast", "reasoning")}
    rows = []
    for ex in examples:
        d = route_query(ex["query"], classifier)
        confusion[ex["expect"]][d.mode] += 1
        rows.append({"query": ex["query"], "expect": ex["expect"], "routed": d.mode, "reason": d.reason})
    n = len(examples)
    correct = confusion["fast"]["fast"] + confusion["reasoning"]["reasoning"]
    return {"n": n, "accuracy": round(correct / n, 4) if n else 0.0, "confusion": confusion, "rows": rows}
