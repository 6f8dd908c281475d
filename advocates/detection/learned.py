"""The model's decision over the rules' verdicts: thank, care (or a question to answer), none.

The model decides; the rules stay as guards and as reasons:
- a sarcasm cue always means care (publicly thanking a sarcastic complaint is the worst
  outcome, and the cue is the rules' most precise signal);
- a thank-you needs the model's probability at the threshold *and* a rules score that is not
  negative: a post whose own words the rules read as a complaint is never thanked;
- a real question (one that asks for information) that is not praise is answered, never
  dropped, unless it carries a complaint, which makes it care;
- a post about a competitor is care only when the rules read it as negative;
- the flags (spam, competitor, own account, excluded terms) pass through to routing, whose
  guards are the same for the rules and the model.

The result is a `Detection` that `route_decide` routes as it routes the rules': thank is a
positive label with the thank probability as confidence, care a negative complaint, none a
neutral label. Its first reason names the words that pushed the model most.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from advocates.detection import features
from advocates.detection.model import LinearModel
from advocates.detection.types import DECISIONS, Detection, DetectionInput, RuleVerdict

THANK, CARE, NONE = range(3)
RULES_VETO_SCORE = -0.2  # the rules' negative cut: their words read as a complaint
REASON_FEATURES = 2
# Tokens that stand for masked things or carry no meaning alone: a term made only of these is
# never named in a reason ("'the' + 'on'" tells staff nothing).
_UNNAMED = frozenset({
    "brandname", "@user", "user", "http", "!", "?",
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "with", "from", "by",
    "is", "are", "was", "were", "be", "it", "its", "it's", "this", "that", "i", "i'm", "me",
    "my", "you", "your", "we", "our", "they", "he", "she", "s", "so", "as", "just", "up",
    "の", "に", "は", "を", "が", "で", "と", "も", "へ", "や", "から", "まで", "て", "た",
    "です", "ます", "した", "この", "その",
})


def decide_batch(model: LinearModel, items: Sequence[DetectionInput],
                 verdicts: Sequence[RuleVerdict], threshold: float) -> list[Detection]:
    if not items:
        return []
    built = features.build(verdicts, items)
    probabilities = model.probabilities(built.matrix).tolist()
    chosen = [decision_index(v, p, threshold) for v, p in zip(verdicts, probabilities, strict=True)]
    named = strongest_features(model, built, chosen)
    return [_decide(item, verdict, p, cls, names, model.version, threshold)
            for item, verdict, p, cls, names
            in zip(items, verdicts, probabilities, chosen, named, strict=True)]


def decision_index(verdict: RuleVerdict, p: Sequence[float], threshold: float) -> int:
    """THANK, CARE or NONE for one item (see the module's docstring for the order)."""
    flags = verdict.detection.flags
    if "sarcasm" in flags:
        return CARE
    if p[THANK] >= threshold and verdict.score > RULES_VETO_SCORE:
        return THANK
    complaint = verdict.detection.label == "negative" and verdict.complaint_cues > 0
    if "competitor" in flags and verdict.detection.label != "negative":
        return NONE  # about a competitor, and no complaint about us: not ours to answer
    if p[CARE] >= p[NONE] or complaint:
        return CARE
    return NONE


def _decide(item: DetectionInput, verdict: RuleVerdict, p: Sequence[float], chosen: int,
            named: list[str], version: str, threshold: float) -> Detection:
    rules = verdict.detection
    asks = verdict.asks_information and verdict.complaint_cues == 0 and "sarcasm" not in rules.flags
    if chosen == THANK:
        kind = item.kind.lower()
        label, intent = "positive", kind if kind in ("checkin", "review") else "praise"
    elif asks:
        # Answered whatever the model's class: nobody is thanked for asking, and a question
        # left unanswered is a customer let down.
        label, intent = "neutral", "question"
    elif chosen == CARE:
        label, intent = "negative", "complaint"
    else:
        label, intent = "neutral", "other"
    reasons = [f"model: {' + '.join(named) or 'no strong feature'} → {DECISIONS[chosen]} "
               f"({p[chosen]:.2f})"]
    if chosen != THANK and rules.label == "positive" and p[THANK] < threshold:
        reasons.append(f"model: thank-you {p[THANK]:.2f}, below {threshold:.2f}")
    if chosen != THANK and p[THANK] >= threshold and verdict.score <= RULES_VETO_SCORE:
        reasons.append("rules read a complaint: no thank-you")
    return Detection(
        language=rules.language, label=label, intent=intent,
        confidence=round(float(p[chosen]), 4),
        reasons=(*reasons, *rules.reasons), version=version, flags=rules.flags,
    )


def strongest_features(model: LinearModel, built: features.Features,
                       chosen: Sequence[int]) -> list[list[str]]:
    """For each row, what pushed it hardest toward its chosen class, for the reason
    "model: 'can't believe' + 'bad' → care (0.85)": its word terms ('quoted'), else the rules'
    evidence (by name). One gather over the whole batch; the ranking per row is plain Python
    on a few dozen numbers."""
    pushes = model.pushes()
    classes = np.asarray(chosen, dtype=np.int64)
    lengths = [len(row) for row in built.terms]
    # A word term's value in its row is the same for every term after normalising (bar
    # repeats), so its push is ranked by its weights alone.
    word_push = pushes[built.term_columns, np.repeat(classes, lengths)].tolist()
    dense_columns = np.arange(features.DENSE_COLUMNS) + features.DENSE_START
    dense_push = (built.dense * pushes[dense_columns][:, classes].T).tolist()
    out: list[list[str]] = []
    start = 0
    for row, row_terms in enumerate(built.terms):
        push = word_push[start:start + len(row_terms)]
        start += len(row_terms)
        picked: list[str] = []
        for i in sorted(range(len(row_terms)), key=push.__getitem__, reverse=True):  # stable
            if push[i] <= 0 or len(picked) == REASON_FEATURES:
                break
            term = row_terms[i]
            if _nameable(term) and not any(term in p or p in term for p in picked):
                picked.append(term)
        names = [f"'{t}'" for t in picked]
        evidence = dense_push[row]
        for i in sorted(range(features.DENSE_COLUMNS), key=evidence.__getitem__, reverse=True):
            if len(names) >= REASON_FEATURES or evidence[i] <= 0.05:
                break
            names.append(features.DENSE_NAMES[i])
        out.append(names)
    return out


@functools.lru_cache(maxsize=100_000)
def _nameable(term: str) -> bool:
    return not _UNNAMED.issuperset(term.split())
