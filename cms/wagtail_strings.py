"""Wagtail's own admin words that its Japanese catalogue does not translate yet.

Marking them here puts them in Kansha's catalogue (locale/ja), which Django reads before
Wagtail's (LOCALE_PATHS comes first), so a Japanese admin does not show them in English.
Nothing imports this module; `makemessages` reads it. Drop an entry once Wagtail ships it.
(Words Wagtail's JavaScript shows, such as "Collapse all", come from its own JS catalogue.)
"""

from django.utils.translation import gettext_noop, ngettext_lazy

WAGTAIL_STRINGS_WITHOUT_JAPANESE = [
    gettext_noop("Help"),
    gettext_noop("Shortcuts"),
    gettext_noop("Search…"),
    gettext_noop("Search all pages…"),
    gettext_noop("New: %(model_name)s"),  # the breadcrumb of a new snippet
    # The dashboard's page count (wagtailadmin/home/site_summary_pages.html), as its template
    # writes the message.
    ngettext_lazy('%(total)s Page <span class="w-sr-only">created in %(site_name)s</span>',
                  '%(total)s Pages <span class="w-sr-only">created in %(site_name)s</span>',
                  "counter"),
]
