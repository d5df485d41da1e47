"""The intent classifier: which tool (or "none") a query needs. Trainable and inspectable.

    clf = train_intent(load_examples(DEFAULT_DATASET))          # well under a second on CPU
    clf.predict("what's 17.5% of 2,340?", enabled=["calculator", "search"])
    # Decision(tool="calculator", confidence=0.93, probs={...}, reason="...")
    clf.explain("what's 17.5% of 2,340?")   # the n-grams that pushed it there

Features are TF-IDF character n-grams (robust to typos and numbers: "17.5%", "2^64") plus
word uni/bi-grams, fed to a multinomial logistic regression. Both are linear, so every decision
can be explained by its top-weighted n-grams. Optional extra features: the mean-pooled
embedding of the query from the loaded GGUF model (`embedder=`), for users who train on
data where surface n-grams are not enough.

A label is a tool name or None ("none": answer directly). When the winning tool is not
enabled in the conversation, or the confidence is under `threshold`, the decision is "none"
and the reason says why.
"""

from __future__ import annotations

import hashlib
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from engines.jsonl import json_lines

DATA = Path(__file__).with_name("data")
DEFAULT_DATASET = DATA / "intent_train.jsonl"
EXAMPLE_SUITE = DATA / "example_suite.jsonl"
NONE = "none"
THRESHOLD = 0.35  # below this the classifier is guessing among 5 classes: answer directly


class IntentDataError(ValueError):
    """A labelled dataset that cannot be trained on (the message names file:line)."""


def query_rows(path: Path):
    """(line number, row) for each non-blank JSONL line that is an object with a "query";
    anything else raises IntentDataError naming file:line."""
    for n, row, problem in json_lines(path):
        if problem:
            raise IntentDataError(problem)
        if not isinstance(row, dict) or not isinstance(row.get("query"), str) or not row["query"].strip():
            raise IntentDataError(f"{path}:{n}: each row needs a non-empty \"query\" string")
        yield n, row


def load_examples(path: str | Path) -> list[tuple[str, str]]:
    """(query, label) pairs from JSONL rows {"query", "tool"} or suite rows {"query", "expect": {"tool"}}."""
    path = Path(path)
    if not path.is_file():
        raise IntentDataError(f"{path}: no such file")
    out = []
    for n, row in query_rows(path):
        if "tool" in row:
            label = row["tool"]
        elif isinstance(row.get("expect"), dict):
            label = row["expect"].get("tool")
        else:
            raise IntentDataError(f"{path}:{n}: each row needs \"tool\" (a tool name or null)")
        if label is not None and not isinstance(label, str):
            raise IntentDataError(f"{path}:{n}: \"tool\" must be a tool name or null")
        out.append((row["query"], label or NONE))
    labels = {lab for _, lab in out}
    if len(labels) < 2:
        raise IntentDataError(f"{path}: needs examples of at least two labels (e.g. a tool and null), found {sorted(labels)}")
    return out


@dataclass
class Decision:
    tool: str | None  # None: answer directly
    confidence: float
    probs: dict[str, float]
    reason: str = ""
    top: str = NONE  # the classifier's own top label, before the enabled-tools filter

    def to_dict(self) -> dict:
        return {"tool": self.tool, "confidence": round(self.confidence, 4),
                "probs": {k: round(v, 4) for k, v in self.probs.items()}, "reason": self.reason, "top": self.top}


