"""Wagtail's own admin words that its Japanese catalogue does not translate yet.

Marking them here puts them in Kansha's catalogue (locale/ja), which Django reads before
Wagtail's (LOCALE_PATHS comes first), so a Japanese admin does not show them in English.
Nothing imports this module; `makemessages` reads it. Drop an entry once Wagtail ships it.
"""

from django.utils.translation import gettext_noop

WAGTAIL_STRINGS_WITHOUT_JAPANESE = [
    gettext_noop("Help"),
    gettext_noop("Shortcuts"),
    gettext_noop("Search…"),
    gettext_noop("Search all pages…"),
    gettext_noop("Collapse all"),
    gettext_noop("Filters"),
]
