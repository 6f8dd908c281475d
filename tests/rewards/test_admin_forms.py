"""The programme's admin forms and lists: a rule editor that asks only for the chosen
trigger's fields (and checks that on the server), money typed in normal units, workflow state
in words, and lists whose rows only Kansha creates offer no "Add"."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import NoReverseMatch, reverse
from wagtail.models import Workflow, WorkflowState

from rewards.models import Perk, RewardRule, Tier
from rewards.wagtail_hooks import PerkViewSet, RewardRuleViewSet
from tests.rewards.conftest import make_rule

pytestmark = pytest.mark.django_db

BASE = {"name": "Regulars", "trigger": "events_in_days", "trigger_count": "3",
        "trigger_days": "30", "trigger_event_kind": "", "trigger_min_rating": "",
        "min_account_age_days": "0", "min_followers": "0", "reward_kind": "discount",
        "discount_type": "percent", "percent_off": "10", "amount_off_minor": "",
        "currency": "jpy", "code_expiry_days": "30", "minimum_order_minor": "",
        "single_use": "on", "period": "month", "monthly_budget_minor": "",
        "budget_estimate_minor": "500", "finance_approval_above_minor": ""}


def _rule_form(data, instance=None):
    form_class = RewardRuleViewSet().get_edit_handler().get_form_class()
    return form_class(data=data, instance=instance or RewardRule())


def test_a_3_in_30_days_rule_needs_no_star_rating_or_tier():
    form = _rule_form(BASE)
    assert form.is_valid(), form.errors
    rule = form.save()
    assert (rule.trigger_count, rule.trigger_days, rule.trigger_tier) == (3, 30, None)


def test_fields_of_another_trigger_are_not_kept():
    form = _rule_form({**BASE, "trigger_min_rating": "2"})
    assert form.is_valid(), form.errors
    assert form.save().trigger_min_rating == 4  # the model's default, not the hidden value


def test_the_chosen_triggers_fields_are_required():
    missing_days = _rule_form({**BASE, "trigger_days": ""})
    assert not missing_days.is_valid()
    assert "trigger_days" in missing_days.errors
    first_visit = _rule_form({**BASE, "trigger": "first_checkin", "trigger_count": "",
                              "trigger_days": ""})
    assert first_visit.is_valid(), first_visit.errors
    tier = _rule_form({**BASE, "trigger": "tier_reached"})
    assert not tier.is_valid()
    assert "trigger_tier" in tier.errors
    gold = Tier.objects.create(name="Gold", threshold=100)
    assert _rule_form({**BASE, "trigger": "tier_reached", "trigger_tier": str(gold.pk)}
                      ).is_valid()


@pytest.mark.parametrize(("typed", "currency", "minor"), [
    ("200", "jpy", 200), ("12.50", "usd", 1250), ("3,000", "jpy", 3000),
    ("¥3,000", "jpy", 3000), ("３０００円", "jpy", 3000)])
def test_money_is_typed_in_normal_units(typed, currency, minor):
    form = _rule_form({**BASE, "discount_type": "amount", "percent_off": "",
                       "amount_off_minor": typed, "currency": currency,
                       "monthly_budget_minor": typed})
    assert form.is_valid(), form.errors
    rule = form.save()
    assert (rule.amount_off_minor, rule.monthly_budget_minor) == (minor, minor)


def test_yen_has_no_decimals_and_the_form_says_so():
    form = _rule_form({**BASE, "discount_type": "amount", "percent_off": "",
                       "amount_off_minor": "12.5"})
    assert not form.is_valid()
    assert form.errors["amount_off_minor"][0] == "JPY amounts have 0 decimal places."


def test_an_existing_amount_is_shown_in_normal_units():
    rule = make_rule(discount_type="amount", percent_off=None, amount_off_minor=1250,
                     currency="usd")
    form = _rule_form(None, instance=rule)
    assert str(form.initial["amount_off_minor"]) == "12.50"
    assert form.fields["amount_off_minor"].label == "Amount off"


def test_perk_cost_in_normal_units():
    form_class = PerkViewSet().get_edit_handler().get_form_class()
    form = form_class(data={"name": "Tote", "kind": "swag", "stock": "3",
                            "unit_cost_minor": "1,200", "currency": "jpy", "public": "on"},
                      instance=Perk())
    assert form.is_valid(), form.errors
    assert form.save().unit_cost_minor == 1200


def test_rule_list_shows_workflow_state_in_words(admin_client):
    waiting = make_rule(name="Waiting rule", live=False)
    make_rule(name="Live rule")
    WorkflowState.objects.create(
        content_type=ContentType.objects.get_for_model(RewardRule),
        base_content_type=ContentType.objects.get_for_model(RewardRule),
        object_id=str(waiting.pk), workflow=Workflow.objects.create(name="Approval"),
        status=WorkflowState.STATUS_IN_PROGRESS)

    html = admin_client.get(reverse("wagtailsnippets_rewards_rewardrule:list")).content.decode()

    assert "Awaiting finance" in html
    assert "Live False" not in html
    filtered = admin_client.get(reverse("wagtailsnippets_rewards_rewardrule:list"),
                                {"state": "in_review"}).content.decode()
    assert "Waiting rule" in filtered
    assert "Live rule" not in filtered


@pytest.mark.parametrize("model", ["redemption", "discountcode", "rewardgrant", "pointsentry",
                                   "stripeevent"])
def test_rows_only_kansha_creates_have_no_add_form(admin_client, model):
    with pytest.raises(NoReverseMatch):
        reverse(f"wagtailsnippets_rewards_{model}:add")
    html = admin_client.get(reverse(f"wagtailsnippets_rewards_{model}:list")).content.decode()
    assert "Why not" not in html
    assert "/add/" not in html


@pytest.mark.parametrize("model", ["advocate", "socialidentity", "mention"])
def test_people_lists_have_no_copy_add_or_delete(admin_client, model):
    for view in ("add", "copy", "delete"):
        with pytest.raises(NoReverseMatch):
            reverse(f"wagtailsnippets_advocates_{model}:{view}", args=[1] if view != "add"
                    else [])


def test_empty_lists_say_what_creates_the_rows(admin_client):
    html = admin_client.get(reverse("wagtailsnippets_rewards_fraudflag:list")).content.decode()
    assert "fraud guards raise one" in html
    assert "Why not" not in html
