"""The failure classes issue 12 names, in both languages, through the shipped base model and
the router: each example was written for this test (none is in any training file)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from advocates.detection import DetectionInput, Detector, DetectorConfig
from advocates.detection.model import base_model
from advocates.routing_rules import route_decide


@pytest.fixture(scope="module")
def learned(brand_config: DetectorConfig) -> Detector:
    model = base_model()
    return Detector(replace(brand_config, thank_threshold=model.threshold), model=model)


def _route(detector: Detector, text: str, **kwargs: object) -> str:
    item = DetectionInput(text=text, **kwargs)  # type: ignore[arg-type]
    return route_decide(item, detector.detect(item), detector.config).route


NOT_THANKED = [
    # praise words around a bad event
    ("en", "oh wonderful, kansha coffee's card reader is broken AGAIN. cash only. love it", {}),
    ("en", "amazing how @kanshacoffee manages to lose my mobile order every single week", {}),
    ("ja", "さすがカンシャ珈琲、モバイルオーダーしたのに30分待たされて結局作られてなかった", {}),
    ("ja", "最高かよ、カンシャ珈琲で頼んだラテが全部こぼれて届いた", {}),
    # a negative statement a lexicon scores positive
    ("en", "kansha coffee used to be my favorite place. not anymore, the quality just isn't "
           "there", {}),
    ("en", "I had high hopes for kansha coffee and was let down, the latte tasted like "
           "nothing", {}),
    # check-ins and reviews whose text complains
    ("en", "at kansha coffee shibuya. 25 min wait and they got my order wrong",
     {"kind": "checkin", "venue": "Kansha Coffee Shibuya"}),
    ("ja", "カンシャ珈琲なう。店員さんの態度が冷たくて悲しい",
     {"kind": "checkin", "venue": "カンシャ珈琲 梅田"}),
    ("en", "great location, but the staff ignored us for 15 minutes and the cups were dirty",
     {"kind": "review", "rating": 4, "platform": "google"}),
    # "love how X fails ... brilliant"
    ("en", "love how kansha coffee's app logs me out every time I try to pay. brilliant", {}),
    # Japanese polite praise beside a failure
    ("ja", "カンシャ珈琲さん、いつも素敵な接客ありがとうございます。"
           "今日は注文を三回も間違えられましたが", {}),
]

QUESTIONS = [
    ("en", "is the kansha coffee in shibuya open on the 31st?"),
    ("en", "@kanshacoffee do you have oat milk at the kyoto store?"),
    ("ja", "カンシャ珈琲ってWi-Fiありますか？"),
    ("ja", "カンシャ珈琲の梅田店は何時までやってますか？"),
]

PLANS = [
    ("en", "meeting a friend at kansha coffee later"),
    ("ja", "明日カンシャ珈琲で友達と待ち合わせ"),
]

PRAISE = [
    ("en", "the pistachio latte at kansha coffee is dangerously good, third one this week"),
    ("en", "@kanshacoffee portland your baristas are the friendliest people in town, thank you"),
    ("ja", "カンシャ珈琲の新作ラテ、やばいくらい美味しい！また行きます"),
    ("ja", "カンシャ珈琲の店員さん、いつも笑顔で丁寧でほんとに癒される"),
]


@pytest.mark.parametrize(("language", "text", "kwargs"), NOT_THANKED)
def test_bad_experiences_in_kind_words_are_never_thanked(learned, language, text, kwargs):
    assert _route(learned, text, language=language, **kwargs) == "care"


@pytest.mark.parametrize(("language", "text"), QUESTIONS)
def test_questions_are_answered_never_dropped(learned, language, text):
    assert _route(learned, text, language=language) == "answer"


@pytest.mark.parametrize(("language", "text"), PLANS)
def test_a_plan_is_not_praise(learned, language, text):
    # Not thanked: that is the failure class. (The model may still send a bare plan to the
    # care queue, where a person reads it: a wasted look, not a public mistake.)
    assert _route(learned, text, language=language) != "thank"


@pytest.mark.parametrize(("language", "text"), PRAISE)
def test_praise_is_thanked(learned, language, text):
    assert _route(learned, text, language=language) == "thank"
