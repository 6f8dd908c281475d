"""One test per rule family, named for the behaviour a person would check."""

from __future__ import annotations

import dataclasses
import json

from advocates.detection import DETECTOR_VERSION, DetectionInput, Detector, DetectorConfig
from advocates.routing_rules import route_decide


def _detect(detector: Detector, text: str, **kwargs: object) -> tuple[object, object]:
    item = DetectionInput(text=text, **kwargs)  # type: ignore[arg-type]
    detection = detector.detect(item)
    return detection, route_decide(item, detection, detector.config)


# --- language ---------------------------------------------------------------------------------


def test_japanese_script_is_detected_as_japanese(detector: Detector) -> None:
    detection, _ = _detect(detector, "カンシャ珈琲のラテ、最高でした")
    assert detection.language == "ja"


def test_english_with_a_japanese_brand_name_stays_english(detector: Detector) -> None:
    detection, _ = _detect(detector, "The matcha at カンシャ珈琲 Kyoto is wonderful, go there")
    assert detection.language == "en"


def test_platform_language_hint_wins(detector: Detector) -> None:
    detection, _ = _detect(detector, "Kansha Coffee", language="ja")
    assert detection.language == "ja"


def test_language_is_restricted_to_the_configured_languages() -> None:
    detector = Detector(DetectorConfig(languages=("en", "fr")))
    detection = detector.detect(DetectionInput(text="Le café était vraiment délicieux ce matin"))
    assert detection.language == "fr"
    assert any("no sentiment model" in r for r in detection.reasons)


# --- plain praise -----------------------------------------------------------------------------


def test_plain_english_praise_is_thanked(detector: Detector) -> None:
    detection, route = _detect(detector, "The pour-over at Kansha Coffee is excellent, love it!")
    assert (detection.label, detection.intent) == ("positive", "praise")
    assert route.route == "thank"


def test_plain_japanese_praise_is_thanked(detector: Detector) -> None:
    detection, route = _detect(detector, "カンシャ珈琲のカフェラテ、本当に美味しい！また行きます")
    assert (detection.label, detection.intent) == ("positive", "praise")
    assert route.route == "thank"


# --- platform signals -------------------------------------------------------------------------


def test_checkin_without_text_is_positive(detector: Detector) -> None:
    detection, route = _detect(detector, "", kind="checkin", venue="Kansha Coffee Shibuya")
    assert (detection.label, detection.intent) == ("positive", "checkin")
    assert "check-in at Kansha Coffee Shibuya" in detection.reasons
    assert route.route == "thank"


def test_checkin_with_negative_text_is_a_complaint(detector: Detector) -> None:
    detection, route = _detect(
        detector, "Been waiting 30 minutes, still no drink", kind="checkin", venue="Kansha Coffee"
    )
    assert detection.label == "negative"
    assert route.route == "care"


def test_four_star_review_is_positive(detector: Detector) -> None:
    detection, route = _detect(detector, "Nice cafe.", kind="review", rating=4, platform="google")
    assert (detection.label, detection.intent) == ("positive", "review")
    assert "4-star review" in detection.reasons
    assert route.route == "thank"


def test_two_star_review_is_negative(detector: Detector) -> None:
    detection, route = _detect(detector, "Meh.", kind="review", rating=2, platform="google")
    assert detection.label == "negative"
    assert route.route == "care"


def test_three_star_review_is_neutral_unless_text_decides(detector: Detector) -> None:
    neutral, _ = _detect(detector, "It was a coffee.", kind="review", rating=3)
    assert neutral.label == "neutral"
    angry, _ = _detect(detector, "Rude staff, cold latte, never again.", kind="review", rating=3)
    assert angry.label == "negative"


def test_five_star_review_with_sarcastic_text_is_not_thanked(detector: Detector) -> None:
    detection, route = _detect(
        detector, "Great, waited 45 minutes for a drip coffee. Amazing service.",
        kind="review", rating=5,
    )
    assert "sarcasm" in detection.flags
    assert route.route != "thank"


# --- contrast and negation --------------------------------------------------------------------


def test_english_contrast_clause_after_but_decides(detector: Detector) -> None:
    good_end, _ = _detect(detector, "The line was long but the latte was absolutely worth it")
    bad_end, _ = _detect(detector, "The latte was great but the barista was rude to me")
    assert good_end.label == "positive"
    assert bad_end.label == "negative"


def test_english_negation_flips_praise(detector: Detector) -> None:
    detection, route = _detect(detector, "The cold brew at Kansha Coffee is not good at all")
    assert detection.label == "negative"
    assert route.route != "thank"


def test_japanese_contrast_keshi_after_clause_decides(detector: Detector) -> None:
    bad_end, bad_route = _detect(detector, "雰囲気は好きだけど、コーヒーがぬるかった")
    good_end, _ = _detect(detector, "ちょっと高いけど、ここのラテは本当に美味しい")
    assert bad_end.label == "negative"
    assert bad_route.route != "thank"
    assert good_end.label == "positive"


