"""The reward message: a reward template that shows the code, rotated per person."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from advocates.models import Outreach, ReplyTemplate, ReplyTemplateVariant
from rewards import services
from rewards.models import Perk, RewardRule
from tests.rewards.conftest import make_advocate, make_rule

CODE_VARIANTS = ["One: {code} for {first_name}", "Two: {first_name}, use {code}",
                 "Three: {code}, {reward}"]


def _template(texts, purpose="reward", name="Rule message"):
    template = ReplyTemplate.objects.create(name=name, purpose=purpose, language="en",
                                            live=True)
    ReplyTemplateVariant.objects.bulk_create(
        [ReplyTemplateVariant(template=template, sort_order=n, text=t)
         for n, t in enumerate(texts)])
    return template


def _clean(template, **rule):
    fields = {"name": "Rule", "reward_kind": "discount", "discount_type": "percent",
              "percent_off": 10, "currency": "jpy", "message_template": template}
    fields.update(rule)
    RewardRule(**fields).full_clean()


def test_the_rule_form_offers_only_reward_templates(db):
    reward = _template(CODE_VARIANTS)
    praise = _template(["Thanks {first_name}!"], purpose="praise", name="Praise")
    from wagtail.admin.panels import get_edit_handler

    form = get_edit_handler(RewardRule).get_form_class()()  # the snippet editor's form
    choices = form.fields["message_template"].queryset
    assert reward in choices
    assert praise not in choices


def test_a_praise_template_is_refused(db):
    praise = _template(["Thanks {first_name}!"], purpose="praise", name="Praise")
    with pytest.raises(ValidationError) as err:
        _clean(praise)
    assert "message_template" in err.value.message_dict


def test_a_discount_message_must_show_the_code_in_every_variant(db):
    template = _template(["Here is {reward}: {code}", "Thanks, {first_name}!"])
    with pytest.raises(ValidationError) as err:
        _clean(template)
    assert "variant 2 does not" in err.value.message_dict["message_template"][0]
    _clean(_template(CODE_VARIANTS, name="Good"))  # every variant shows it: fine


def test_a_perk_message_must_not_show_a_code(db):
    perk = Perk.objects.create(name="Tote")
    with pytest.raises(ValidationError):
        _clean(_template(CODE_VARIANTS), reward_kind="perk", perk=perk)
    _clean(_template(["You earned {reward}!"], name="Perk"), reward_kind="perk", perk=perk)


def _message(rule, advocate, period):
    grant = services.grant_create(rule=rule, advocate_id=advocate.pk, period=period)
    services.grant_issue(grant_id=grant.pk)
    return Outreach.objects.get(dedupe_key=f"grant:{grant.pk}")


def test_reward_messages_rotate_per_person_like_thank_yous(config):
    rule = make_rule(trigger_count=1, period="month", message_template=_template(CODE_VARIANTS))
    aiko, ben, chika = make_advocate(), make_advocate(), make_advocate()

    first = _message(rule, aiko, "2026-01")
    others = [_message(rule, ben, "2026-01"), _message(rule, chika, "2026-01")]
    again = _message(rule, aiko, "2026-02")  # three grants later

    # The brand's timeline does not repeat itself, and Aiko never gets the same words twice
    # in a row (grant.pk % 3 would give her the same variant here).
    assert len({o.template_variant for o in [first, *others]}) == 3
    assert again.template_variant != first.template_variant
    assert {o.template_key for o in [first, *others, again]} == {f"reward/rule-{rule.pk}"}
    code = again.proposed_text.split(" ")
    assert any(word.startswith("KAN-") for word in code)


def test_a_variant_edited_to_drop_the_code_is_never_sent(config):
    template = _template(CODE_VARIANTS)
    rule = make_rule(trigger_count=1, message_template=template)
    ReplyTemplateVariant.objects.filter(template=template).exclude(sort_order=2).update(
        text="Thanks, {first_name}!")
    texts = [_message(rule, make_advocate(), "2026-01").proposed_text for _ in range(3)]
    assert all(t.startswith("Three: KAN-") for t in texts)
