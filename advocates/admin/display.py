"""What the queue and an outreach's history show a person: readable reasons, a history of
who did what, when and why (no internal keys), and refusals in plain words.

The detector and routing write their reasons in English (the detector is pure Python, without
Django's translations); here the known shapes are turned into the reader's language. A reason
of an unknown shape is shown as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from advocates.models import DetectionIntent, Outreach, OutreachLog, OutreachStatus

# "<prefix>: <detail>": the prefix is translated, the detail (the words found) kept.
REASON_PREFIXES = {
    "brand mentioned": gettext_lazy("brand mentioned"),
    "excluded term": gettext_lazy("excluded term"),
    "spam cue": gettext_lazy("spam cue"),
    "competitor mentioned": gettext_lazy("competitor mentioned"),
    "complaint cue": gettext_lazy("complaint cue"),
    "negative cue": gettext_lazy("negative cue"),
    "praise phrase": gettext_lazy("praise phrase"),
    "hedged or reported": gettext_lazy("hedged or reported"),
    "positive words": gettext_lazy("positive words"),
    "negative words": gettext_lazy("negative words"),
    "sarcasm cue": gettext_lazy("sarcasm cue"),
}
REASON_WHOLE = {
    "comparison favours the brand": gettext_lazy("comparison favours the brand"),
    "contrast: the clause after 'but/however' weighs more": gettext_lazy(
        "contrast: the clause after “but/however” weighs more"),
    "contrast: the clause after 「けど/でも/しかし」 weighs more": gettext_lazy(
        "contrast: the clause after 「けど/でも/しかし」 weighs more"),
    "mixed: praise and complaint in one post": gettext_lazy(
        "mixed: praise and complaint in one post"),
    "reshare: no consent needed here": gettext_lazy("reshare: no consent needed here"),
    "reshare needs the author's consent first": gettext_lazy(
        "reshare needs the author’s consent first"),
    "opted out": gettext_lazy("opted out"),
    "rules read a complaint: no thank-you": gettext_lazy(
        "the rules read a complaint: no thank-you"),
}
# The model's reasons: "model: 'rude' + rules score → care (0.91)".
_MODEL = re.compile(r"^model: (.+) → (thank|care|none) \((\d\.\d+)\)$")
_MODEL_BELOW = re.compile(r"^model: thank-you (\d\.\d+), below (\d\.\d+)$")
_DECISIONS = {"thank": gettext_lazy("thank-you"), "care": gettext_lazy("care"),
              "none": gettext_lazy("neither")}
# The rules' evidence as the model names it (advocates/detection/features.py DENSE_NAMES).
_EVIDENCE = {
    "rules score": gettext_lazy("rules score"), "wording score": gettext_lazy("wording score"),
    "complaint cues": gettext_lazy("complaint cues"), "sarcasm cue": gettext_lazy("sarcasm cue"),
    "mixed": gettext_lazy("mixed"), "contrast": gettext_lazy("contrast"),
    "question": gettext_lazy("question"),
    "asks for information": gettext_lazy("asks for information"),
    "negative cue": gettext_lazy("negative cue"), "praise phrase": gettext_lazy("praise phrase"),
    "hedged": gettext_lazy("hedged"), "spam cue": gettext_lazy("spam cue"),
    "competitor named": gettext_lazy("competitor named"), "check-in": gettext_lazy("check-in"),
    "review": gettext_lazy("review"), "rating 4-5": gettext_lazy("rating 4-5"),
    "rating 3": gettext_lazy("rating 3"), "rating 1-2": gettext_lazy("rating 1-2"),
    "Japanese": gettext_lazy("Japanese"), "exclamations": gettext_lazy("exclamations"),
    "length": gettext_lazy("length"), "rules: positive": gettext_lazy("rules: positive"),
    "rules: negative": gettext_lazy("rules: negative"),
    "rules: complaint": gettext_lazy("rules: complaint"),
    "no strong feature": gettext_lazy("no strong feature"),
}
_INTENTS = dict(DetectionIntent.choices)
_THANK = re.compile(r"^thank-you for (\w+)$")
_CARE = re.compile(r"^care: (\w+), priority (\d+)$")
_TONE = re.compile(r"^(positive|negative) wording \(VADER ([+-][\d.]+)\)$")
_ACCOUNT = re.compile(r"^brand's own account (.+)$")


def reason_text(reason: str) -> str:
    """One detector or routing reason in the reader's language."""
    if reason in REASON_WHOLE:
        return str(REASON_WHOLE[reason])
    if match := _THANK.match(reason):
        intent = str(_INTENTS.get(match.group(1), match.group(1))).lower()
        return _("thank-you for a %(intent)s") % {"intent": intent}
    if match := _CARE.match(reason):
        intent = str(_INTENTS.get(match.group(1), match.group(1))).lower()
        return _("care: %(intent)s, priority %(priority)s") % {
            "intent": intent, "priority": match.group(2)}
    if match := _TONE.match(reason):
        tone = _("positive") if match.group(1) == "positive" else _("negative")
        return _("%(tone)s wording (sentiment %(score)s)") % {"tone": tone,
                                                              "score": match.group(2)}
    if match := _MODEL.match(reason):
        named = " + ".join(str(_EVIDENCE.get(part, part))
                           for part in match.group(1).split(" + "))
        return _("model: %(features)s → %(decision)s (%(p)s)") % {
            "features": named, "decision": _DECISIONS[match.group(2)], "p": match.group(3)}
    if match := _MODEL_BELOW.match(reason):
        return _("model: thank-you %(p)s, below the threshold %(threshold)s") % {
            "p": match.group(1), "threshold": match.group(2)}
    if match := _ACCOUNT.match(reason):
        return _("the brand’s own account %(handle)s") % {"handle": match.group(1)}
    prefix, sep, rest = reason.partition(": ")
    if sep and prefix in REASON_PREFIXES:
        return f"{REASON_PREFIXES[prefix]}: {rest}"
    return reason


