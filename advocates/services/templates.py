"""Reply templates: validate their variables when saved, render and rotate them when proposing.

Only LIVE (published) templates are used. Each (purpose, language) has one template in use
(the first live one by name) with several variants. Answers are the exception: marketing
keeps one answer template per topic ("Opening hours", "Wi-Fi", "Allergens"), each with the
keywords that pick it, and `TemplateBook.render_answer` chooses by the question's words.
Rotation picks the least recently used variant of that template, skipping the one this
advocate got last, so one person never gets the same words twice in a row and the brand's
timeline does not repeat itself (platforms flag identical replies as spam).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max

from advocates.models import Advocate, Mention, Outreach, ReplyTemplate, SocialIdentity
from advocates.policies import platform_label
from advocates.template_text import FALLBACK_LANGUAGE, keyword_normal, template_text_render

# Words the law needs: a rewarded advocate is reminded to disclose the reward, and the brand's
# reshare of their post says they were rewarded (docs/compliance.md). Marketing edits them as
# reply templates (advocates migration 0015 ships them as live EN and JA templates); these
# stand in when no template of that purpose is live, so the message never stops for want of one.
BUILT_IN_TEXTS: dict[str, dict[str, str]] = {
    "disclosure": {
        "en": "Hi {first_name}, thank you for posting about {brand} again! As you received a "
              "reward from us, please add #ad or #PR to your posts about us so your followers "
              "know. Thank you for your support!",
        "ja": "{first_name}さん、いつも{brand}について投稿してくださりありがとうございます！"
              "以前に特典をお受け取りいただいているため、私たちについての投稿には「#PR」などの"
              "表記を添えていただけますと幸いです。ご協力ありがとうございます！",
    },
    "reshare_pr": {
        "en": "#ad {handle} has received a reward from {brand}.",
        "ja": "#PR {handle}さんには{brand}から特典を提供しています。",
    },
}
# How far back rotation looks; older use does not matter for "repeating itself".
ROTATION_WINDOW = timedelta(days=60)


@dataclass(frozen=True)
class Rendered:
    text: str
    template_key: str  # "" for a built-in text
    variant: int | None  # 1-based position of the variant in its template; None if built in


def template_key(purpose: str, language: str) -> str:
    return f"{purpose}/{language}"


def answer_topic_key(language: str, template_id: int) -> str:
    """The rotation key of one answer topic ("answer/ja/12"): topics rotate separately."""
    return f"answer/{language}/{template_id}"


@dataclass(frozen=True)
class AnswerTopic:
    key: str
    name: str
    keywords: tuple[str, ...]  # normalised by keyword_normal


class TemplateBook:
    """Live templates and rotation memory for one batch of proposals.

    Three queries whatever the batch size: the live templates with their variants, when each
    variant was last used, and which variant each advocate of the batch got last.
    """

    def __init__(self, *, advocate_ids: Iterable[int], now: datetime,
                 purposes: Iterable[str] | None = None,
                 templates: Mapping[str, Sequence[str]] | None = None) -> None:
        """`templates` (key → variant texts) replaces the live templates by purpose, for a
        caller with its own template (a reward rule's): rotation then remembers `key`."""
        self.now = now
        self.templates: dict[str, list[str]] = {}
        # language -> the answer templates that have keywords, by name.
        self.answer_topics: dict[str, list[AnswerTopic]] = defaultdict(list)
        if templates is not None:
            for key, texts in templates.items():
                variants = [text for text in texts if text.strip()]
                if variants:
                    self.templates[key] = variants
        else:
            query = ReplyTemplate.objects.filter(live=True).prefetch_related("variants")
            if purposes is not None:
                query = query.filter(purpose__in=set(purposes))
            for template in query.order_by("name", "pk"):
                key = template_key(template.purpose, template.language)
                variants = [v.text for v in template.variants.all() if v.text.strip()]
                keywords = tuple(dict.fromkeys(
                    k for k in map(keyword_normal, template.keywords.splitlines()) if k))
                if variants and template.purpose == "answer" and keywords:
                    key = answer_topic_key(template.language, template.pk)
                    self.templates[key] = variants
                    self.answer_topics[template.language].append(
                        AnswerTopic(key=key, name=template.name, keywords=keywords))
                elif variants and key not in self.templates:
                    self.templates[key] = variants
        # (key, variant) -> (last used, sequence) so rotation also works inside one batch.
        self.last_used: dict[tuple[str, int], tuple[datetime, int]] = {}
        self.advocate_last: dict[tuple[int, str], int] = {}
        self._seq = 0
        if not self.templates:
            return
        since = now - ROTATION_WINDOW
        recent = (Outreach.objects.filter(template_key__in=list(self.templates),
                                          created_at__gte=since)
                  .exclude(template_variant=None)
                  .values_list("template_key", "template_variant")
                  .annotate(last=Max("created_at")).order_by())
        for key, variant, last in recent:
            self.last_used[key, variant] = (last, 0)
        ids = list(set(advocate_ids))
        if ids:
            last_seen: dict[tuple[int, str], datetime] = {}
            rows = (Outreach.objects.filter(advocate_id__in=ids,
                                            template_key__in=list(self.templates))
                    .exclude(template_variant=None)
                    .values_list("advocate_id", "template_key", "template_variant",
                                 "created_at"))
            for advocate_id, key, variant, created in rows:
                if variant is None:
                    continue  # excluded by the query; says so to the type checker
                if last_seen.get((advocate_id, key), created) <= created:
                    last_seen[advocate_id, key] = created
                    self.advocate_last[advocate_id, key] = variant

    def has(self, purpose: str, language: str) -> bool:
        return self._key_for(purpose, language) is not None

    def _key_for(self, purpose: str, language: str) -> str | None:
        for lang in (language, FALLBACK_LANGUAGE):
            key = template_key(purpose, lang)
            if key in self.templates:
                return key
        return None

    def render(self, *, purpose: str, language: str, advocate_id: int,
               context: Mapping[str, Any], accept: Callable[[str], bool] | None = None
               ) -> Rendered | None:
        """The next variant for this advocate, filled in; None if no live template exists.

        `accept` (a variant's text → bool) leaves out variants unfit for this message; None
        if none is left.
        """
        key = self._key_for(purpose, language or FALLBACK_LANGUAGE)
        if key is None:
            return None
        return self.render_key(key=key, advocate_id=advocate_id, context=context,
                               accept=accept)

    def render_required(self, *, purpose: str, language: str, advocate_id: int,
                        context: Mapping[str, Any]) -> Rendered:
        """Like `render`, for a purpose the law needs (`BUILT_IN_TEXTS`): with no live template
        the built-in text, in the language (English where there is none)."""
        rendered = self.render(purpose=purpose, language=language, advocate_id=advocate_id,
                               context=context)
        if rendered is not None:
            return rendered
        texts = BUILT_IN_TEXTS[purpose]
        return Rendered(template_text_render(texts.get(language) or texts[FALLBACK_LANGUAGE],
                                             context), "", None)

    def answer_topic(self, *, language: str, question: str) -> AnswerTopic | None:
        """The answer template whose keywords the question contains, in the question's
        language, else in English; the first by name wins."""
        text = keyword_normal(question)
        for lang in dict.fromkeys((language or FALLBACK_LANGUAGE, FALLBACK_LANGUAGE)):
            for topic in self.answer_topics.get(lang, ()):
                if any(keyword in text for keyword in topic.keywords):
                    return topic
        return None

    def render_answer(self, *, language: str, question: str, advocate_id: int,
                      context: Mapping[str, Any]) -> tuple[Rendered | None, str]:
        """The answer to a question and the topic that picked it ("" for the general answer
        template, used when no topic matches); (None, "") when no live template fits.

        A topic in the question's language comes first, then that language's general answer,
        then an English topic, then the English general answer.
        """
        language = language or FALLBACK_LANGUAGE
        topic = self.answer_topic(language=language, question=question)
        general = template_key("answer", language)
        if topic is not None and (topic.key.startswith(f"answer/{language}/")
                                  or general not in self.templates):
            return self.render_key(key=topic.key, advocate_id=advocate_id,
                                   context=context), topic.name
        return self.render(purpose="answer", language=language, advocate_id=advocate_id,
                           context=context), ""

    def render_key(self, *, key: str, advocate_id: int, context: Mapping[str, Any],
                   accept: Callable[[str], bool] | None = None) -> Rendered | None:
        """Like `render`, for a template by its key (see `templates` in the constructor)."""
        variants = self.templates.get(key)
        if not variants:
            return None
        numbers = [n for n in range(1, len(variants) + 1)
                   if accept is None or accept(variants[n - 1])]
        if not numbers:
            return None
        last = self.advocate_last.get((advocate_id, key))
        candidates = [n for n in numbers if n != last] or numbers
        never = (datetime.min.replace(tzinfo=self.now.tzinfo), -1)
        chosen = min(candidates, key=lambda n: (self.last_used.get((key, n), never), n))
        self._seq += 1
        self.last_used[key, chosen] = (self.now, self._seq)
        self.advocate_last[advocate_id, key] = chosen
        return Rendered(template_text_render(variants[chosen - 1], context), key, chosen)


def template_context(*, identity: SocialIdentity, mention: Mention | None = None, brand: str,
                     extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The variables for one person (and the mention being answered, if any)."""
    handle = identity.handle or ""
    if handle and not handle.startswith("@"):
        handle = f"@{handle}"
    name = (identity.display_name or "").strip()
    first_name = name.split()[0] if name else handle.lstrip("@")
    context: dict[str, Any] = {
        "first_name": first_name,
        "handle": handle,
        # A check-in without a venue name still reads well: "thanks for stopping by Kansha".
        "venue": getattr(mention, "venue", "") or brand,
        "platform": platform_label(identity.platform),
        "brand": brand,
    }
    context.update(extra or {})
    return context


def template_render(*, purpose: str, language: str, advocate_id: int,
                    identity: SocialIdentity, mention: Mention | None = None, brand: str,
                    extra: Mapping[str, Any] | None = None,
                    now: datetime, accept: Callable[[str], bool] | None = None
                    ) -> Rendered | None:
    """Render one proposal's text (for callers that propose one at a time, e.g. rewards)."""
    book = TemplateBook(advocate_ids=[advocate_id], now=now, purposes=[purpose])
    return book.render(purpose=purpose, language=language, advocate_id=advocate_id,
                       context=template_context(identity=identity, mention=mention,
                                                brand=brand, extra=extra), accept=accept)


def reshare_disclosure_render(*, advocate: Advocate, identity: SocialIdentity,
                              mention: Mention, brand: str, now: datetime,
                              book: TemplateBook | None = None) -> Rendered | None:
    """The disclosure line a reshare of this post carries, in the post's language; None when its
    author has received no reward from the brand (`Advocate.reward_received_at`).

    A reward is a material connection the audience of the brand's reshare must be told about
    (FTC 16 CFR 255.5; Japan's stealth-marketing designation), however long ago it was.
    """
    if advocate.reward_received_at is None:
        return None
    book = book or TemplateBook(advocate_ids=[advocate.pk], now=now, purposes=["reshare_pr"])
    return book.render_required(
        purpose="reshare_pr", language=mention.language or FALLBACK_LANGUAGE,
        advocate_id=advocate.pk,
        context=template_context(identity=identity, mention=mention, brand=brand))


def template_usage_by_key() -> dict[str, dict[int, int]]:
    """How often each variant was proposed (for the snippet's inspect view)."""
    counts: dict[str, dict[int, int]] = defaultdict(dict)
    rows = (Outreach.objects.exclude(template_key="").values("template_key", "template_variant")
            .annotate(n=Count("id")))
    for row in rows:
        if row["template_variant"] is not None:
            counts[row["template_key"]][row["template_variant"]] = row["n"]
    return dict(counts)


def template_suggestions(*, identity: SocialIdentity, brand: str, language: str
                         ) -> list[tuple[str, str]]:
    """(template name, text) for a conversation's reply box: the first variant of every live
    care and answer template in the person's language (English where there is none), filled
    in for them."""
    templates = list(ReplyTemplate.objects.filter(live=True, purpose__in=("care", "answer"))
                     .prefetch_related("variants").order_by("purpose", "name"))
    wanted = language if language in {t.language for t in templates} else FALLBACK_LANGUAGE
    context = template_context(identity=identity, brand=brand)
    out = []
    for template in templates:
        variants = [v.text for v in template.variants.all() if v.text.strip()]
        if template.language == wanted and variants:
            out.append((template.name, template_text_render(variants[0], context)))
    return out
