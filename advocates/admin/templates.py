"""Reply templates in the Wagtail admin: marketing edits them as snippets.

Drafts, revisions, locking and a preview (every variant rendered on a sample mention) come
from the model's mixins. Validation happens here, when saving: every variant must use only
the variables its purpose allows ({code} only in reward messages, {consent_url} only in
consent requests), with well-formed braces; a template needs at least one variant.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import FieldPanel, FieldRowPanel, HelpPanel, InlinePanel, ObjectList

from advocates.admin.snippets import KanshaSnippetViewSet
from advocates.models import ReplyTemplate
from advocates.template_text import (
    BASE_VARIABLES,
    PURPOSE_VARIABLES,
    template_text_validate,
)

_HELP = (
    "<p>Variables: "
    + ", ".join(f"<code>{{{v}}}</code>" for v in sorted(BASE_VARIABLES))
    + "; in reward messages also "
    + ", ".join(f"<code>{{{v}}}</code>" for v in sorted(PURPOSE_VARIABLES["reward"]))
    + "; in consent requests <code>{consent_url}</code>. Write several variants: Kansha "
    "rotates them so nobody gets the same words twice in a row and the brand's timeline does "
    "not repeat itself. Only the published version is used. Use Preview to see each variant "
    "on a sample mention.</p>"
)


class ReplyTemplateForm(WagtailAdminModelForm):
    """Checks every variant against the purpose chosen in the same form."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        purpose = getattr(self, "cleaned_data", {}).get("purpose")
        formset = self.formsets.get("variants")
        if not purpose or formset is None:
            return valid
        kept = [form for form in formset.forms
                if form.is_valid() and not formset._should_delete_form(form)
                and (form.cleaned_data.get("text") or "").strip()]
        if not kept:
            self.add_error(None, "Add at least one variant.")
            valid = False
        for form in kept:
            try:
                template_text_validate(text=form.cleaned_data["text"], purpose=purpose)
            except ValidationError as exc:
                form.add_error("text", exc)
                valid = False
        return valid


class TemplatesViewSet(KanshaSnippetViewSet):
    model = ReplyTemplate
    icon = "openquote"
    menu_label = _("Reply templates")
    menu_name = "reply-templates"
    menu_order = 210
    add_to_admin_menu = True
    list_display = ["name", "purpose", "language", "live", "has_unpublished_changes"]
    list_filter = ["purpose", "language", "live"]
    search_fields = ["name", "keywords", "notes"]
    search_backend_name = None  # plain database filtering: a handful of rows
    ordering = ["purpose", "language", "name"]
    copy_view_enabled = True
    inspect_view_enabled = True

    edit_handler = ObjectList(
        [
            HelpPanel(content=_HELP),
            FieldPanel("name"),
            FieldRowPanel([FieldPanel("purpose"), FieldPanel("language")]),
            FieldPanel("keywords"),
            InlinePanel("variants", label="Variant", min_num=1,
                        panels=[FieldPanel("text")]),
            FieldPanel("notes"),
        ],
        base_form_class=ReplyTemplateForm,
    )
