"""Brand accounts in the Wagtail admin: connect a platform account, store its secrets.

Secrets are typed into password fields, encrypted on save (advocates/platforms/credentials.py)
and never shown again: the form only says which ones are stored. A blank field keeps the stored
value, so editing the config does not need the secrets re-typed.
"""

from __future__ import annotations

import json

from django import forms
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import FieldPanel, HelpPanel, MultiFieldPanel, ObjectList

from advocates.admin.snippets import KanshaSnippetViewSet
from advocates.models import BrandAccount
from advocates.platforms.credentials import CredentialsError, credentials_decrypt
from advocates.services.platforms import brand_account_credentials_update

# name → which platforms use it (the help text under each password field).
SECRETS = {
    "access_token": "X (OAuth 2.0 user token), Mastodon, Instagram, Facebook (Page token), "
                    "Google",
    "refresh_token": "X, Google: used to renew the access token automatically",
    "client_id": "X, Google: OAuth client id",
    "client_secret": "X (confidential clients), Google",
    "bearer_token": "X: app-only bearer token (filtered stream)",
    "consumer_secret": "X: API key secret (webhook CRC and signatures)",
    "app_secret": "Instagram, Facebook: Meta app secret (webhook signatures)",
    "verify_token": "Instagram, Facebook: the verify token typed in the Meta app dashboard",
    "identifier": "Bluesky: handle or DID",
    "app_password": "Bluesky: an app password (Settings › App passwords)",
    "push_token": "Google: the random token in the Pub/Sub push URL (?token=…)",
    "push_secret": "Foursquare: the app's push secret",
    "oauth_token": "Foursquare: the venue manager's OAuth token",
}
FIELD = "secret_{}"

_HELP = (
    "<p>Each account gets its own webhook URL: <code>/webhooks/&lt;platform&gt;/&lt;account "
    "id&gt;/</code> (shown after saving). <b>Config</b> is JSON for non-secret settings: "
    "<code>base_url</code> (Mastodon instance, Bluesky PDS; the others default to the "
    "platform's API), Google <code>locations</code> ({\"accounts/1/locations/2\": \"Shibuya\"}),"
    " Foursquare <code>venue_ids</code>. See docs/platforms.md.</p>"
)


class BrandAccountForm(WagtailAdminModelForm):
    replace_credentials = forms.BooleanField(
        required=False, label="Replace all stored secrets",
        help_text="Drop every stored secret and keep only the ones typed now.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored: set[str] = set()
        if self.instance.pk and self.instance.credentials_encrypted:
            try:
                stored = set(credentials_decrypt(self.instance.credentials_encrypted))
            except CredentialsError:
                stored = set()
        for name, help_text in SECRETS.items():
            field = self.fields[FIELD.format(name)]
            field.help_text = help_text
            if name in stored:
                field.widget.attrs["placeholder"] = "•••••• stored (leave blank to keep)"

    def clean_config(self):
        config = self.cleaned_data.get("config")
        if isinstance(config, str):
            try:
                config = json.loads(config or "{}")
            except ValueError as exc:
                raise forms.ValidationError(f"config is not valid JSON: {exc}") from exc
        if not isinstance(config, dict):
            raise forms.ValidationError("config must be a JSON object")
        return config

    def secrets_typed(self) -> dict[str, str]:
        return {name: self.cleaned_data[FIELD.format(name)].strip() for name in SECRETS
                if self.cleaned_data.get(FIELD.format(name), "").strip()}

    def save(self, commit=True):
        account = super().save(commit=False)
        if not commit:
            return account
        with transaction.atomic():
            account.save()
            self.save_m2m()
            brand_account_credentials_update(
                account=account, credentials=self.secrets_typed(),
                merge=not self.cleaned_data.get("replace_credentials"))
        return account


# The password fields are declared on the form class (not the model).
for _name in SECRETS:
    BrandAccountForm.base_fields[FIELD.format(_name)] = forms.CharField(
        required=False, label=_name.replace("_", " ").capitalize(), strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))
    BrandAccountForm.declared_fields[FIELD.format(_name)] = BrandAccountForm.base_fields[
        FIELD.format(_name)]


class BrandAccountViewSet(KanshaSnippetViewSet):
    model = BrandAccount
    icon = "site"
    menu_label = _("Brand accounts")
    menu_name = "brand-accounts"
    add_to_admin_menu = True
    menu_order = 900
    list_display = ["name", "platform", "handle", "active", "quota_remaining", "quota_reset_at",
                    "last_checked_at", "last_error"]
    list_filter = ["platform", "active"]
    search_fields = ["name", "handle"]
    edit_handler = ObjectList([
        HelpPanel(_HELP),
        MultiFieldPanel([FieldPanel("platform"), FieldPanel("name"), FieldPanel("handle"),
                         FieldPanel("platform_user_id"), FieldPanel("active")],
                        heading="Account"),
        FieldPanel("config"),
        MultiFieldPanel([FieldPanel(FIELD.format(name)) for name in SECRETS]
                        + [FieldPanel("replace_credentials")],
                        heading="Secrets (encrypted; never shown again)"),
    ], base_form_class=BrandAccountForm)
