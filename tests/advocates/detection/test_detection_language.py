"""Language identification: a post in a language Kansha has no model for is not read as English."""

import pytest

from advocates.detection import DetectionInput
from advocates.routing_rules import route_decide


@pytest.mark.parametrize(("text", "language"), [
    ("Me encanta Kansha Coffee, el mejor café de Brooklyn", "es"),
    ("J'adore le café de Kansha Coffee, merci!", "fr"),
    ("Kansha Coffee ist super, danke!", "de"),
    ("Adoro il caffè di Kansha Coffee, grazie mille!", "it"),
    ("Kansha Coffee 최고예요!", "ko"),
])
def test_a_post_in_another_language_gets_no_sentiment_model_and_no_thank_you(
        detector, brand_config, text, language):
    detection = detector.detect(DetectionInput(text=text))

    assert detection.language == language
    assert f"no sentiment model for language '{language}'" in detection.reasons
    assert detection.label == "neutral"
    assert route_decide(DetectionInput(text=text), detection, brand_config).route == "none"


@pytest.mark.parametrize("text", [
    "Love it!!", "best cortado ever @kanshacoffee", "ok this is fire", "Kansha Coffee, 10/10",
    "Cozy rainy day spot", "gracias @kanshacoffee for the best latte in town",
])
def test_short_english_posts_stay_english(detector, text):
    assert detector.detect(DetectionInput(text=text)).language == "en"


def test_the_platforms_language_hint_wins(detector):
    detection = detector.detect(DetectionInput(text="Me encanta Kansha Coffee", language="en"))
    assert detection.language == "en"