@dataclass
class IntentClassifier:
    pipeline: object  # sklearn Pipeline(features -> LogisticRegression)
    labels: list[str]
    meta: dict = field(default_factory=dict)
    threshold: float = THRESHOLD

    def probabilities(self, queries: list[str]) -> list[dict[str, float]]:
        probs = self.pipeline.predict_proba(queries)
        classes = list(self.pipeline.classes_)
        return [{c: float(p[i]) for i, c in enumerate(classes)} for p in probs]

    def predict(self, query: str, enabled: Iterable[str] | None = None) -> Decision:
        return self.predict_many([query], enabled)[0]

    def predict_many(self, queries: list[str], enabled: Iterable[str] | None = None) -> list[Decision]:
        enabled = None if enabled is None else set(enabled)
        out = []
        for probs in self.probabilities(queries):
            top = max(probs, key=probs.get)
            conf = probs[top]
            if top == NONE:
                d = Decision(None, conf, probs, "no tool needed", top)
            elif enabled is not None and top not in enabled:
                d = Decision(None, conf, probs, f"{top} is not enabled in this conversation", top)
            elif conf < self.threshold:
                d = Decision(None, conf, probs, f"confidence {conf:.2f} below threshold {self.threshold:.2f}", top)
            else:
                d = Decision(top, conf, probs, f"{top} with confidence {conf:.2f}", top)
            out.append(d)
        return out

    def explain(self, query: str, n: int = 6) -> dict:
        """The n features that pushed `query` most towards its top label (value x weight)."""
        feats = self.pipeline.named_steps["features"]
        lr = self.pipeline.named_steps["clf"]
        x = feats.transform([query])
        probs = self.probabilities([query])[0]
        top = max(probs, key=probs.get)
        row = list(lr.classes_).index(top)
        coef = lr.coef_[row] if lr.coef_.shape[0] > 1 else lr.coef_[0] * (1 if row == 1 else -1)
        names = feats.get_feature_names_out()
        x = x.tocoo()
        contrib = sorted(((float(v * coef[j]), names[j]) for j, v in zip(x.col, x.data)), reverse=True)[:n]
        return {"label": str(top), "confidence": round(probs[top], 4),
                "features": [{"feature": name, "weight": round(w, 4)} for w, name in contrib]}

    def top_features(self, label: str, n: int = 10) -> list[str]:
        lr = self.pipeline.named_steps["clf"]
        names = self.pipeline.named_steps["features"].get_feature_names_out()
        row = list(lr.classes_).index(label)
        order = lr.coef_[row].argsort()[::-1][:n]
        return [str(names[j]) for j in order]

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump({"pipeline": self.pipeline, "labels": self.labels, "meta": self.meta,
                         "threshold": self.threshold}, f)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> "IntentClassifier":
        # only files the studio wrote itself into its own home are loaded (pickle executes code)
        with open(path, "rb") as f:
            d = pickle.load(f)  # noqa: S301
        return cls(d["pipeline"], d["labels"], d["meta"], d.get("threshold", THRESHOLD))


def _features():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True,
                                  min_df=1)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                  token_pattern=r"(?u)\b\w+\b|[%^*/+=`]")),
    ])


def _logreg(c: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    # saga: ~10x faster than lbfgs on these sparse n-gram features, same accuracy here
    return LogisticRegression(C=c, solver="saga", max_iter=5000, tol=1e-4, random_state=seed)


def examples_hash(examples: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for q, lab in examples:
        h.update(f"{q}\t{lab}\n".encode())
    return h.hexdigest()[:16]


def train_intent(examples: list[tuple[str, str]], *, c: float = 10.0, seed: int = 0, cross_validate: bool = True,
                 progress: Callable[[str], None] | None = None) -> IntentClassifier:
    """Fit the classifier; meta records the data hash, label counts, training time and
    5-fold cross-validated accuracy (when every label has at least 5 examples)."""
    from sklearn.pipeline import Pipeline

    if len(examples) < 4:
        raise IntentDataError(f"only {len(examples)} examples; train on at least a handful per tool")
    queries = [q for q, _ in examples]
    labels = [lab for _, lab in examples]
    counts = {lab: labels.count(lab) for lab in sorted(set(labels))}
    start = time.perf_counter()
    pipe = Pipeline([("features", _features()), ("clf", _logreg(c, seed))])
    pipe.fit(queries, labels)
    train_s = time.perf_counter() - start
    meta = {"examples": len(examples), "label_counts": counts, "data_hash": examples_hash(examples),
            "train_s": round(train_s, 3), "features": "tfidf char 2-5 + word 1-2", "C": c}
    if cross_validate and min(counts.values()) >= 5:
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        if progress:
            progress("cross-validating")
        cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        scores = cross_val_score(Pipeline([("features", _features()), ("clf", _logreg(c, seed))]),
                                 queries, labels, cv=cv)
        meta["cv_accuracy"] = round(float(scores.mean()), 4)
    return IntentClassifier(pipe, sorted(counts), meta)
