"""The feature matrix: word terms hashed as sklearn's `FeatureHasher` hashes them (the shipped
model was trained on that), character n-grams hashed for a whole batch at once with numpy. Both
must stay exactly what a plain, one-n-gram-at-a-time reading gives, or the model reads garbage."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse

from advocates.detection import DetectionInput, Detector, features

DATA = Path(__file__).resolve().parents[2] / "data" / "hotel_mentions.jsonl"
EDGES = (
    "", " ", "a", "ab", "I", "!!", "a b  c\t\nd", "emoji 😭😭 ✨", "mixed 日本語 and english ok",
    "カンシャ珈琲の新作ラテ美味しかった！", "Wi-Fiありますか？", "x" * 300,
    "can't believe it's not open", "\u3000全角スペース\u3000区切り", "tabs\tand\r\nnewlines",
)


def _char_grams(text: str) -> list[str]:
    """sklearn's "char_wb" cut, one word at a time (its own code, without the hashing)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    analyzer = HashingVectorizer(analyzer="char_wb", ngram_range=features.CHAR_NGRAMS,
                                 lowercase=False).build_analyzer()
    return list(analyzer(text))


def _reference_matrix(verdicts, items) -> sparse.csr_matrix:
    """The matrix read slowly: sklearn's hasher for words, `gram_column` per character
    n-gram, counts normalised row by row."""
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.preprocessing import normalize

    words = FeatureHasher(n_features=features.WORD_COLUMNS, input_type="string",
                          alternate_sign=False)
    texts = [v.model_text for v in verdicts]
    word_block = normalize(words.transform(
        features.word_terms(features.word_tokens(t)) for t in texts))
    char_block = sparse.lil_matrix((len(texts), features.CHAR_COLUMNS))
    for row, text in enumerate(texts):
        for column, count in Counter(map(features.gram_column, _char_grams(text))).items():
            char_block[row, column] = count
    dense = np.array([features.dense_row(v, i) for v, i in zip(verdicts, items, strict=True)])
    return sparse.hstack([word_block, normalize(char_block.tocsr()), sparse.csr_matrix(dense)],
                         format="csr")


def test_the_batch_matrix_is_the_one_read_n_gram_by_n_gram() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()[:300]]
    items = [DetectionInput(text=r["text"], kind=r.get("kind") or "post",
                            rating=r.get("rating")) for r in rows]
    items += [DetectionInput(text=t) for t in EDGES]
    detector = Detector()
    verdicts = [detector.evaluate(i) for i in items]
    ours = features.build(verdicts, items)
    theirs = _reference_matrix(verdicts, items)
    assert ours.matrix.shape == theirs.shape == (len(items), features.COLUMNS)
    assert abs(ours.matrix - theirs).max() < 1e-12
    assert ours.matrix.nnz == theirs.nnz
    assert ours.terms[0] == features.word_terms(features.word_tokens(verdicts[0].model_text))
    np.testing.assert_array_equal(ours.dense, theirs[:, features.DENSE_START:].toarray())


def test_character_n_grams_stay_inside_a_word_and_its_two_spaces() -> None:
    def columns(*grams: str) -> set[int]:
        return {features.gram_column(g) for g in grams}

    block = features.char_block(["ab", "", "ab cd"])
    assert block[1].nnz == 0  # an empty post has no n-grams
    ab = columns(" a", "ab", "b ", " ab", "ab ", " ab ")
    assert set(block[0].indices) == ab
    # Nothing across the two words ("b c", "b  c"): only each padded word's own n-grams.
    assert set(block[2].indices) == ab | columns(" c", "cd", "d ", " cd", "cd ", " cd ")
    assert abs(block[0].multiply(block[0]).sum() - 1) < 1e-12  # each row has length 1
