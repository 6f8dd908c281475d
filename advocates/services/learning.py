"""The detector learns from the team: examples from queue decisions, retraining, promotion.

- Every decision about a mention becomes a `DetectorExample` (its latest decision wins):
  an approved or edited-and-approved thank-you is "thank"; a care item or answer handled is
  "care"; a rejection whose reason says what the post really was gives that class (see
  REASON_DECISIONS; "off-brand wording" or "duplicate" say nothing about the post, so they
  teach nothing); "wrong call" records the class staff say is right; a care conversation
  resolved with an outcome makes its posts "care".
- `detector_retrain` trains a candidate on the base model's logits plus the examples (those
  of the last RECENT_DAYS weighted up), holds back the newest decisions, compares candidate
  and live model there, and promotes the candidate only if it is better
  (`Figures.better_than`). Every model is a `DetectorModelVersion`; none live = the base.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from wagtail.log_actions import log

from advocates.actors import actor_user
from advocates.detection import DetectionInput, Detector
from advocates.detection.model import LinearModel, ModelFileError, base_model
from advocates.detection.training import Example, evaluate, train_stacked
from advocates.models import (
    ConversationMessage,
    DetectorDecision,
    DetectorExample,
    DetectorModelStatus,
    DetectorModelVersion,
    DetectorSettings,
    ExampleSource,
    Mention,
    Outreach,
    OutreachKind,
)
from advocates.selectors import CARE_KINDS

if TYPE_CHECKING:
    from advocates.actors import Actor

logger = logging.getLogger(__name__)

THANK_KINDS = (OutreachKind.REPLY, OutreachKind.RESHARE)  # what a thank-you proposal is
# What a reject reason says the post really was (reasons not listed teach nothing).
REASON_DECISIONS = {
    "sarcasm": DetectorDecision.CARE,
    "complaint": DetectorDecision.CARE,
    "question": DetectorDecision.CARE,
    "actually_praise": DetectorDecision.THANK,
    "not_about_us": DetectorDecision.NONE,
    "spam": DetectorDecision.NONE,
    "competitor": DetectorDecision.NONE,
}
# Care conversations resolved with these outcomes were real complaints or questions.
CARE_OUTCOMES = ("fixed", "refunded", "explained", "not_our_fault")
HELD_BACK_SHARE = 0.2
HELD_BACK_MIN = 50
MIN_TRAINING_EXAMPLES = 100
RECENT_DAYS = 30
RECENT_WEIGHT = 2.0
IMPORT_FIELDS = ("text", "language", "kind", "rating", "platform", "decision")
_KINDS = ("post", "reply", "quote", "comment", "checkin", "review", "tag", "story")


_EXAMPLE_FIELDS = ("key", "text", "language", "kind", "rating", "platform", "decision", "source",
                   "reason", "mention", "advocate", "decided_by", "decided_at")


class RetrainError(ValueError):
    """Retraining cannot run: too few examples, or of too few kinds."""


# --- examples -------------------------------------------------------------------------------

def example_record(*, mention: Mention, decision: str, source: str, reason: str = "",
                   user: Actor = None, at: datetime | None = None
                   ) -> DetectorExample:
    """Store (or replace) the example for a mention: the latest decision about it wins."""
    if decision not in DetectorDecision.values:
        raise ValidationError(f"decision must be one of {', '.join(DetectorDecision.values)}")
    example = DetectorExample(
        key=f"mention:{mention.pk}", text=mention.text, language=mention.language,
        kind=mention.kind, rating=mention.rating, platform=mention.platform,
        decision=decision, source=source, reason=reason[:40], mention=mention,
        advocate_id=mention.author.advocate_id,
        decided_by=actor_user(user),
        decided_at=at or timezone.now())
    # One INSERT … ON CONFLICT (key) DO UPDATE: it runs inside every queue approval, where
    # update_or_create's lock, two savepoints and second statement were most of its queries.
    DetectorExample.objects.bulk_create(
        [example], update_conflicts=True, unique_fields=["key"],
        update_fields=[f for f in _EXAMPLE_FIELDS if f != "key"])
    return example


def example_from_outreach(outreach: Outreach, *, action: str, user: Actor = None,
                          edited: bool = False,
                          reason_code: str = "") -> DetectorExample | None:
    """The example a queue decision teaches ("approve" or "reject"), or None if it teaches
    nothing (no mention, a kind that is not about the post, a reason that is not a class)."""
    if outreach.mention_id is None:
        return None
    decision: str | None
    if action == "approve":
        if outreach.kind in THANK_KINDS:
            decision = DetectorDecision.THANK
            source = ExampleSource.EDITED if edited else ExampleSource.APPROVED
        elif outreach.kind in CARE_KINDS:
            decision, source = DetectorDecision.CARE, ExampleSource.APPROVED
        else:
            return None
    elif action == "reject":
        decision = REASON_DECISIONS.get(reason_code)
        if decision is None or outreach.kind not in (*THANK_KINDS, *CARE_KINDS):
            return None
        source = ExampleSource.REJECTED
    else:
        raise ValueError(f"unknown queue action {action!r}")
    # The transition loaded the mention and its author with the outreach (no query here).
    mention = outreach.mention
    if mention is None:  # checked by its id above; this tells the type checker
        return None
    return example_record(mention=mention, decision=decision, source=source,
                          reason=reason_code, user=user)


def examples_for_resolved_conversation(*, conversation_id: int, outcome: str,
                                       user: Actor = None) -> int:
    """A care conversation resolved as a real complaint: each of its posts teaches "care"
    (unless staff already said otherwise about that post); return how many were added."""
    if outcome not in CARE_OUTCOMES:
        return 0
    mention_ids = ConversationMessage.objects.filter(
        conversation_id=conversation_id, mention__isnull=False).values_list("mention_id",
                                                                            flat=True)
    decided = set(DetectorExample.objects.filter(mention_id__in=mention_ids)
                  .values_list("mention_id", flat=True))
    added = 0
    for mention in Mention.objects.filter(pk__in=mention_ids).select_related("author"):
        if mention.pk not in decided:
            example_record(mention=mention, decision=DetectorDecision.CARE,
                           source=ExampleSource.CARE_RESOLVED, reason=outcome, user=user)
            added += 1
    return added


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0


def examples_import(rows: Iterable[tuple[int, dict[str, Any] | None, str]], *,
                    user: Actor = None) -> ImportResult:
    """Load labeled examples as if staff had decided them: all or nothing.

    `rows` are (line number, parsed object or None, error) as `advocates.importing` reads
    them. Every row is checked first; one bad row raises ValidationError naming its line and
    nothing is stored. The same text with the same fields is one example (a re-run changes
    nothing; a changed decision replaces the old one).
    """
    clean: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    for line, row, error in rows:
        if error or row is None:
            errors.append(f"line {line}: {error or 'not an object'}")
            continue
        problem, values = _import_row(row)
        if problem:
            errors.append(f"line {line}: {problem}")
            continue
        clean[_import_key(values)] = values
        if len(errors) >= 20:
            break
    if errors:
        raise ValidationError(errors)
    if not clean:
        raise ValidationError("the file has no examples")
    now = timezone.now()
    result = ImportResult()
    with transaction.atomic():
        existing = set(DetectorExample.objects.filter(key__in=list(clean))
                       .values_list("key", flat=True))
        DetectorExample.objects.bulk_create(
            [DetectorExample(key=key, source=ExampleSource.IMPORTED, decided_at=now,
                             decided_by=actor_user(user), **values)
             for key, values in clean.items() if key not in existing], batch_size=500)
        for key in existing:
            DetectorExample.objects.filter(key=key).update(decision=clean[key]["decision"])
        result.created, result.updated = len(clean) - len(existing), len(existing)
    return result


def _import_row(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        return "`text` must be a non-empty string", {}
    decision = row.get("decision")
    if decision not in DetectorDecision.values:
        return f"`decision` must be one of {', '.join(DetectorDecision.values)}", {}
    kind = row.get("kind") or "post"
    if kind not in _KINDS:
        return f"`kind` must be one of {', '.join(_KINDS)}", {}
    rating = row.get("rating")
    if rating is not None and (not isinstance(rating, int) or isinstance(rating, bool)
                               or not 1 <= rating <= 5):
        return "`rating` must be a whole number from 1 to 5", {}
    language = row.get("language") or ""
    if not isinstance(language, str) or len(language) > 8:
        return "`language` must be a language code such as en or ja", {}
    platform = row.get("platform") or "sandbox"
    if not isinstance(platform, str) or len(platform) > 20:
        return "`platform` must be a platform name such as x", {}
    return "", {"text": text, "language": language, "kind": kind, "rating": rating,
                "platform": platform, "decision": decision}


def _import_key(values: dict[str, Any]) -> str:
    fields = {k: values[k] for k in IMPORT_FIELDS if k != "decision"}
    digest = hashlib.sha1(json.dumps(fields, sort_keys=True, ensure_ascii=False)
                          .encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"import:{digest}"


# --- the live model -------------------------------------------------------------------------

_LIVE: dict[str, LinearModel] = {}  # the live brand model, by version (one at most)


def live_model() -> LinearModel:
    """The model that decides now: the live brand model, else the newest shipped base.

    A live model this code cannot read (trained on features an upgrade changed, or damaged)
    never stops detection: the base decides, with one warning, until a retrain replaces it."""
    row = (DetectorModelVersion.objects.filter(status=DetectorModelStatus.LIVE)
           .values("version").first())
    if row is None:
        return base_model()
    if row["version"] not in _LIVE:
        weights = DetectorModelVersion.objects.values_list("weights", flat=True).get(
            version=row["version"])
        try:
            model = LinearModel.from_bytes(bytes(weights))
        except ModelFileError as exc:
            logger.warning("live detector model %s cannot be read (%s): the base model "
                           "decides until `manage.py detector_retrain --promote`",
                           row["version"], exc)
            model = base_model()
        _LIVE.clear()
        _LIVE[row["version"]] = model
    return _LIVE[row["version"]]


def _example_inputs(examples: Iterable[DetectorExample]) -> list[Example]:
    now = timezone.now()
    return [Example(
        DetectionInput(text=e.text, platform=e.platform, kind=e.kind,
                       language=e.language or None, rating=e.rating),
        e.decision,
        weight=RECENT_WEIGHT if e.decided_at >= now - timedelta(days=RECENT_DAYS) else 1.0,
        source=e.source) for e in examples]


@dataclass
class RetrainResult:
    candidate: DetectorModelVersion
    promoted: bool
    figures: dict[str, Any]


def detector_retrain(*, promote: bool = True, user: Actor = None) -> RetrainResult:
    """Train a candidate from the examples, compare it with the live model on the newest
    decisions (held back from training), and make it live if `promote` and it is better.

    Raises RetrainError when there are too few examples. The candidate is stored whatever
    the outcome (status "candidate" if not asked to promote, "refused" if it was worse).
    """
    examples = list(DetectorExample.objects.order_by("decided_at", "pk"))
    held = max(HELD_BACK_MIN, int(len(examples) * HELD_BACK_SHARE))
    training, held_back = examples[:-held], examples[-held:]
    if len(training) < MIN_TRAINING_EXAMPLES:
        raise RetrainError(
            f"{len(examples)} examples: retraining needs {MIN_TRAINING_EXAMPLES + held} "
            f"({MIN_TRAINING_EXAMPLES} to train on and the newest {held} to compare on)")
    config = DetectorSettings.load().to_config()
    live = live_model()
    base = base_model()
    version = f"brand-{timezone.now():%Y%m%d-%H%M%S}"
    try:
        candidate_model = train_stacked(base, _example_inputs(training), config,
                                        version=version)
    except ValueError as exc:
        raise RetrainError(str(exc)) from exc
    evaluation = _example_inputs(held_back)
    candidate_figures = evaluate(Detector(config, model=candidate_model), evaluation)
    live_figures = evaluate(Detector(config, model=live), evaluation)
    better = candidate_figures.better_than(live_figures)
    figures = {"candidate": candidate_figures.as_dict(), "live": live_figures.as_dict(),
               "live_version": live.version, "held_back": len(held_back),
               "trained_on": len(training)}
    candidate_model.card["figures"] = figures
    status = DetectorModelStatus.CANDIDATE
    if promote and not better:
        status = DetectorModelStatus.REFUSED
    with transaction.atomic():
        row = DetectorModelVersion.objects.create(
            version=version, status=status, weights=candidate_model.to_bytes(),
            card=candidate_model.card, figures=figures, examples=len(training),
            note="" if better else "not better than the live model on the newest decisions")
        log(instance=row, action="kansha.detector.retrain", user=user,
            data={"figures": figures, "promoted": bool(promote and better)})
        if promote and better:
            _make_live(row, user)
    logger.info("detector retrain %s: candidate %s, live %s -> %s", version,
                candidate_figures.line(), live_figures.line(),
                "promoted" if promote and better else status)
    return RetrainResult(candidate=row, promoted=promote and better, figures=figures)


def _make_live(row: DetectorModelVersion, user: Actor) -> None:
    """Audited: who made which model decide, and when."""
    now = timezone.now()
    DetectorModelVersion.objects.filter(status=DetectorModelStatus.LIVE).exclude(
        pk=row.pk).update(status=DetectorModelStatus.RETIRED)
    DetectorModelVersion.objects.filter(pk=row.pk).update(
        status=DetectorModelStatus.LIVE, activated_at=now,
        activated_by=actor_user(user))
    row.refresh_from_db()
    log(instance=row, action="kansha.detector.live", user=user)


def detector_model_activate(*, version: str, user: Actor = None) -> DetectorModelVersion:
    """Make a stored model live (a rollback to an earlier one, or a candidate by hand)."""
    with transaction.atomic():
        row = DetectorModelVersion.objects.select_for_update().filter(version=version).first()
        if row is None:
            raise ValidationError(f"no detector model {version}")
        _make_live(row, user)
    return row


def detector_rollback_to_base(*, user: Actor = None) -> int:
    """No brand model live: the shipped base decides again. Returns how many were retired
    (each audited)."""
    with transaction.atomic():
        live = list(DetectorModelVersion.objects.select_for_update().filter(
            status=DetectorModelStatus.LIVE))
        for row in live:
            row.status = DetectorModelStatus.RETIRED
            row.save(update_fields=["status"])
            log(instance=row, action="kansha.detector.rollback", user=user)
    return len(live)


__all__ = ["REASON_DECISIONS", "RetrainError", "detector_model_activate",
           "detector_retrain", "detector_rollback_to_base", "example_from_outreach",
           "example_record", "examples_for_resolved_conversation", "examples_import",
           "live_model"]
