"""Training: the base model from public data, a brand's model from its staff's decisions.

Pure Python like the rest of `advocates.detection` (no Django): the management commands and
`advocates.services.learning` call it, and so does the benchmark.

Data (read from `shared/data`, never copied into the project; see each folder's README):
- SemEval-2013 tweets: positive -> thank, negative -> care, neutral -> none. The 417 tweets
  also in TweetEval's validation split are dropped, so that split stays unseen.
- TweetEval irony train: the ironic tweets -> care (irony about a brand is a complaint).
- Our own written brand mentions (`training_data/`, English and Japanese): only their tune
  parts; each file's frozen test part (`split_of`) is read only to report.

Every split is by a hash of the text, so it is the same on every machine and in every run.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from advocates.detection import features
from advocates.detection.decision import decisions_of
from advocates.detection.detector import Detector
from advocates.detection.learned import CARE, NONE, THANK, decision_index
from advocates.detection.model import BASE_NAME, LinearModel
from advocates.detection.types import DECISIONS, DetectionInput, DetectorConfig

TRAINING_DATA = Path(__file__).resolve().parent / "training_data"
# Our own files and the share of each that is frozen for reporting.
OWN_SETS = {"coffee_mentions": 0.4, "ja_general": 0.3}
# Errors that cost more weigh more: thanking a complaint is the worst outcome.
CLASS_WEIGHTS = {"thank": 1.0, "care": 3.0, "none": 1.5}
OWN_WEIGHT = 3.0  # a brand mention counts more than a general tweet: it is what we judge
BASE_C = 2.0  # inverse regularisation (chosen by cross-fitting on the training data)
STACK_C = 1.0
STACK_SCALE = 3.0  # the base's logits enter a brand model scaled up: cheap to keep
FOLDS = 3
# The thank-you threshold rule, applied to TweetEval validation's tune half (never trained
# on; its test half is frozen): the highest recall with precision >= MIN_PRECISION and at most
# MAX_NEG_THANKED of the negative tweets thanked, then THRESHOLD_MARGIN higher, because brand
# mentions and other people's tweets are not the tune half (irony especially).
MIN_PRECISION = 0.85
MAX_NEG_THANKED = 0.02
THRESHOLD_MARGIN = 0.04
MIN_EXAMPLES_PER_DECISION = 5

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_HANDLE = re.compile(r"@\w+")


@dataclass(frozen=True, slots=True)
class Example:
    item: DetectionInput
    decision: str  # thank | care | none
    weight: float = 1.0
    source: str = ""
    brand_terms: tuple[str, ...] = ()  # names of the brand in this text (masked for the model)
    competitor_terms: tuple[str, ...] = ()  # a competitor this text is about


def split_of(text: str, test_share: float) -> str:
    """"test" or "tune", fixed by the text's hash: the same on every machine and run."""
    digest = hashlib.sha1(text.strip().encode("utf-8"), usedforsecurity=False).digest()
    return "test" if int.from_bytes(digest[:4], "big") / 2**32 < test_share else "tune"


def tweet_key(text: str) -> str:
    """How the data READMEs say to compare tweets across sets."""
    return _HANDLE.sub("@user", _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)).lower()


# --- datasets -------------------------------------------------------------------------------

def tweeteval_validation(data_dir: Path) -> list[tuple[str, int]]:
    """(text, label 0 negative / 1 neutral / 2 positive) of TweetEval's validation split."""
    folder = data_dir / "tweeteval-sentiment-val"
    texts = (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / "val_labels.txt").read_text(encoding="utf-8").split()
    return list(zip(texts, (int(x) for x in labels), strict=True))


def semeval_examples(data_dir: Path) -> list[Example]:
    folder = data_dir / "semeval2013-sentiment"
    unseen = {tweet_key(t) for t, _ in tweeteval_validation(data_dir)}
    mapping = {"positive": "thank", "negative": "care", "neutral": "none"}
    out = []
    for path in sorted(folder.glob("twitter-2013*-A.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or parts[1] not in mapping:
                continue
            text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), parts[2])
            if tweet_key(text) in unseen:
                continue
            out.append(Example(DetectionInput(text=text, language="en"),
                               mapping[parts[1]], source="semeval2013"))
    return out


