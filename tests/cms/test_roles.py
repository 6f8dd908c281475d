"""The staff roles created by the data migration, and the helper later migrations use."""

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission
from wagtail.models import GroupPagePermission

from advocates.roles import FINANCE, MARKETING, SOCIAL_STAFF, group_grant
from tests.roles import user_in_role

pytestmark = pytest.mark.django_db


def _perms(group_name: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name=group_name).permissions.select_related(
                "content_type")}


def test_social_staff_work_the_queue_and_read_people():
    perms = _perms(SOCIAL_STAFF)
    assert {"wagtailadmin.access_admin", "advocates.view_outreach", "advocates.change_outreach",
            "advocates.view_mention", "advocates.view_advocate",
            "advocates.view_sandboxpost"} <= perms
    assert not {p for p in perms if "replytemplate" in p or "detectorsettings" in p}


def test_marketing_edits_templates_settings_and_pages_but_not_the_queue():
    perms = _perms(MARKETING)
    assert {"wagtailadmin.access_admin", "advocates.add_replytemplate",
            "advocates.change_replytemplate", "advocates.publish_replytemplate",
            "advocates.lock_replytemplate", "advocates.unlock_replytemplate",
            "advocates.change_detectorsettings", "advocates.view_brandaccount"} <= perms
    assert "advocates.change_outreach" not in perms
    assert "advocates.change_brandaccount" not in perms  # credentials stay with admins
    page_perms = set(GroupPagePermission.objects.filter(group__name=MARKETING)
                     .values_list("permission__codename", flat=True))
    assert page_perms == {"add_page", "change_page", "publish_page", "lock_page", "unlock_page"}


def test_finance_reads_only():
    perms = _perms(FINANCE)
    assert "wagtailadmin.access_admin" in perms
    writes = {p for p in perms if p.split(".")[1].startswith(("add_", "change_", "delete_",
                                                                "publish_"))}
    # Read-only on the data. What finance may change: who gets its scheduled reports
    # (rewards/migrations/0002_reportsettings.py), and its decisions on money held for
    # review: approving grants above the finance threshold and clearing fraud flags
    # (rewards/migrations/0004_role_permissions.py), and signing reward rules off: the
    # approval publishes the submitted revision (cms/migrations/0006_reward_rule_workflow.py;
    # without change_rewardrule, finance opens a rule's editor only while it awaits them),
    # tiers and perks the same way, and deciding points settings changes and adjustments
    # (cms/migrations/0009_money_changes_need_another_approver.py).
    assert writes <= {"rewards.change_reportsettings", "rewards.change_rewardgrant",
                      "rewards.change_fraudflag", "rewards.publish_rewardrule",
                      "rewards.publish_tier", "rewards.publish_perk",
                      "rewards.change_pointsadjustment", "rewards.change_pointssettingschange"}
    assert "rewards.change_rewardrule" not in perms
    assert not {p for p in writes if p.startswith("advocates.")}
    assert not GroupPagePermission.objects.filter(group__name=FINANCE).exists()


def test_each_role_user_gets_exactly_its_groups_permissions():
    staff = user_in_role(SOCIAL_STAFF)
    finance = user_in_role(FINANCE)
    assert staff.has_perm("advocates.change_outreach")
    assert not finance.has_perm("advocates.change_outreach")
    assert not staff.has_perm("advocates.change_replytemplate")


def test_group_grant_adds_what_exists_and_skips_what_does_not():
    skipped = group_grant(global_apps, FINANCE, ["advocates.view_outreachlog",
                                                 "rewards.view_nosuchreport",
                                                 "nosuchapp.view_thing"])
    assert skipped == ["rewards.view_nosuchreport", "nosuchapp.view_thing"]
    assert "advocates.view_outreachlog" in _perms(FINANCE)
    # Idempotent: granting again creates no duplicate permission rows.
    group_grant(global_apps, FINANCE, ["advocates.view_outreachlog"])
    assert Permission.objects.filter(codename="view_outreachlog").count() == 1


def test_group_grant_takes_a_custom_codename_with_its_model():
    group_grant(global_apps, "Auditors", ["advocates.outreach:export_outreach_audit"])
    assert "advocates.export_outreach_audit" in _perms("Auditors")
