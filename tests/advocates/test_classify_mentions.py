"""`manage.py classify_mentions FILE`: a brand tries Kansha on an export, storing nothing."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from advocates.models import Advocate, DetectorSettings, Mention, Outreach
from advocates.policies import X_RULE
from tests.advocates.routing_helpers import brand_settings

pytestmark = pytest.mark.django_db

PRAISE = "Best flat white in Shibuya, thank you @kanshacoffee!"
COMPLAINT = "@kanshacoffee your app charged me twice, how do I get a refund?"


def _classify(path, *args) -> tuple[list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("classify_mentions", str(path), *args, stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_each_row_gets_its_detection_and_route_and_nothing_is_stored(tmp_path):
    brand_settings()
    settings_rows = DetectorSettings.objects.count()
    path = _write_jsonl(tmp_path / "export.jsonl", [
        {"text": PRAISE, "kind": "checkin", "venue": "Shibuya store", "crm_id": "A-1"},
        {"text": COMPLAINT, "followers": 12000, "crm_id": "A-2"},
        {"text": "Starbucks has the best cold brew in town", "crm_id": "A-3"},
        {"text": "カンシャ珈琲のラテ、最高でした！また行きます", "language": "ja", "crm_id": "A-4"},
    ])

    rows, err = _classify(path)

    assert [r["crm_id"] for r in rows] == ["A-1", "A-2", "A-3", "A-4"]  # passed through
    praise, complaint, competitor, japanese = rows
    assert (praise["label"], praise["intent"], praise["route"]) == ("positive", "checkin",
                                                                    "thank")
    assert praise["reasons"]
    assert 0 <= praise["confidence"] <= 1
    assert praise["language"] == "en"
    assert praise["skip_reason"] == ""
    assert (complaint["label"], complaint["intent"], complaint["route"]) == (
        "negative", "complaint", "care")
    assert complaint["priority"] > 50  # money, and a big audience
    assert (competitor["route"], competitor["skip_reason"]) == ("none", "competitor praise")
    assert (japanese["language"], japanese["route"]) == ("ja", "thank")
    assert "export.jsonl: 4 rows: 2 thank, 1 care, 0 answer, 1 none, 0 error." in err
    assert not Mention.objects.exists()
    assert not Advocate.objects.exists()
    assert not Outreach.objects.exists()
    assert DetectorSettings.objects.count() == settings_rows


def test_csv_with_only_text_and_extra_columns(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(
        "text,rating,kind,platform,store\n"
        "\"Lovely staff, great coffee at Kansha Coffee\",5,review,google,Kyoto\n"
        "Kansha Coffee: cold latte and a 30 minute wait,1,review,google,Kyoto\n",
        encoding="utf-8")

    rows, _ = _classify(path)

    assert [(r["store"], r["route"]) for r in rows] == [("Kyoto", "thank"), ("Kyoto", "care")]
    assert rows[0]["rating"] == "5"  # passed through as read


def test_bad_rows_get_an_error_line_and_the_good_rows_are_still_classified(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps({"text": PRAISE}) + "\n"
        + "{not json\n"
        + json.dumps({"text": PRAISE, "rating": 9}) + "\n"
        + json.dumps({"caption": "no text here"}) + "\n"
        + json.dumps({"text": COMPLAINT}) + "\n",
        encoding="utf-8")

    rows, err = _classify(path)

    assert len(rows) == 5
    assert rows[0]["route"] == "thank"
    assert rows[4]["route"] == "care"
    assert rows[1]["line"] == 2
    assert rows[1]["error"].startswith("not valid JSON")
    assert rows[2]["error"] == "rating must be between 1 and 5, not 9"
    assert rows[3] == {"caption": "no text here", "line": 4, "error": "missing field: text"}
    assert "line 3: rating must be between 1 and 5, not 9" in err
    assert "5 rows: 1 thank, 1 care, 0 answer, 0 none, 3 error." in err


def test_the_platforms_automation_rules_are_the_skip_reason(tmp_path):
    brand_settings()
    path = _write_jsonl(tmp_path / "x.jsonl", [
        {"text": "Honestly the best coffee I've had all year", "platform": "x"},
        {"text": "Honestly the best coffee I've had all year at @KanshaCoffee",
         "platform": "x"},
    ])

    rows, _ = _classify(path)

    assert (rows[0]["route"], rows[0]["skip_reason"]) == (
        "none", X_RULE)
    assert rows[1]["route"] == "thank"


def test_threshold_option_and_output_file(tmp_path):
    path = _write_jsonl(tmp_path / "in.jsonl", [{"text": "Kansha Coffee was nice today"}])

    rows = []
    for threshold in ("0.05", "0.99"):  # the least probability of "deserves a thank-you"
        out = tmp_path / f"out-{threshold}.jsonl"
        call_command("classify_mentions", str(path), "--threshold", threshold, "--out",
                     str(out), stdout=io.StringIO(), stderr=io.StringIO())
        (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        rows.append(row)

    assert rows[0]["route"] == "thank"
    assert rows[1]["route"] != "thank"
    assert any(r.startswith("model: thank-you") and r.endswith("below 0.99")
               for r in rows[1]["reasons"])


@pytest.mark.parametrize(("content", "name", "message"), [
    ("caption,kind\nhello,post\n", "no-text.csv", "lacks required column(s): text"),
    ("", "notes.txt", "Cannot tell the format"),
])
def test_a_file_that_cannot_be_read_is_a_clear_error(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _classify(path)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="File not found"):
        _classify(tmp_path / "nope.jsonl")


def test_questions_print_the_answer_route_in_both_languages(tmp_path):
    brand_settings()
    path = _write_jsonl(tmp_path / "questions.jsonl", [
        {"text": "is the Shibuya store open on the 31st? @kanshacoffee"},
        {"text": "カンシャ珈琲の渋谷店、Wi-Fiありますか？", "language": "ja"},
        {"text": COMPLAINT},
    ])

    rows, err = _classify(path)

    hours, wifi, complaint = rows
    assert (hours["intent"], hours["route"]) == ("question", "answer")
    assert (wifi["language"], wifi["intent"], wifi["route"]) == ("ja", "question", "answer")
    assert hours["priority"] is not None
    assert complaint["route"] == "care"  # an angry question is a complaint
    assert "questions.jsonl: 3 rows: 0 thank, 1 care, 2 answer, 0 none, 0 error." in err
    assert not Outreach.objects.exists()