def test_japanese_contrast_shikashi_starts_a_new_sentence(detector: Detector) -> None:
    detection, route = _detect(detector, "内装は素敵です。しかし店員の態度が最悪でした。")
    assert detection.label == "negative"
    assert route.route == "care"


def test_japanese_negation_flips_praise(detector: Detector) -> None:
    detection, route = _detect(detector, "カンシャ珈琲のラテは美味しくない")
    assert detection.label == "negative"
    assert route.route != "thank"


# --- sarcasm ----------------------------------------------------------------------------------


def test_sarcasm_cue_blocks_thank(detector: Detector) -> None:
    detection, route = _detect(detector, "Love waiting 40 minutes for a latte @kanshacoffee")
    assert "sarcasm" in detection.flags
    assert detection.label == "negative"
    assert route.route == "care"
    assert any(r.startswith("sarcasm cue:") for r in detection.reasons)


def test_sarcasm_explicit_markers(detector: Detector) -> None:
    for text in (
        "Thanks for nothing @kanshacoffee",
        "Best latte ever /s",
        "Amazing customer service today 🙄",
        "Oh great, another price rise at Kansha Coffee",
    ):
        detection, route = _detect(detector, text)
        assert "sarcasm" in detection.flags, text
        assert route.route != "thank", text


def test_sincere_long_wait_but_worth_it_is_not_sarcasm(detector: Detector) -> None:
    detection, route = _detect(detector, "Waited 20 minutes, but honestly the best latte in town")
    assert "sarcasm" not in detection.flags
    assert detection.label == "positive"


def test_japanese_sasuga_with_delay_is_sarcasm(detector: Detector) -> None:
    detection, route = _detect(detector, "さすがカンシャ珈琲、今日も30分待たされた")
    assert "sarcasm" in detection.flags
    assert route.route == "care"


def test_scare_quoted_selling_point_is_sarcasm(detector: Detector) -> None:
    detection, route = _detect(detector, "Loving the new 'faster' service, only 30 minutes today")
    assert "sarcasm" in detection.flags
    assert route.route == "care"


def test_thanks_for_a_double_charge_is_sarcasm(detector: Detector) -> None:
    detection, route = _detect(detector, "Can't thank @kanshacoffee enough for charging me twice")
    assert "sarcasm" in detection.flags
    assert route.route == "care"


def test_japanese_sugoi_after_a_long_wait_is_sarcasm(detector: Detector) -> None:
    detection, route = _detect(detector, "ドリンクが出てくるまで25分。すごいですね")
    assert "sarcasm" in detection.flags
    assert route.route != "thank"


def test_japanese_thanks_with_anger_mark_is_sarcasm(detector: Detector) -> None:
    detection, route = _detect(detector, "ご丁寧にありがとうございます（怒）")
    assert "sarcasm" in detection.flags
    assert route.route != "thank"


# --- complaints and questions -----------------------------------------------------------------


def test_complaint_routes_care_with_priority(detector: Detector) -> None:
    item = DetectionInput(text="@kanshacoffee charged twice for one latte, I want a refund")
    detection = detector.detect(item)
    quiet = route_decide(item, detection, detector.config, followers=20)
    loud = route_decide(item, detection, detector.config, followers=200_000)
    assert detection.intent == "complaint"
    assert quiet.route == loud.route == "care"
    assert 0 < quiet.priority < loud.priority <= 100


def test_health_complaint_outranks_a_noisy_one(detector: Detector) -> None:
    sick = DetectionInput(text="Got food poisoning from the Kansha Coffee egg sandwich. Awful.")
    noisy = DetectionInput(text="The music at Kansha Coffee is too loud, annoying")
    p_sick = route_decide(sick, detector.detect(sick), detector.config).priority
    p_noisy = route_decide(noisy, detector.detect(noisy), detector.config).priority
    assert p_sick > p_noisy


def test_japanese_complaint_routes_care(detector: Detector) -> None:
    detection, route = _detect(detector, "注文を間違えられた上に店員の態度が最悪。返金してほしい")
    assert (detection.label, detection.intent) == ("negative", "complaint")
    assert route.route == "care"


def test_neutral_question_is_answered_never_dropped(detector: Detector) -> None:
    detection, route = _detect(detector, "Does anyone know if Kansha Coffee Brooklyn has wifi?")
    assert detection.intent == "question"
    assert route.route == "answer"


def test_negative_question_routes_care(detector: Detector) -> None:
    detection, route = _detect(detector, "@kanshacoffee why was I charged twice? Terrible app")
    assert detection.label == "negative"
    assert route.route == "care"


def test_positive_word_in_a_real_question_is_not_praise(detector: Detector) -> None:
    detection, route = _detect(detector, "Is the Kansha Coffee in Shinjuku dog friendly?")
    assert detection.intent == "question"
    assert route.route == "answer"


def test_rhetorical_question_is_still_praise(detector: Detector) -> None:
    detection, route = _detect(detector, "Can we talk about how good the Kansha scones are??")
    assert (detection.label, detection.intent) == ("positive", "praise")
    assert route.route == "thank"


