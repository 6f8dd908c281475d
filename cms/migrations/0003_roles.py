"""The staff roles: Social staff (the queue), Marketing (templates, settings, pages), Finance.

The permission lists are frozen here (not imported) so that re-running this migration on a
fresh database always grants the same thing. Later apps add theirs with `advocates.roles.group_grant`
from their own migrations (perks, tiers and rules to Marketing; reports to Finance).
"""

from django.db import migrations

from advocates.roles import FINANCE, MARKETING, SOCIAL_STAFF, group_grant, group_grant_pages

SOCIAL_STAFF_PERMISSIONS = [
    "wagtailadmin.access_admin",
    "advocates.view_outreach",
    "advocates.change_outreach",
    "advocates.view_mention",
    "advocates.view_advocate",
    "advocates.view_socialidentity",
    "advocates.view_sandboxpost",
]

MARKETING_PERMISSIONS = [
    "wagtailadmin.access_admin",
    "advocates.view_replytemplate",
    "advocates.add_replytemplate",
    "advocates.change_replytemplate",
    "advocates.publish_replytemplate",
    "advocates.lock_replytemplate",
    "advocates.unlock_replytemplate",
    "advocates.change_detectorsettings",
    "advocates.view_brandaccount",
    "advocates.view_sandboxpost",
    # Pages carry images and documents.
    "wagtailimages.add_image",
    "wagtailimages.change_image",
    "wagtaildocs.add_document",
    "wagtaildocs.change_document",
]

# Reports arrive with the rewards app; they add their view permissions to this group.
FINANCE_PERMISSIONS = [
    "wagtailadmin.access_admin",
]


def create_roles(apps, schema_editor):
    group_grant(apps, SOCIAL_STAFF, SOCIAL_STAFF_PERMISSIONS)
    group_grant(apps, MARKETING, MARKETING_PERMISSIONS)
    group_grant_pages(apps, MARKETING)
    group_grant(apps, FINANCE, FINANCE_PERMISSIONS)


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=[SOCIAL_STAFF, MARKETING, FINANCE]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("cms", "0002_create_homepage"),
        ("advocates", "0001_initial"),
        ("wagtailadmin", "0003_admin_managed"),
        ("wagtailcore", "0098_apitoken"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("wagtailimages", "0027_image_description"),
        ("wagtaildocs", "0014_alter_document_file_size"),
    ]

    operations = [
        migrations.RunPython(create_roles, delete_roles),
    ]
