"""Admin registration for the advocates app: people, identities, mentions, ingest tokens."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse, reverse_lazy
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import FieldPanel, ObjectList
from wagtail.admin.ui.tables import Column
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import CreateView, SnippetViewSetGroup

from advocates.admin import conversations, deadletters, detector, people, privacy, queue, timeline
from advocates.admin.advocate_list import LIST_DISPLAY, AdvocateFilterSet, AdvocateIndexView
from advocates.admin.detector import PERMISSION
from advocates.admin.menu import CareQueueMenuItem, PermissionMenuItem
from advocates.admin.people import MERGE_PERMISSION
from advocates.admin.privacy import SuppressionViewSet
from advocates.admin.snippets import KanshaSnippetViewSet
from advocates.models import Advocate, IngestToken, Mention, SocialIdentity, TokenScope
from advocates.services import api_token_revoke, ingest_token_issue

# People and mentions are searched with the database (`icontains` on `search_fields`), not a
# Wagtail search index: ingestion writes them in bulk (COPY, bulk_create), which never reaches
# an index, and indexing every save would tax the ingest and detection path.
DATABASE_SEARCH = None


class MentionViewSet(KanshaSnippetViewSet):
    model = Mention
    icon = "comment"
    menu_label = _("Mentions")
    refused = frozenset({"add", "delete"})  # mentions arrive by ingestion
    empty_message = _("No mentions yet. They arrive from connected brand accounts, the "
                      "ingest API and file imports (Brand accounts, API tokens).")
    list_display = ["text", "platform", "kind", "author", "detection_label", "detection_intent",
                    "route", "posted_at"]
    list_filter = ["platform", "kind", "source", "language", "detection_label",
                   "detection_intent", "route"]
    list_export = ["platform", "external_id", "kind", "text", "language", "posted_at",
                   "detection_label", "detection_intent", "detection_confidence", "route"]
    search_fields = ["text", "author__handle"]
    search_backend_name = DATABASE_SEARCH
    ordering = ["-posted_at"]
    list_per_page = 50
    inspect_view_enabled = True
    panels = [FieldPanel("text", read_only=True), FieldPanel("detection_reasons", read_only=True)]

    def get_queryset(self, request):
        return Mention.objects.select_related("author")


class AdvocateViewSet(KanshaSnippetViewSet):
    model = Advocate
    icon = "user"
    menu_label = _("Advocates")
    # People are found by ingestion and removed by erasure (the row's "More" menu), never
    # typed in or deleted from a form.
    refused = frozenset({"add", "delete"})
    empty_message = _("No advocates yet. Kansha adds one for each person whose mentions "
                      "arrive.")
    # Handles, last mention, open care items, and rewards' tier and points (hook):
    # advocates/admin/advocate_list.py.
    index_view_class = AdvocateIndexView
    list_display = LIST_DISPLAY
    filterset_class = AdvocateFilterSet
    # Searched by name, handle (with or without "@") and platform user id: the index view's
    # `search_queryset` (selectors.advocate_search); these fields only switch the box on.
    search_fields = ["display_name"]
    search_backend_name = DATABASE_SEARCH
    inspect_view_enabled = True
    panels = [FieldPanel("display_name"), FieldPanel("is_employee"), FieldPanel("flagged"),
              FieldPanel("flagged_reason"), FieldPanel("notes")]


class SocialIdentityViewSet(KanshaSnippetViewSet):
    model = SocialIdentity
    icon = "link"
    menu_label = _("Identities")
    refused = frozenset({"add", "delete"})
    empty_message = _("No identities yet. Each social account that mentions the brand "
                      "becomes one.")
    list_display = ["handle", "display_name", "platform", "follower_count", "verified",
                    "advocate"]
    list_filter = ["platform", "verified"]
    search_fields = ["handle", "display_name"]
    search_backend_name = DATABASE_SEARCH
    inspect_view_enabled = True
    panels = [FieldPanel("handle", read_only=True), FieldPanel("display_name", read_only=True)]

    def get_queryset(self, request):
        return SocialIdentity.objects.select_related("advocate")


class ApiTokenForm(WagtailAdminModelForm):
    """Scopes as checkboxes (the model keeps them as a JSON list)."""

    scopes = forms.MultipleChoiceField(
        choices=TokenScope.choices, widget=forms.CheckboxSelectMultiple,
        help_text="Give each integration only what it needs: a listening tool `ingest`, a "
        "till `redeem`, a BI tool `read-reports`.")


class IngestTokenCreateView(CreateView):
    """Creating a token shows its secret once, in the success message; only a hash is kept."""

    def save_instance(self):
        token, self.secret = ingest_token_issue(name=self.form.cleaned_data["name"],
                                                scopes=self.form.cleaned_data["scopes"],
                                                user=self.request.user)
        return token

    def get_success_message(self, instance):
        return format_html(_("Token “{}” created with the scopes {}. Copy it now, it will "
                             "not be shown again: <code>{}</code>"), instance.name,
                           instance.scopes_display, self.secret)


def _token_actions(token: IngestToken) -> str:
    if token.revoked_at is not None:
        return format_html('<span class="w-status w-status--label">{}</span>',
                           _("revoked %(when)s") % {"when": f"{token.revoked_at:%Y-%m-%d %H:%M}"})
    return format_html('<a class="button button-small button-secondary no" href="{}">{}</a>',
                       reverse("kansha_api_token_revoke", args=[token.pk]), _("Revoke…"))


class IngestTokenViewSet(KanshaSnippetViewSet):
    model = IngestToken
    add_view_class = IngestTokenCreateView
    icon = "key"
    menu_label = _("API tokens")
    empty_message = _("No API tokens yet. Add one for each system that posts mentions to "
                      "the ingest API.")
    list_display = ["name", "prefix", "scopes_display", "created_at", "last_used_at",
                    Column("revoke", label=_("Status"), accessor=_token_actions)]
    edit_handler = ObjectList([FieldPanel("name"), FieldPanel("scopes")],
                              base_form_class=ApiTokenForm)


def api_token_revoke_view(request, token_id: int):
    """GET: confirm; POST: revoke at once (the token's next request is refused with 401)."""
    if not request.user.has_perm("advocates.change_ingesttoken"):
        raise PermissionDenied
    token = get_object_or_404(IngestToken, pk=token_id)
    if request.method == "POST":
        if api_token_revoke(token_id=token.pk, user=request.user):
            messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
        else:
            messages.warning(request, _("Token “%(name)s” was already revoked.")
                             % {"name": token.name})
        return redirect(reverse("wagtailsnippets_advocates_ingesttoken:list"))
    return TemplateResponse(request, "advocates/admin/token_revoke_confirm.html",
                            {"token": token})


@hooks.register("register_admin_urls")
def register_token_urls():
    return [path("kansha-tokens/<int:token_id>/revoke/", api_token_revoke_view,
                 name="kansha_api_token_revoke")]


class PeopleGroup(SnippetViewSetGroup):
    menu_label = _("Advocates")
    menu_icon = "group"
    menu_order = 200
    items = (MentionViewSet, AdvocateViewSet, SocialIdentityViewSet, IngestTokenViewSet,
             SuppressionViewSet)


register_snippet(PeopleGroup)

# Brand accounts (platform connectors): advocates/admin/accounts.py
from advocates.admin.accounts import BrandAccountViewSet  # noqa: E402

register_snippet(BrandAccountViewSet)

# Reply templates (marketing): advocates/admin/templates.py
from advocates.admin.templates import TemplatesViewSet  # noqa: E402

register_snippet(TemplatesViewSet)


# Dead letters (rows batch tasks set aside): advocates/admin/deadletters.py
from advocates.admin.deadletters import DeadLetterViewSet  # noqa: E402

register_snippet(DeadLetterViewSet)


@hooks.register("register_admin_urls")
def register_dead_letter_urls():
    return deadletters.admin_urls()


@hooks.register("register_log_actions")
def register_log_actions(actions):
    actions.register_action("kansha.advocate.merge", _("Merge advocates"),
                            _("Merged advocates"))
    actions.register_action("kansha.advocate.unmerge", _("Undo a merge"),
                            _("Undid a merge of advocates"))
    actions.register_action("kansha.advocate.merge_dismiss", _("Not the same person"),
                            _("Dismissed a merge suggestion: two people"))
    actions.register_action("kansha.advocate.opt_out", _("Opt out"),
                            _("Opted out of all contact"))
    actions.register_action("kansha.token.revoke", _("Revoke API token"),
                            _("Revoked an API token"))
    actions.register_action("kansha.deadletter.replay", _("Replay dead letter"),
                            _("Replayed a dead letter: the row went through"))
    actions.register_action("kansha.deadletter.replay_failed", _("Replay dead letter (failed)"),
                            _("Replayed a dead letter: it failed again"))
    actions.register_action("kansha.deadletter.discard", _("Discard dead letter"),
                            _("Discarded a dead letter"))
    actions.register_action("kansha.detector.retrain", _("Retrain the detector"),
                            _("Trained a candidate detector model"))
    actions.register_action("kansha.detector.live", _("Make a detector model live"),
                            _("Made a detector model live"))
    actions.register_action("kansha.detector.rollback", _("Roll back to the base model"),
                            _("Rolled back to the shipped base model"))


# --- The outreach queue and the sandbox timeline (advocates/admin/); the dashboard is cms's --
# Imported inside the hooks so this file's imports stay as they are for the other sections.


@hooks.register("register_admin_urls")
def register_outreach_queue_urls():
    return [*queue.admin_urls(), *timeline.admin_urls(), *conversations.admin_urls()]


@hooks.register("register_admin_menu_item")
def register_outreach_queue_menu_item():
    return CareQueueMenuItem(_("Outreach queue"), reverse_lazy("kansha_outreach:queue"),
                             name="outreach-queue", icon_name="tasks", order=150,
                             permission="advocates.change_outreach")


@hooks.register("register_admin_menu_item")
def register_conversations_menu_item():
    return PermissionMenuItem(_("Conversations"), reverse_lazy("kansha_conversations:inbox"),
                              name="conversations", icon_name="mail", order=155,
                              permission="advocates.change_outreach")


@hooks.register("register_admin_menu_item")
def register_sandbox_timeline_menu_item():
    return PermissionMenuItem(_("Sandbox timeline"), reverse_lazy("kansha_sandbox_timeline"),
                              name="sandbox-timeline", icon_name="history", order=160,
                              permission="advocates.view_sandboxpost")


# --- People: opt out, merge (advocates/admin/people.py); export, erase (admin/privacy.py) -----


@hooks.register("register_admin_urls")
def register_privacy_urls():
    return [*privacy.admin_urls(), *people.admin_urls()]


@hooks.register("register_snippet_listing_buttons")
def register_privacy_listing_buttons(snippet, user, next_url=None):
    yield from people.advocate_listing_buttons(snippet, user, next_url)
    yield from privacy.advocate_listing_buttons(snippet, user, next_url)


@hooks.register("register_log_actions")
def register_privacy_log_actions(actions):
    actions.register_action("kansha.advocate.erase", _("Erase personal data"),
                            _("Erased personal data (pseudonymised)"))
    actions.register_action("kansha.suppression.lift", _("Lift suppression"),
                            _("Lifted an erased account's suppression"))


# --- Settings › Detector models (advocates/admin/detector.py) ---------------------------------


@hooks.register("register_admin_urls")
def register_detector_model_urls():
    return detector.admin_urls()


@hooks.register("register_settings_menu_item")
def register_detector_models_menu_item():
    return PermissionMenuItem(_("Detector models"), reverse_lazy("kansha_detector:models"),
                              name="detector-models", icon_name="cogs", order=1000,
                              permission=PERMISSION)


@hooks.register("register_admin_menu_item")
def register_merge_suggestions_menu_item():
    return PermissionMenuItem(_("Merge suggestions"), reverse_lazy("kansha_merge_suggestions"),
                              name="merge-suggestions", icon_name="resubmit", order=205,
                              permission=MERGE_PERMISSION)
