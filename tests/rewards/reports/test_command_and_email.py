"""`manage.py report` and the weekly e-mail (unit: mail.outbox; integration: a real worker)."""

from __future__ import annotations

import codecs
import csv
import email
import io
import json
import zipfile
from datetime import date

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from cms.celery import app as celery_app
from rewards.models import ReportSettings
from rewards.money import money_to_minor
from rewards.reports.emails import last_week, report_weekly_email_send
from tests.conftest import wait_for

ARGS = ["--from", "2026-11-01", "--to", "2026-11-30"]


def run(*args) -> str:
    out = io.StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def test_command_writes_csv_with_every_table_neutralised(program, tmp_path):
    out = tmp_path / "red.csv"
    message = run("redemptions", *ARGS, "--format", "csv", "--out", str(out))
    assert "2026-11-01 to 2026-11-30" in message
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert ["# Totals per currency"] in rows
    text = out.read_text()
    assert "jpy" in text
    assert "usd" in text


def test_command_writes_a_zip_of_one_csv_per_table(program, tmp_path):
    out = tmp_path / "red.zip"
    run("redemptions", *ARGS, "--format", "zip-bom", "--out", str(out))
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert [n.rsplit("/", 1)[1] for n in names] == [
            "01-about.csv", "02-by-month-rule-tier-and-currency.csv", "03-totals-per-currency.csv",
            "04-average-order-value-with-and-without-a-code.csv"]
        totals = archive.read(names[2])
    assert totals.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(totals.decode("utf-8-sig"))))
    assert rows[0][0] == "currency"  # one table, starting at its heading
    assert {r[0] for r in rows[1:]} == {"jpy", "usd"}


def test_command_csv_neutralises_formulas(program, tmp_path):
    out = tmp_path / "amb.csv"
    run("ambassador", *ARGS, "--format", "csv", "--out", str(out))
    cells = [c for row in csv.reader(out.open(encoding="utf-8")) for c in row]
    # The reject reason '=HYPERLINK("http://x")' from the fixture comes out inert.
    assert "'=HYPERLINK(\"http://x\")" in cells
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)


def test_command_xlsx_and_json_hold_the_same_totals(program, tmp_path):
    run("liability", *ARGS, "--format", "xlsx", "--out", str(tmp_path / "l.xlsx"))
    run("liability", *ARGS, "--format", "json", "--out", str(tmp_path / "l.json"))
    sheet = load_workbook(tmp_path / "l.xlsx")["Totals per currency"]
    rows = list(sheet.iter_rows(values_only=True))
    # The workbook writes amounts in the currency's units ($5.00), JSON in minor units.
    xlsx = {r[0]: money_to_minor(r[rows[0].index("max_exposure")], r[0]) for r in rows[1:]}
    data = json.loads((tmp_path / "l.json").read_text())["sections"]["totals"]
    from_json = {r[0]: r[data["columns"].index("max_exposure_minor")] for r in data["rows"]}
    assert xlsx == from_json == {"jpy": 2300, "usd": 500}


@pytest.mark.parametrize("bad", [
    ["--from", "2026-13-01", "--to", "2026-11-30", "--format", "csv"],
    ["--from", "2026-11-30", "--to", "2026-11-01", "--format", "csv"],
    ["--from", "2026-11-01", "--to", "2026-11-30", "--format", "pdf"],
    ["--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv", "--period", "day"],
])
def test_command_bad_input_is_an_error_and_writes_nothing(db, tmp_path, bad):
    out = tmp_path / "x.csv"
    with pytest.raises(CommandError):
        run("redemptions", *bad, "--out", str(out))
    assert list(tmp_path.iterdir()) == []


def test_last_week_is_monday_to_sunday():
    assert last_week(date(2026, 11, 23)) == (date(2026, 11, 16), date(2026, 11, 22))
    assert last_week(date(2026, 11, 29)) == (date(2026, 11, 16), date(2026, 11, 22))


