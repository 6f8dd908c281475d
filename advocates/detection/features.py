"""What the model reads: hashed word and character n-grams, and the rules' evidence.

Cheap and the same for English and Japanese: no tokenizer model, no vocabulary to ship. Word
n-grams need spaces (English); character n-grams carry Japanese, where words run together.
Word terms are hashed as sklearn's `FeatureHasher` hashes them (MurmurHash3, seed 0), so a
term's column can be found again to name it in a reason (`column`); character n-grams are
hashed with numpy for a whole batch at once (`char_block`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import sparse

from advocates.detection.types import DetectionInput, RuleVerdict

WORD_BITS = 18
CHAR_BITS = WORD_BITS
WORD_COLUMNS = 1 << WORD_BITS
CHAR_COLUMNS = 1 << CHAR_BITS
CHAR_NGRAMS = (2, 4)
# How much each block counts against the others (each block is L2-normalised first).
WORD_WEIGHT = 1.0
CHAR_WEIGHT = 1.0
FEATURES_VERSION = "kansha-features-2"  # stored in a model's card; a change needs a retrain

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
DENSE_START = WORD_COLUMNS + CHAR_COLUMNS  # the dense evidence is the last block
COLUMNS = DENSE_START + DENSE_COLUMNS


def word_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_terms(tokens: Sequence[str]) -> list[str]:
    """Unigrams and bigrams: "can't believe" and "not good" are one feature each."""
    return [*tokens, *(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))]


class Features(NamedTuple):
    """A batch's matrix and the parts a decision reads again: each row's word terms and their
    columns, row after row (to name them in reasons), and the dense evidence (without slicing
    the sparse matrix)."""

    matrix: sparse.csr_matrix
    terms: list[list[str]]
    term_columns: np.ndarray
    dense: np.ndarray


def build(verdicts: Sequence[RuleVerdict], items: Sequence[DetectionInput]) -> Features:
    """One row per item: [word n-grams | character n-grams | dense evidence]."""
    texts = [v.model_text for v in verdicts]
    terms = [word_terms(word_tokens(t)) for t in texts]
    lengths = [len(row) for row in terms]
    term_columns = word_columns(list(itertools.chain.from_iterable(terms)))
    word_block = _normalized_counts(np.repeat(np.arange(len(terms)), lengths), term_columns,
                                    len(texts), WORD_COLUMNS)
    dense = np.array([dense_row(v, i) for v, i in zip(verdicts, items, strict=True)],
                     dtype=np.float64).reshape(len(texts), DENSE_COLUMNS)
    x = sparse.hstack([word_block * WORD_WEIGHT, char_block(texts) * CHAR_WEIGHT,
                       sparse.csr_matrix(dense)], format="csr")
    return Features(x, terms, term_columns, dense)


def matrix(verdicts: Sequence[RuleVerdict], items: Sequence[DetectionInput]) -> sparse.csr_matrix:
    return build(verdicts, items).matrix


def char_block(texts: Sequence[str]) -> sparse.csr_matrix:
    """Character 2–4-grams inside each word padded with a space each side (sklearn's
    "char_wb" cut), hashed with numpy over the whole batch at once.

    The batch becomes one array of code points in which every padded word is fenced by a 0;
    a window of n code points is an n-gram when it holds no 0. Its hash is a polynomial of
    its code points finished by the splitmix64 mixer: the same as `gram_column` computes for
    one n-gram (the tests hold them equal), but without a Python step per n-gram, which is
    what made character n-grams the model's largest cost."""
    pieces = ["".join(f"\0 {word} " for word in t.split()) + "\0" for t in texts]
    points = np.frombuffer("".join(pieces).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    row_of = np.repeat(np.arange(len(texts)), [len(p) for p in pieces])
    fences = np.concatenate(([0], np.cumsum(points == 0)))
    rows, columns = [], []
    low, high = CHAR_NGRAMS
    for n in range(low, high + 1):
        starts = np.flatnonzero(fences[n:] - fences[:-n] == 0)
        if not len(starts):
            continue
        h = np.full(len(starts), _GRAM_SEED + n, dtype=np.uint64)
        for k in range(n):
            h = h * _GRAM_MULTIPLIER + points[starts + k]
        rows.append(row_of[starts])
        columns.append(_mix(h) >> np.uint64(64 - CHAR_BITS))
    if not rows:
        return sparse.csr_matrix((len(texts), CHAR_COLUMNS))
    return _normalized_counts(np.concatenate(rows), np.concatenate(columns).astype(np.int64),
                              len(texts), CHAR_COLUMNS)


_GRAM_SEED = np.uint64(0x9E3779B97F4A7C15)
_GRAM_MULTIPLIER = np.uint64(0x100000001B3)  # the FNV-1 64-bit prime


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit reaches the top bits the column is cut from."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def gram_column(gram: str) -> int:
    """The column of one character n-gram (what `char_block` computes for a whole batch)."""
    h = np.array([_GRAM_SEED + np.uint64(len(gram))], dtype=np.uint64)
    for char in gram:
        h = h * _GRAM_MULTIPLIER + np.uint64(ord(char))
    return int(_mix(h)[0] >> np.uint64(64 - CHAR_BITS))


def _normalized_counts(rows: np.ndarray, columns: np.ndarray, n_rows: int,
                       n_columns: int) -> sparse.csr_matrix:
    """How often each column occurs in each row, each row scaled to length 1 (L2)."""
    # sklearn loads on first use; the web process and rules-only runs never pay for it.
    from sklearn.preprocessing import normalize

    # Built through COO, which sums the repeats; the indices stay unsorted (nothing needs
    # them sorted, and sorting was a tenth of the cost).
    counts = sparse.csr_matrix((np.ones(len(columns)), (rows, columns)),
                               shape=(n_rows, n_columns))
    return normalize(counts, copy=False)


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


def word_columns(terms: list[str]) -> np.ndarray:
    """The column of each word term, as sklearn's `FeatureHasher` puts it (MurmurHash3 with
    seed 0 of the UTF-8 bytes, |h| mod the columns). Terms repeat post after post, so each
    is hashed once and looked up after (a dict read per term, in C, is most of the cost)."""
    cache = _TERM_COLUMNS
    found = list(map(cache.get, terms))
    if None in found:
        # sklearn loads on first use; the web process and rules-only runs never pay for it.
        from sklearn.utils import murmurhash3_32

        if len(cache) > _TERM_CACHE_SIZE:
            cache.clear()  # a crude bound: refilling costs one batch's hashing
        for i, value in enumerate(found):
            if value is None:
                term = terms[i]
                found[i] = cache[term] = abs(int(murmurhash3_32(term, seed=0))) % WORD_COLUMNS
    return np.array(found, dtype=np.int64)


def column(term: str) -> int:
    return int(word_columns([term])[0])


_TERM_COLUMNS: dict[str, int] = {}
_TERM_CACHE_SIZE = 500_000
