"""Reward rules go live through a publish workflow: marketing submits, finance signs off.

A rule decides what Kansha gives away and how much it may spend in a month, so publishing one
is a money decision: the "Reward rule approval" workflow has one task, a group approval by
Finance. `publish_rewardrule` moves from Marketing to Finance: marketing saves drafts and
submits; finance's approval publishes the submitted revision (Wagtail publishes as the
approver, so the approver needs the permission). Finance cannot edit rules: Wagtail opens the
editor to an approver only while a task waits for them. Marketing can still stop a live rule
at once (rewards/wagtail_hooks.py lets whoever may change rules unpublish them): stopping
spend never waits for anyone.

Idempotent (found by name; a workflow already assigned to reward rules is left alone), and
reversible: backwards removes the assignment and moves the permission back.
"""

from django.db import migrations

from advocates.roles import FINANCE, MARKETING, group_grant

WORKFLOW = "Reward rule approval"
TASK = "Finance sign-off"
PUBLISH = "publish_rewardrule"


def forwards(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    GroupApprovalTask = apps.get_model("wagtailcore", "GroupApprovalTask")
    Workflow = apps.get_model("wagtailcore", "Workflow")
    WorkflowTask = apps.get_model("wagtailcore", "WorkflowTask")
    WorkflowContentType = apps.get_model("wagtailcore", "WorkflowContentType")

    finance, _ = Group.objects.get_or_create(name=FINANCE)
    rule_type, _ = ContentType.objects.get_or_create(app_label="rewards", model="rewardrule")
    # Task rows are polymorphic: content_type names the specific class (as Wagtail's own
    # 0048_add_default_workflows does with the historical models).
    task_type, _ = ContentType.objects.get_or_create(app_label="wagtailcore",
                                                     model="groupapprovaltask")
    task, _ = GroupApprovalTask.objects.get_or_create(
        name=TASK, defaults={"content_type": task_type, "active": True})
    task.groups.add(finance)
    workflow, _ = Workflow.objects.get_or_create(name=WORKFLOW, defaults={"active": True})
    WorkflowTask.objects.get_or_create(workflow=workflow, task=task,
                                       defaults={"sort_order": 0})
    WorkflowContentType.objects.get_or_create(content_type=rule_type,
                                              defaults={"workflow": workflow})

    group_grant(apps, FINANCE, [f"rewards.{PUBLISH}"])
    marketing = Group.objects.filter(name=MARKETING).first()
    if marketing is not None:
        marketing.permissions.remove(*Permission.objects.filter(
            content_type=rule_type, codename=PUBLISH))


def backwards(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    WorkflowContentType = apps.get_model("wagtailcore", "WorkflowContentType")
    rule_type = ContentType.objects.filter(app_label="rewards", model="rewardrule").first()
    if rule_type is not None:
        WorkflowContentType.objects.filter(content_type=rule_type,
                                           workflow__name=WORKFLOW).delete()
    group_grant(apps, MARKETING, [f"rewards.{PUBLISH}"])
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    finance = Group.objects.filter(name=FINANCE).first()
    if finance is not None and rule_type is not None:
        finance.permissions.remove(*Permission.objects.filter(
            content_type=rule_type, codename=PUBLISH))


class Migration(migrations.Migration):

    dependencies = [
        ("cms", "0005_ambassador_pages"),
        ("cms", "0003_roles"),
        # After the rewards roles were granted (it gave Marketing publish_rewardrule).
        ("rewards", "0004_role_permissions"),
        ("wagtailcore", "0098_apitoken"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
