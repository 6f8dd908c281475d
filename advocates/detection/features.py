"""What the model reads: hashed word and character n-grams, and the rules' evidence.

Cheap and the same for English and Japanese: no tokenizer model, no vocabulary to ship. Word
n-grams need spaces (English); character n-grams carry Japanese, where words run together.
Hashing is sklearn's (MurmurHash3, seed 0), so a term's column can be found again to name it
in a reason (`word_columns`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from advocates.detection.types import DetectionInput, RuleVerdict

WORD_BITS = 18
CHAR_BITS = 18
WORD_COLUMNS = 1 << WORD_BITS
CHAR_COLUMNS = 1 << CHAR_BITS
CHAR_NGRAMS = (2, 4)
# How much each block counts against the others (each block is L2-normalised first).
WORD_WEIGHT = 1.0
CHAR_WEIGHT = 1.0
FEATURES_VERSION = "kansha-features-1"  # stored in a model's card; a change needs a retrain

# Runs of one script: latin words (with an apostrophe part), hiragana, katakana, kanji; and
# the single marks that carry tone ("!", "?", 「草」 is kanji already, emoji one by one).
_TOKEN = re.compile(
    r"[a-z0-9]+(?:'[a-z]+)?|[\u3041-\u3096]+|[\u30a1-\u30fa\u30fc]+|[\u4e00-\u9fff\u3005]+"
    r"|[!?]|[\U0001F300-\U0001FAFF\u2600-\u27BF]"
)

DENSE_NAMES = (
    "rules score", "wording score", "complaint cues", "sarcasm cue", "mixed", "contrast",
    "question", "asks for information", "negative cue", "praise phrase", "hedged",
    "spam cue", "competitor named", "check-in", "review", "rating 4-5", "rating 3",
    "rating 1-2", "Japanese", "exclamations", "length", "rules: positive", "rules: negative",
    "rules: complaint",
)
DENSE_COLUMNS = len(DENSE_NAMES)
COLUMNS = WORD_COLUMNS + CHAR_COLUMNS + DENSE_COLUMNS


def word_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_terms(tokens: Sequence[str]) -> list[str]:
    """Unigrams and bigrams: "can't believe" and "not good" are one feature each."""
    return [*tokens, *(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))]


def _hashers():
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.feature_extraction.text import HashingVectorizer

    words = FeatureHasher(n_features=WORD_COLUMNS, input_type="string", alternate_sign=False)
    chars = HashingVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS,
                              n_features=CHAR_COLUMNS, alternate_sign=False, norm="l2",
                              lowercase=False)
    return words, chars


_HASHERS = None


def matrix(verdicts: Sequence[RuleVerdict], items: Sequence[DetectionInput]) -> sparse.csr_matrix:
    """One row per item: [word n-grams | character n-grams | dense evidence]."""
    from sklearn.preprocessing import normalize

    global _HASHERS
    if _HASHERS is None:
        _HASHERS = _hashers()
    words, chars = _HASHERS
    texts = [v.model_text for v in verdicts]
    word_block = normalize(words.transform(word_terms(word_tokens(t)) for t in texts))
    char_block = chars.transform(texts)
    dense = np.array([dense_row(v, i) for v, i in zip(verdicts, items, strict=True)],
                     dtype=np.float64).reshape(len(texts), DENSE_COLUMNS)
    return sparse.hstack([word_block * WORD_WEIGHT, char_block * CHAR_WEIGHT,
                          sparse.csr_matrix(dense)], format="csr")


def dense_row(verdict: RuleVerdict, item: DetectionInput) -> list[float]:
    detection = verdict.detection
    flags = detection.flags
    kind = item.kind.lower()
    rating = item.rating if kind == "review" else None
    text = verdict.model_text
    return [
        verdict.score,
        verdict.polarity,
        min(verdict.complaint_cues, 3) / 3,
        float("sarcasm" in flags),
        float("mixed" in flags),
        float(verdict.contrast),
        float(verdict.question),
        float(verdict.asks_information),
        float(verdict.negative_cue),
        float(verdict.praise_idiom),
        float(verdict.hedged),
        float("spam" in flags),
        float("competitor" in flags),
        float(kind == "checkin"),
        float(kind == "review"),
        float(rating is not None and rating >= 4),
        float(rating == 3),
        float(rating is not None and rating <= 2),
        float(detection.language == "ja"),
        min(text.count("!"), 3) / 3,
        min(math.log1p(len(text)) / 6, 1.0),
        float(detection.label == "positive"),
        float(detection.label == "negative"),
        float(detection.intent == "complaint"),
    ]


def word_columns(terms: Sequence[str]) -> dict[str, int]:
    """The column of each word term (as `FeatureHasher` puts it), to name it in a reason."""
    return {term: _word_column(term) for term in terms}


@functools.lru_cache(maxsize=100_000)  # words repeat across posts; hashing each is a call
def _word_column(term: str) -> int:
    from sklearn.utils import murmurhash3_32

    return abs(int(murmurhash3_32(term, seed=0))) % WORD_COLUMNS