def test_beat_schedule_has_the_weekly_email():
    entry = settings.CELERY_BEAT_SCHEDULE["reports-weekly-email"]
    assert entry["task"] == "rewards.tasks.report_weekly_email"
    assert entry["schedule"] == crontab(minute=0, hour=7, day_of_week="mon")
    assert celery_app.amqp.router.route({}, entry["task"])["queue"].name == "reports"


def test_weekly_task_mails_the_xlsx_to_the_cms_list(program):
    s = ReportSettings.load()
    s.weekly_recipients = "cfo@example.com\n\nmarketing@example.com\n"
    s.save()
    celery_app.autodiscover_tasks(force=True)  # what a worker does at start-up
    task = celery_app.tasks[settings.CELERY_BEAT_SCHEDULE["reports-weekly-email"]["task"]]
    assert task.delay().get() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["cfo@example.com", "marketing@example.com"]
    names = [a[0] for a in message.attachments]
    assert len(names) == 3
    assert all(n.endswith(".xlsx") for n in names)
    workbook = load_workbook(io.BytesIO(message.attachments[1][1]))
    assert "Totals per currency" in workbook.sheetnames


def test_no_recipients_no_mail(db):
    assert report_weekly_email_send() == 0
    assert mail.outbox == []


def test_recipients_are_validated(db):
    from django.core.exceptions import ValidationError

    s = ReportSettings(weekly_recipients="ok@example.com\nnot an address")
    with pytest.raises(ValidationError, match="not an address"):
        s.full_clean()


@pytest.fixture
def file_mail(tmp_path, monkeypatch):
    """The worker (started after this) writes mail to files here instead of sending it."""
    folder = tmp_path / "mail"
    folder.mkdir()
    monkeypatch.setenv("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    monkeypatch.setenv("EMAIL_FILE_PATH", str(folder))
    return folder


@pytest.mark.integration
def test_beat_task_sends_the_mail_through_a_real_worker(file_mail, celery_worker_process):
    s = ReportSettings.load()
    s.weekly_recipients = "finance@example.com"
    s.save()
    # What beat does: send the scheduled task by name; the worker consumes the reports queue.
    entry = settings.CELERY_BEAT_SCHEDULE["reports-weekly-email"]
    celery_app.send_task(entry["task"])
    # The file backend ends each message with a line of 79 dashes: wait for a whole message.
    files = wait_for(lambda: [f for f in file_mail.iterdir()
                              if f.read_bytes().rstrip().endswith(b"-" * 79)], timeout=90)
    message = email.message_from_bytes(files[0].read_bytes().rstrip().removesuffix(b"-" * 79))
    assert message["To"] == "finance@example.com"
    attachments = [p for p in message.walk() if p.get_filename()]
    assert sorted(p.get_filename().split("-")[1] for p in attachments) == [
        "ambassador", "liability", "redemptions"]
    workbook = load_workbook(io.BytesIO(attachments[0].get_payload(decode=True)))
    assert workbook.sheetnames[0] == "About"


def test_reports_api_needs_a_read_reports_token(client, program):
    from advocates.services import ingest_token_issue

    url = "/api/v1/rewards/reports/redemptions"
    query = {"from": "2026-11-01", "to": "2026-11-30"}
    _, reader = ingest_token_issue(name="bi", scopes=["read-reports"])
    _, till = ingest_token_issue(name="till", scopes=["redeem", "ingest"])
    assert client.get(url, query).status_code == 401
    assert client.get(url, query, HTTP_AUTHORIZATION=f"Bearer {till}").status_code == 403
    response = client.get(url, query, HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["report"] == "redemptions"
    assert "totals" in body["sections"]
    bad = client.get(url, {"from": "2026-13-01", "to": "2026-11-30"},
                     HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert bad.status_code == 400
    assert "YYYY-MM-DD" in bad.json()["detail"]
