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
    x = features.matrix(verdicts, items)
    probabilities = model.probabilities(x)
    dense = x[:, features.WORD_COLUMNS + features.CHAR_COLUMNS:].toarray()
    return [_decide(model, item, verdict, p, d, threshold)
            for item, verdict, p, d in zip(items, verdicts, probabilities, dense, strict=True)]


def decision_index(verdict: RuleVerdict, p: np.ndarray, threshold: float) -> int:
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


def _decide(model: LinearModel, item: DetectionInput, verdict: RuleVerdict, p: np.ndarray,
            dense: np.ndarray, threshold: float) -> Detection:
    rules = verdict.detection
    chosen = decision_index(verdict, p, threshold)
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
    reasons = [explain(model, verdict, dense, chosen, float(p[chosen]))]
    if chosen != THANK and rules.label == "positive" and p[THANK] < threshold:
        reasons.append(f"model: thank-you {p[THANK]:.2f}, below {threshold:.2f}")
    if chosen != THANK and p[THANK] >= threshold and verdict.score <= RULES_VETO_SCORE:
        reasons.append("rules read a complaint: no thank-you")
    return Detection(
        language=rules.language, label=label, intent=intent,
        confidence=round(float(p[chosen]), 4),
        reasons=(*reasons, *rules.reasons), version=model.version, flags=rules.flags,
    )


def explain(model: LinearModel, verdict: RuleVerdict, dense: np.ndarray, cls: int,
            probability: float) -> str:
    """"model: 'can't believe' + 'bad' → care (0.85)": the word terms (else the rules'
    evidence) that pushed this item hardest toward the chosen class."""
    terms = [t for t in features.word_terms(features.word_tokens(verdict.model_text))
             if not _UNNAMED.issuperset(t.split())]
    columns = features.word_columns(terms)
    named: list[str] = []
    if terms:
        # A word term's weight in the row is 1/sqrt(n) after normalising; its contribution
        # is that times the weight difference, so rank by the weights themselves.
        cols = np.array([columns[t] for t in terms], dtype=np.int64)
        push = model.contributions(cols, np.ones(len(cols)), cls)
        order = np.argsort(-push, kind="stable")
        for i in order:
            if push[i] <= 0 or len(named) == REASON_FEATURES:
                break
            if terms[i] not in named and not any(terms[i] in n or n in terms[i] for n in named):
                named.append(terms[i])
    if len(named) < REASON_FEATURES:
        cols = np.arange(features.DENSE_COLUMNS) + features.WORD_COLUMNS + features.CHAR_COLUMNS
        push = model.contributions(cols, dense, cls)
        for i in np.argsort(-push, kind="stable"):
            if push[i] <= 0.05 or len(named) == REASON_FEATURES:
                break
            named.append(features.DENSE_NAMES[i])
    words = " + ".join(f"'{n}'" if n not in features.DENSE_NAMES else n for n in named)
    return f"model: {words or 'no strong feature'} → {DECISIONS[cls]} ({probability:.2f})"