def test_japanese_question_is_recognised(detector: Detector) -> None:
    detection, route = _detect(detector, "カンシャ珈琲の京都店は何時まで開いていますか？")
    assert detection.intent == "question"
    assert route.route == "answer"


# --- brand guards -----------------------------------------------------------------------------


def test_competitor_praise_routes_none(detector: Detector) -> None:
    detection, route = _detect(detector, "Honestly Starbucks makes a nicer latte than Kansha")
    assert "competitor" in detection.flags
    assert "competitor mentioned: starbucks" in detection.reasons
    assert route.route == "none"


def test_japanese_competitor_praise_routes_none(detector: Detector) -> None:
    detection, route = _detect(detector, "正直カンシャ珈琲よりスタバの方が美味しい")
    assert "competitor" in detection.flags
    assert route == route.__class__("none", "competitor praise")


def test_comparison_in_our_favour_is_not_a_competitor_flag(detector: Detector) -> None:
    detection, route = _detect(detector, "Kansha Coffee is so much better than Starbucks, love it")
    assert "competitor" not in detection.flags
    assert route.route == "thank"


def test_own_account_routes_none(detector: Detector) -> None:
    detection, route = _detect(
        detector, "Our new yuzu tonic is here, you'll love it!", author_handle="@KanshaCoffee"
    )
    assert "own_account" in detection.flags
    assert route.skip_reason == "brand's own account"


def test_excluded_term_routes_none(detector: Detector) -> None:
    detection, route = _detect(detector, "Love my new Kansha Bank card, great design!")
    assert "excluded" in detection.flags
    assert route.route == "none"


def test_giveaway_spam_routes_none(detector: Detector) -> None:
    for text in (
        "GIVEAWAY! Win a Kansha Coffee gift card, follow & RT to enter #win",
        "【プレゼント企画】カンシャ珈琲のギフト券が当たる！フォロー&RTで応募",
        "Make $$$ with crypto, DM for promo #coffee #latte #kansha #money #free #btc",
    ):
        detection, route = _detect(detector, text)
        assert "spam" in detection.flags, text
        assert route.skip_reason == "spam", text


def test_one_free_word_is_not_spam(detector: Detector) -> None:
    detection, route = _detect(detector, "Kansha Coffee gave me a free refill, so kind of them!")
    assert "spam" not in detection.flags
    assert route.route == "thank"


def test_negated_praise_idiom_is_not_praise(detector: Detector) -> None:
    detection, route = _detect(detector, "Kansha Coffee's new blend? Honestly not worth it.")
    assert detection.label != "positive"
    assert route.route != "thank"


def test_insult_caps_an_otherwise_positive_post(detector: Detector) -> None:
    detection, route = _detect(detector, "What a great day, the Kansha Coffee manager is a joke")
    assert detection.label != "positive"
    assert route.route != "thank"


def test_hope_is_not_yet_praise(detector: Detector) -> None:
    hoped, hoped_route = _detect(detector, "I hope the new Kansha Coffee in Brooklyn is good")
    praised, _ = _detect(detector, "The new Kansha Coffee in Brooklyn is good")
    assert hoped.confidence < praised.confidence or hoped.label != "positive"
    assert "hedged or reported: 'hope'" in hoped.reasons
    assert hoped_route.route != "thank"


def test_a_cheerful_brand_name_is_not_praise() -> None:
    detector = Detector(DetectorConfig(brand_name="Happy Bean", tracked_terms=("happy bean",)))
    detection = detector.detect(DetectionInput(text="Heading to Happy Bean before work"))
    assert detection.label == "neutral"
    assert "brand mentioned: happy bean" in detection.reasons


# --- output shape -----------------------------------------------------------------------------


def test_reasons_are_human_readable(detector: Detector) -> None:
    detection, _ = _detect(
        detector, "Love how my 'hot' latte arrived ice cold, 10/10 @kanshacoffee"
    )
    assert detection.reasons
    for reason in detection.reasons:
        assert 3 <= len(reason) <= 120
        assert not set(reason) & set("{}<>_"), reason


def test_detection_is_json_ready_and_versioned(detector: Detector) -> None:
    detection, _ = _detect(detector, "Kansha Coffee is great")
    payload = json.loads(json.dumps(detection.as_dict()))
    assert payload["version"] == DETECTOR_VERSION
    assert payload["label"] in ("positive", "neutral", "negative")
    assert 0.0 <= payload["confidence"] <= 1.0
    assert isinstance(payload["flags"], list)


def test_batch_matches_single_detection(detector: Detector) -> None:
    items = [DetectionInput(text=t) for t in ("great latte", "rude staff", "カンシャ珈琲なう")]
    assert detector.detect_batch(items) == [detector.detect(i) for i in items]


def test_detection_types_are_frozen() -> None:
    item = DetectionInput(text="x")
    assert dataclasses.is_dataclass(item)
    try:
        item.text = "y"  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        return
    raise AssertionError("DetectionInput must be frozen")
