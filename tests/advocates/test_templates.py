"""Reply templates: validated when saved, rendered and rotated when proposing."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from wagtail.test.utils.form_data import inline_formset, nested_form_data

from advocates.models import Outreach, ReplyTemplate, ReplyTemplateVariant
from advocates.services.templates import TemplateBook
from advocates.template_text import template_text_render, template_text_validate
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.factories import AdvocateFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]


@pytest.mark.parametrize(
    ("text", "purpose", "message"),
    [
        ("Thanks {frist_name}!", "praise", "Unknown variable {frist_name}"),
        ("Thanks {first_name!", "praise", "Broken braces"),
        ("Thanks first_name}!", "praise", "Broken braces"),
        ("Your code {code}", "praise", "Unknown variable {code}"),
        ("Hi {first_name.upper}", "praise", "Unknown variable {first_name.upper}"),
        ("Hi {first_name:>20}", "praise", "Unknown variable {first_name:>20}"),
        ("Hi {0}", "praise", "Unknown variable {0}"),
        ("Share? {consent_url}", "praise", "Unknown variable {consent_url}"),
        ("   ", "praise", "needs some text"),
    ],
)
def test_bad_variants_are_rejected_when_saving(text, purpose, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        template_text_validate(text=text, purpose=purpose)


@pytest.mark.parametrize(
    ("text", "purpose"),
    [
        ("Thanks {first_name} ({handle}) for visiting {venue} on {platform}! {brand}", "praise"),
        ("{reward} with code {code}, valid until {expires}", "reward"),
        ("May we share it? {consent_url}", "consent"),
        ("Literal braces are fine when doubled: {{like this}}", "care"),
    ],
)
def test_good_variants_pass(text, purpose):
    template_text_validate(text=text, purpose=purpose)


def test_the_model_refuses_an_unknown_variable():
    template = ReplyTemplate.objects.create(name="t", purpose="praise", language="en")
    variant = ReplyTemplateVariant(template=template, text="Thanks {nickname}!")
    with pytest.raises(ValidationError) as excinfo:
        variant.full_clean()
    assert "Unknown variable {nickname}" in str(excinfo.value.message_dict["text"])


def test_rendering_fills_variables_and_tidies_empty_ones():
    text = template_text_render("Thanks for stopping by {venue}, {first_name}!",
                                {"venue": "", "first_name": "Aiko"})
    assert text == "Thanks for stopping by, Aiko!"


def test_default_templates_exist_in_english_and_japanese_with_three_variants():
    for purpose in ("praise", "checkin", "review", "care", "consent", "reward"):
        for language in ("en", "ja"):
            template = ReplyTemplate.objects.get(purpose=purpose, language=language, live=True)
            variants = list(template.variants.all())
            assert len(variants) >= 3
            for variant in variants:
                template_text_validate(text=variant.text, purpose=purpose)


def _template(texts, purpose="praise", language="en", live=True):
    ReplyTemplate.objects.filter(purpose=purpose, language=language).delete()
    template = ReplyTemplate.objects.create(name=f"{purpose} {language}", purpose=purpose,
                                            language=language, live=live)
    ReplyTemplateVariant.objects.bulk_create(
        [ReplyTemplateVariant(template=template, sort_order=i, text=t)
         for i, t in enumerate(texts)])
    return template


def _store(rendered, advocate, when):
    key = rendered.template_key
    Outreach.objects.create(kind="reply", advocate=advocate,
                            identity=advocate.identities.first() or _identity(advocate),
                            platform="sandbox", dedupe_key=f"t:{key}:{when.timestamp()}",
                            proposed_text=rendered.text, template_key=key,
                            template_variant=rendered.variant, created_at=when)


def _identity(advocate):
    from tests.factories import SocialIdentityFactory

    return SocialIdentityFactory(advocate=advocate)


def test_the_timeline_cycles_through_variants_least_recently_used_first():
    _template(["A {first_name}", "B {first_name}", "C {first_name}"])
    advocates = AdvocateFactory.create_batch(6)
    book = TemplateBook(advocate_ids=[a.pk for a in advocates], now=timezone.now())

    texts = [book.render(purpose="praise", language="en", advocate_id=a.pk,
                         context={"first_name": "x"}).text for a in advocates]

    assert texts == ["A x", "B x", "C x", "A x", "B x", "C x"]


def test_rotation_remembers_earlier_batches():
    _template(["A", "B", "C"])
    advocate, other = AdvocateFactory(), AdvocateFactory()
    now = timezone.now()
    book = TemplateBook(advocate_ids=[other.pk], now=now)
    _store(book.render(purpose="praise", language="en", advocate_id=other.pk, context={}),
           other, now - timedelta(hours=2))  # A, two hours ago
    book = TemplateBook(advocate_ids=[other.pk], now=now)
    _store(book.render(purpose="praise", language="en", advocate_id=other.pk, context={}),
           other, now - timedelta(hours=1))  # B, an hour ago

    later = TemplateBook(advocate_ids=[advocate.pk], now=now)

    assert later.render(purpose="praise", language="en", advocate_id=advocate.pk,
                        context={}).text == "C"


def test_one_person_never_gets_the_same_words_twice_in_a_row():
    _template(["A", "B"])
    fan = AdvocateFactory()
    now = timezone.now()
    seen = []
    for n in range(6):
        # Everyone else keeps using "B", so least-recently-used alone would pick B for the fan.
        book = TemplateBook(advocate_ids=[fan.pk], now=now + timedelta(days=n))
        rendered = book.render(purpose="praise", language="en", advocate_id=fan.pk,
                               context={})
        seen.append(rendered.text)
        _store(rendered, fan, now + timedelta(days=n))
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False))


def test_only_live_templates_are_used_and_japanese_falls_back_to_english():
    _template(["Draft words"], language="ja", live=False)
    _template(["Live words"], language="en")
    fan = AdvocateFactory()
    book = TemplateBook(advocate_ids=[fan.pk], now=timezone.now())
    rendered = book.render(purpose="praise", language="ja", advocate_id=fan.pk, context={})
    assert (rendered.text, rendered.template_key, rendered.variant) == ("Live words",
                                                                        "praise/en", 1)


def test_no_live_template_means_no_text():
    ReplyTemplate.objects.filter(purpose="review").update(live=False)
    book = TemplateBook(advocate_ids=[], now=timezone.now())
    assert book.render(purpose="review", language="en", advocate_id=1, context={}) is None


# --- The snippet in the admin ---------------------------------------------------------------

@pytest.fixture
def marketing_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("mari", "mari@example.com", "pw")
    client.force_login(user)
    return client


def _form(text, purpose="praise", action=None):
    data = nested_form_data({
        "name": "Autumn thanks", "purpose": purpose, "language": "en", "notes": "",
        "variants": inline_formset([{"text": text}]),
    })
    if action:
        data[action] = "1"
    return data


def test_admin_refuses_an_unknown_variable_and_saves_nothing(marketing_client):
    url = reverse("wagtailsnippets_advocates_replytemplate:add")

    response = marketing_client.post(url, _form("Thanks {frist_name}!"))

    assert response.status_code == 200
    assert "Unknown variable {frist_name}" in response.content.decode()
    assert not ReplyTemplate.objects.filter(name="Autumn thanks").exists()


def test_admin_refuses_reward_variables_in_a_thank_you(marketing_client):
    url = reverse("wagtailsnippets_advocates_replytemplate:add")
    response = marketing_client.post(url, _form("Use {code}!"))
    assert response.status_code == 200
    assert "Unknown variable {code}" in response.content.decode()


def test_admin_saves_a_draft_then_publishes_it(marketing_client):
    url = reverse("wagtailsnippets_advocates_replytemplate:add")

    response = marketing_client.post(url, _form("Thanks {first_name}, see you at {venue}!"))

    assert response.status_code == 302
    template = ReplyTemplate.objects.get(name="Autumn thanks")
    assert not template.live  # a draft is not used until published
    assert template.revisions.count() == 1

    edit = reverse("wagtailsnippets_advocates_replytemplate:edit", args=[template.pk])
    form = _form("Thanks {first_name}, see you at {venue}!", action="action-publish")
    form["variants-0-id"] = str(template.variants.get().pk)
    form["variants-INITIAL_FORMS"] = "1"
    assert marketing_client.post(edit, form).status_code == 302
    template.refresh_from_db()
    assert template.live


def test_a_draft_edit_of_a_live_template_does_not_change_what_is_proposed(marketing_client):
    template = _template(["Old words {first_name}"])
    edit = reverse("wagtailsnippets_advocates_replytemplate:edit", args=[template.pk])
    form = _form("New words {first_name}")
    form.update({"name": template.name, "variants-0-id": str(template.variants.get().pk),
                 "variants-INITIAL_FORMS": "1"})

    assert marketing_client.post(edit, form).status_code == 302

    fan = AdvocateFactory()
    book = TemplateBook(advocate_ids=[fan.pk], now=timezone.now())
    assert book.render(purpose="praise", language="en", advocate_id=fan.pk,
                       context={"first_name": "Aiko"}).text == "Old words Aiko"


def test_preview_shows_each_variant_on_a_sample_mention(marketing_client):
    template = ReplyTemplate.objects.get(purpose="checkin", language="en")

    response = template.make_preview_request()

    html = response.content.decode()
    assert response.status_code == 200
    assert "Sample mention" in html
    assert "Thanks for stopping by Shibuya store, Aiko!" in html


def test_template_list_and_edit_pages_render(marketing_client):
    template = ReplyTemplate.objects.get(purpose="praise", language="ja")
    assert marketing_client.get(
        reverse("wagtailsnippets_advocates_replytemplate:list")).status_code == 200
    assert marketing_client.get(reverse("wagtailsnippets_advocates_replytemplate:edit",
                                        args=[template.pk])).status_code == 200
