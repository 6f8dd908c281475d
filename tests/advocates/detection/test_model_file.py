"""The model file: plain arrays without pickle, a card, and reasons that name its features."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from advocates.detection import DetectionInput, Detector, features
from advocates.detection.model import BASE_DIR, LinearModel, ModelFileError, base_model


@pytest.fixture(scope="module")
def model() -> LinearModel:
    return base_model()


def _texts() -> list[DetectionInput]:
    return [DetectionInput(text=t) for t in (
        "the new cold brew at kansha coffee is so good",
        "waited 40 minutes at kansha coffee and they forgot my order",
        "カンシャ珈琲の新作ラテ美味しかった！",
    )]


def test_a_model_round_trips_through_bytes_without_pickle(model: LinearModel) -> None:
    data = model.to_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:  # refuses object arrays
        assert all(npz[name].dtype.kind != "O" for name in npz.files)
    again = LinearModel.from_bytes(data)
    detector = Detector(model=model)
    verdicts = [detector.evaluate(i) for i in _texts()]
    x = features.matrix(verdicts, _texts())
    assert again.version == model.version
    np.testing.assert_allclose(again.probabilities(x), model.probabilities(x), atol=1e-6)


def test_the_shipped_base_has_a_card_naming_its_data_and_figures(model: LinearModel) -> None:
    card = json.loads((BASE_DIR / f"{model.version}.json").read_text(encoding="utf-8"))
    assert card["version"] == model.version
    assert {"semeval2013", "tweeteval-irony-train"} <= set(card["training_data"])
    assert "calibration result" in card["calibration"]["what"]
    assert 0 < card["validation"]["precision"] <= 1
    assert card["features"] == features.FEATURES_VERSION


def test_a_pickled_file_is_refused() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, format=np.array(["kansha-linear-1"], dtype=object))
    with pytest.raises(ModelFileError):
        LinearModel.from_bytes(buffer.getvalue())


def test_a_model_for_other_features_is_refused(model: LinearModel) -> None:
    other = LinearModel(weights=model.weights, intercept=model.intercept,
                        card={**model.card, "features": "kansha-features-0"})
    with pytest.raises(ModelFileError, match="retrain"):
        LinearModel.from_bytes(other.to_bytes())


def test_word_columns_are_where_the_hasher_puts_them() -> None:
    from sklearn.feature_extraction import FeatureHasher

    hasher = FeatureHasher(n_features=features.WORD_COLUMNS, input_type="string",
                           alternate_sign=False)
    for term in ("can't believe", "最高", "bad"):
        assert hasher.transform([[term]]).indices.tolist() == [features.column(term)]


def test_reasons_name_the_models_strongest_words(model: LinearModel) -> None:
    detection = Detector(model=model).detect(DetectionInput(
        text="honestly can't believe how rude the staff at kansha coffee were today, awful"))
    first = detection.reasons[0]
    assert first.startswith("model: '")
    assert first.endswith(")")
    assert "→ care" in first
    named = first.removeprefix("model: ").split(" → ")[0]
    assert any(word in named for word in ("rude", "awful", "can't"))
    assert detection.version == model.version


def test_the_settings_default_threshold_is_the_base_models_own(model: LinearModel) -> None:
    from advocates.detection.types import DEFAULT_THANK_THRESHOLD

    assert model.threshold == DEFAULT_THANK_THRESHOLD