def irony_examples(data_dir: Path, split: str = "train") -> list[Example]:
    """The ironic tweets of a TweetEval irony split, as care."""
    folder = data_dir / "tweeteval-irony"
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()
    return [Example(DetectionInput(text=t, language="en"), "care",
                    source=f"tweeteval-irony-{split}")
            for t, label in zip(texts, labels, strict=True) if label == "1"]


def labeled_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def row_example(row: dict[str, Any], *, weight: float = 1.0, source: str = "") -> Example:
    rating = row.get("rating")
    item = DetectionInput(
        text=str(row["text"]), platform=str(row.get("platform") or "sandbox"),
        kind=str(row.get("kind") or "post"), language=row.get("language") or None,
        rating=int(rating) if isinstance(rating, int) else None)
    brand = str(row.get("brand") or "").strip()
    names = (brand,) if brand else ()
    if row.get("category") == "competitor":  # the row's "brand" is the competitor's name
        return Example(item, str(row["decision"]), weight, source, (), names)
    return Example(item, str(row["decision"]), weight, source, names)


def own_examples(name: str, part: str, directory: Path = TRAINING_DATA,
                 test_share: float | None = None) -> list[Example]:
    """The `part` ("tune" or "test") of one of our labeled files."""
    share = OWN_SETS[name] if test_share is None else test_share
    rows = labeled_rows(directory / f"{name}.jsonl")
    return [row_example(r, weight=OWN_WEIGHT, source=name) for r in rows
            if split_of(r["text"], share) == part]


def base_training_examples(data_dir: Path) -> list[Example]:
    return [*semeval_examples(data_dir), *irony_examples(data_dir, "train"),
            *(e for name in OWN_SETS for e in own_examples(name, "tune"))]


# --- features for a set of examples -----------------------------------------------------------

def config_for(examples: Sequence[Example], base: DetectorConfig | None = None) -> DetectorConfig:
    """A detector configuration that knows every brand and competitor name these examples
    use, as a brand's settings would."""
    base = base or DetectorConfig()
    names = sorted({t for e in examples for t in e.brand_terms})
    rivals = sorted({t for e in examples for t in e.competitor_terms} - set(names))
    return DetectorConfig(
        brand_name=base.brand_name, tracked_terms=(*base.tracked_terms, *names),
        tracked_handles=base.tracked_handles, exclusions=base.exclusions,
        competitors=(*base.competitors, *rivals), own_handles=(), languages=base.languages,
        thank_threshold=base.thank_threshold)


@dataclass(slots=True)
class Prepared:
    """Examples with the rules' verdicts and the feature matrix, computed once."""

    examples: list[Example]
    verdicts: list[Any]
    x: Any  # scipy.sparse.csr_matrix
    y: np.ndarray
    weights: np.ndarray


def prepare(examples: Sequence[Example], config: DetectorConfig | None = None) -> Prepared:
    examples = list(examples)
    detector = Detector(config or config_for(examples))
    verdicts = [detector.evaluate(e.item) for e in examples]
    x = features.matrix(verdicts, [e.item for e in examples])
    y = np.array([DECISIONS.index(e.decision) for e in examples], dtype=np.int64)
    weights = np.array([e.weight * CLASS_WEIGHTS[e.decision] for e in examples])
    return Prepared(examples, verdicts, x, y, weights)


# --- fitting --------------------------------------------------------------------------------

def _fit_logistic(x, y: np.ndarray, weights: np.ndarray, c: float):
    # Training only (a worker or a command): scipy and sklearn stay out of every other process.
    from sklearn.linear_model import LogisticRegression

    present = set(np.unique(y).tolist())
    if present != {THANK, CARE, NONE}:
        missing = [DECISIONS[i] for i in (THANK, CARE, NONE) if i not in present]
        raise ValueError(f"training needs examples of every decision; none of: {missing}")
    clf = LogisticRegression(C=c, max_iter=400, tol=1e-4)
    clf.fit(x, y, sample_weight=weights)
    return clf