ACTIONS = {
    "proposed": gettext_lazy("Proposed by Kansha"),
    "approved": gettext_lazy("Approved"),
    "rejected": gettext_lazy("Rejected"),
    "snoozed": gettext_lazy("Snoozed"),
    "unsnoozed": gettext_lazy("Back in the queue after a snooze"),
    "assigned": gettext_lazy("Assigned"),
    "retried": gettext_lazy("Sent again"),
    "attempt": gettext_lazy("Delivery attempt"),
    "deferred": gettext_lazy("Delivery postponed"),
    "failed": gettext_lazy("Delivery failed"),
}
OUTCOMES = {"sent": gettext_lazy("posted"), "transient": gettext_lazy("will be retried"),
            "permanent": gettext_lazy("gave up")}


@dataclass
class HistoryRow:
    at: datetime
    who: str
    what: str
    action: str  # the log's own key ("approved", "attempt"…), for code, not for people
    why: list[str] = field(default_factory=list)
    link: str = ""


def _name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else _("Kansha")


def _when(value: str) -> str:
    moment = parse_datetime(value) if isinstance(value, str) else None
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT") if moment else str(value)


def history_rows(log: list[OutreachLog]) -> list[HistoryRow]:
    """The audit log as sentences: who, what, when and why."""
    rows = []
    for entry in log:
        d = entry.detail or {}
        what = str(ACTIONS.get(entry.action, entry.action.replace("_", " ").capitalize()))
        why: list[str] = []
        link = ""
        if entry.action == "proposed":
            why = [reason_text(r) for r in d.get("reasons", [])]
        elif entry.action == "approved":
            if d.get("edited"):
                what = _("Edited and approved")
                why = [_("Sent as: “%(text)s”") % {"text": d.get("final_text", "")}]
        elif entry.action == "rejected" and d.get("reason"):
            why = [reason_text(str(d["reason"]))]
        elif entry.action == "snoozed" and d.get("until"):
            why = [_("until %(when)s") % {"when": _when(d["until"])}]
        elif entry.action == "assigned":
            why = [_("to %(name)s") % {"name": d["assignee_name"]} if d.get("assignee_name")
                   else _("to nobody (unassigned)")]
        elif entry.action == "attempt":
            outcome = str(OUTCOMES.get(d.get("outcome", ""), d.get("outcome", "")))
            what = _("Delivery attempt %(n)s: %(outcome)s") % {"n": d.get("attempt", "?"),
                                                                "outcome": outcome}
            if d.get("error"):
                why = [str(d["error"])]
            link = d.get("url") or ""
        elif entry.action == "deferred":
            why = [str(d.get("reason", "")),
                   _("until %(when)s") % {"when": _when(d["until"])} if d.get("until") else ""]
        elif entry.action == "failed" and d.get("error"):
            why = [str(d["error"])]
        rows.append(HistoryRow(at=entry.at, who=_name(entry.actor), what=what,
                               action=entry.action, why=[w for w in why if w], link=link))
    return rows


def refusal_text(outreach_id: int, verb: str) -> str:
    """Why an action on this outreach was refused, in plain words (someone else decided it
    first, most often)."""
    outreach = (Outreach.objects.select_related("decided_by").filter(pk=outreach_id)
                .first())
    if outreach is None:
        return _("This item no longer exists.")
    who = _name(outreach.decided_by) if outreach.decided_by_id else ""
    status = str(outreach.get_status_display()).lower()
    if verb == "retry" and outreach.status != OutreachStatus.FAILED:
        return _("Only a failed delivery can be sent again; this one is %(status)s.") % {
            "status": status}
    if outreach.status in (OutreachStatus.APPROVED, OutreachStatus.SENDING,
                           OutreachStatus.SENT):
        return (_("%(who)s already approved this one; nothing more to do.") % {"who": who}
                if who else _("This one was already approved; nothing more to do."))
    if outreach.status == OutreachStatus.REJECTED:
        return (_("%(who)s already rejected this one.") % {"who": who} if who
                else _("This one was already rejected."))
    return _("This can’t be done now: it is %(status)s.") % {"status": status}