def _cross_fitted_logits(x, y: np.ndarray, weights: np.ndarray, c: float,
                         folds: int = FOLDS) -> np.ndarray:
    """Each row's logits from a model that did not see it (fold by row order hash)."""
    fold = np.arange(len(y)) % folds
    out = np.zeros((len(y), len(DECISIONS)))
    for k in range(folds):
        train, held = fold != k, fold == k
        clf = _fit_logistic(x[train], y[train], weights[train], c)
        out[held] = clf.decision_function(x[held])
    return out


def temperature_fit(logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature that minimises the log loss of cross-fitted logits."""
    best, best_loss = 1.0, math.inf
    for t in np.arange(0.5, 3.01, 0.05):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        loss = float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))).mean())
        if loss < best_loss:
            best, best_loss = float(t), loss
    return round(best, 2)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def threshold_choose(verdicts: Sequence[Any], probabilities: np.ndarray, y: np.ndarray) -> float:
    """The threshold rule (see MIN_PRECISION), with the decisions made as production makes
    them (the rules' guards included)."""
    best = 0.9
    for t in np.arange(0.30, 0.91, 0.02):
        figures = Figures.of(y, [decision_index(v, p, t) for v, p in
                                 zip(verdicts, probabilities, strict=True)])
        if figures.precision >= MIN_PRECISION and figures.neg_thanked <= MAX_NEG_THANKED:
            best = float(t)
            break  # the lowest such threshold has the highest recall
    return round(min(best + THRESHOLD_MARGIN, 0.9), 2)


def _linear(clf, card: dict[str, Any], temperature: float, *, skip: int = 0,
            base: LinearModel | None = None) -> LinearModel:
    coef = clf.coef_  # (3, columns)
    weights = np.asarray(coef[:, skip:].T, dtype=np.float32)
    stack = np.asarray(coef[:, :skip].T * STACK_SCALE) if skip else None
    return LinearModel(weights=weights, intercept=np.asarray(clf.intercept_, dtype=np.float64),
                       card=card, temperature=temperature, base=base, stack=stack)


def train_base(data_dir: Path, *, version: str = "", c: float = BASE_C) -> LinearModel:
    """The base model from public data and our own tune parts, with its card: temperature
    from cross-fitted predictions, threshold from TweetEval validation's tune half."""
    examples = base_training_examples(data_dir)
    prepared = prepare(examples)
    logits = _cross_fitted_logits(prepared.x, prepared.y, prepared.weights, c)
    temperature = temperature_fit(logits, prepared.y)
    clf = _fit_logistic(prepared.x, prepared.y, prepared.weights, c)
    today = datetime.now(UTC).strftime("%Y%m%d")
    card: dict[str, Any] = {
        "version": version or f"{BASE_NAME}-{today}",
        "kind": "base",
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": features.FEATURES_VERSION,
        "classes": list(DECISIONS),
        "c": c, "temperature": temperature,
        "class_weights": CLASS_WEIGHTS,
        "training_data": _sources(examples),
    }
    model = _linear(clf, card, temperature)
    tune = prepare(validation_examples(data_dir, "tune"), DetectorConfig(languages=("en",)))
    threshold = threshold_choose(tune.verdicts, model.probabilities(tune.x), tune.y)
    card["threshold"] = threshold
    oof = softmax(logits / temperature)
    card["calibration"] = {
        "what": "cross-fitted predictions on the training data itself: a calibration "
                "result, not a quality figure",
        **Figures.of(prepared.y, [decision_index(v, p, threshold) for v, p in zip(
            prepared.verdicts, oof, strict=True)]).as_dict()}
    card["validation"] = {
        "what": "TweetEval sentiment validation, its tune half (never trained on; the "
                "threshold was chosen here, so this is the guide, not the test; the frozen "
                "half is only reported by bench/detection.py)",
        **Figures.of(tune.y, [decision_index(v, p, threshold) for v, p in zip(
            tune.verdicts, model.probabilities(tune.x), strict=True)]).as_dict()}
    return model


def train_stacked(base: LinearModel, examples: Sequence[Example], config: DetectorConfig, *,
                  version: str, c: float = STACK_C) -> LinearModel:
    """A brand's model: the base's logits plus what the brand's own decisions add."""
    # Training only (a worker or a command): scipy and sklearn stay out of every other process.
    from scipy import sparse

    prepared = prepare(examples, config)
    base_logits = base.logits(prepared.x)
    # The base's logits go in scaled up, so that the weight that keeps them as they are
    # (1 / STACK_SCALE) costs little regularisation: the brand's few examples adjust the
    # base rather than replace it.
    xs = sparse.hstack([sparse.csr_matrix(base_logits * STACK_SCALE), prepared.x], format="csr")
    clf = _fit_logistic(xs, prepared.y, prepared.weights, c)
    card = {
        "version": version, "kind": "brand", "base": base.version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": features.FEATURES_VERSION, "classes": list(DECISIONS), "c": c,
        "threshold": base.threshold, "examples": len(prepared.examples),
        "training_data": _sources(prepared.examples),
    }
    return _linear(clf, card, 1.0, skip=len(DECISIONS), base=base)


def _sources(examples: Iterable[Example]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in examples:
        counts = out.setdefault(e.source or "other", {d: 0 for d in DECISIONS})
        counts[e.decision] += 1
    return out


# --- figures ----------------------------------------------------------------------------------

@dataclass(slots=True)
class Figures:
    """How a set of thank / care / none decisions compares with the right ones."""

    n: int = 0
    precision: float = 0.0  # of the thanked, how many deserved it
    recall: float = 0.0  # of those who deserved a thank-you, how many got one
    neg_thanked: float = 0.0  # of those who needed care, how many were thanked
    care_recall: float = 0.0
    macro_f1: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, gold: Sequence[int] | np.ndarray, predicted: Sequence[int]) -> Figures:
        gold = [int(g) for g in gold]
        pairs = list(zip(gold, predicted, strict=True))

        def f1(k: int) -> tuple[float, float, float]:
            tp = sum(g == k and p == k for g, p in pairs)
            called = sum(p == k for _, p in pairs)
            actual = sum(g == k for g, _ in pairs)
            prec = tp / called if called else 0.0
            rec = tp / actual if actual else 0.0
            return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)

        t_prec, t_rec, t_f1 = f1(THANK)
        _, c_rec, c_f1 = f1(CARE)
        _, _, n_f1 = f1(NONE)
        care = sum(g == CARE for g in gold)
        return cls(
            n=len(pairs), precision=t_prec, recall=t_rec,
            neg_thanked=(sum(g == CARE and p == THANK for g, p in pairs) / care) if care else 0.0,
            care_recall=c_rec, macro_f1=(t_f1 + c_f1 + n_f1) / 3,
            counts={d: sum(g == i for g in gold) for i, d in enumerate(DECISIONS)})

    def better_than(self, other: Figures) -> bool:
        """Promotion rule: a clearly higher macro-F1, and no more care posts thanked (one
        point of slack for noise on a small slice)."""
        return (self.macro_f1 >= other.macro_f1 + 0.005
                and self.neg_thanked <= other.neg_thanked + 0.01)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "precision": round(self.precision, 3),
                "recall": round(self.recall, 3), "neg_thanked": round(self.neg_thanked, 3),
                "care_recall": round(self.care_recall, 3), "macro_f1": round(self.macro_f1, 3),
                "counts": self.counts}

    def line(self) -> str:
        return (f"n={self.n:5d}  thank precision {self.precision:.3f}  recall "
                f"{self.recall:.3f}  care thanked {self.neg_thanked:.1%}  care recall "
                f"{self.care_recall:.3f}  macro-F1 {self.macro_f1:.3f}")


def evaluate(detector: Detector, examples: Sequence[Example]) -> Figures:
    """The decisions production would make (detector, then routing) against the labels."""
    decided = decisions_of(detector, [e.item for e in examples])
    return Figures.of([DECISIONS.index(e.decision) for e in examples],
                      [DECISIONS.index(d) for d in decided])



def validation_examples(data_dir: Path, part: str) -> list[Example]:
    """TweetEval's validation tweets (none of them trained on), half "tune" (the guide, may be
    looked at while developing) and half "test" (frozen: only reported)."""
    mapping = {0: "care", 1: "none", 2: "thank"}
    return [Example(DetectionInput(text=t, language="en"), mapping[label],
                    source="tweeteval-val")
            for t, label in tweeteval_validation(data_dir) if split_of(t, 0.5) == part]
