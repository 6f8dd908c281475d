"""Dual control by person (issue 16): every money change goes live only after a finance
approver who did not make it, superusers included.

- The "Reward rule approval" workflow becomes "Money change approval" and covers reward rules,
  tiers and perks. Its one task, "Finance sign-off", becomes a `FinanceApprovalTask`
  (rewards.models): a group approval by Finance that refuses the change's makers. Changes
  waiting in the old task move to the new one.
- Publishing tiers and perks moves to Finance (Wagtail publishes as the approver), as
  publishing rules did in 0006; nobody publishes them from the editor (rewards/wagtail_hooks.py).
- Points settings changes and manual points adjustments (rewards 0015): Marketing makes them,
  Finance approves them (`change_*`), both read them.

Idempotent; backwards puts the group approval task back and the permissions where they were.
"""

from django.db import migrations

from advocates.roles import FINANCE, MARKETING, group_grant

OLD_WORKFLOW = "Reward rule approval"
WORKFLOW = "Money change approval"
TASK = "Finance sign-off"
MODELS = ("rewardrule", "tier", "perk")
MOVED = ("rewards.publish_tier", "rewards.publish_perk")


def _remove(apps, group_name, codenames, model):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=group_name).first()
    if group is not None:
        group.permissions.remove(*Permission.objects.filter(
            content_type__app_label="rewards", content_type__model=model,
            codename__in=codenames))


def forwards(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Group = apps.get_model("auth", "Group")
    Task = apps.get_model("wagtailcore", "Task")
    TaskState = apps.get_model("wagtailcore", "TaskState")
    Workflow = apps.get_model("wagtailcore", "Workflow")
    WorkflowTask = apps.get_model("wagtailcore", "WorkflowTask")
    WorkflowContentType = apps.get_model("wagtailcore", "WorkflowContentType")
    FinanceApprovalTask = apps.get_model("rewards", "FinanceApprovalTask")

    finance, _ = Group.objects.get_or_create(name=FINANCE)
    workflow = (Workflow.objects.filter(name=WORKFLOW).first()
                or Workflow.objects.filter(name=OLD_WORKFLOW).first()
                or Workflow.objects.create(name=WORKFLOW, active=True))
    workflow.name = WORKFLOW
    workflow.save(update_fields=["name"])

    task_type, _ = ContentType.objects.get_or_create(app_label="rewards",
                                                     model="financeapprovaltask")
    task = FinanceApprovalTask.objects.filter(name=TASK).first()
    if task is None:
        task = FinanceApprovalTask.objects.create(name=TASK, content_type=task_type, active=True)
    task.groups.add(finance)
    for old in Task.objects.filter(workflow_tasks__workflow=workflow).exclude(pk=task.pk):
        TaskState.objects.filter(task=old).update(task=task)
        WorkflowTask.objects.filter(workflow=workflow, task=old).delete()
        old.active = False
        old.save(update_fields=["active"])
    WorkflowTask.objects.get_or_create(workflow=workflow, task=task, defaults={"sort_order": 0})

    for model in MODELS:
        content_type, _ = ContentType.objects.get_or_create(app_label="rewards", model=model)
        WorkflowContentType.objects.update_or_create(content_type=content_type,
                                                     defaults={"workflow": workflow})

    group_grant(apps, FINANCE, [*MOVED, "rewards.view_tier",
                                "rewards.view_pointsadjustment",
                                "rewards.change_pointsadjustment",
                                "rewards.view_pointssettingschange",
                                "rewards.change_pointssettingschange"])
    group_grant(apps, MARKETING, ["rewards.add_pointsadjustment",
                                  "rewards.view_pointsadjustment",
                                  "rewards.view_pointssettingschange"])
    _remove(apps, MARKETING, ["publish_perk"], "perk")
    _remove(apps, MARKETING, ["publish_tier"], "tier")


def backwards(apps, schema_editor):
    GroupApprovalTask = apps.get_model("wagtailcore", "GroupApprovalTask")
    Workflow = apps.get_model("wagtailcore", "Workflow")
    WorkflowTask = apps.get_model("wagtailcore", "WorkflowTask")
    WorkflowContentType = apps.get_model("wagtailcore", "WorkflowContentType")
    workflow = Workflow.objects.filter(name=WORKFLOW).first()
    if workflow is None:
        return
    WorkflowContentType.objects.filter(workflow=workflow,
                                       content_type__model__in=["tier", "perk"],
                                       content_type__app_label="rewards").delete()
    old = GroupApprovalTask.objects.filter(name=TASK).first()
    if old is not None:
        WorkflowTask.objects.filter(workflow=workflow).delete()
        WorkflowTask.objects.create(workflow=workflow, task=old, sort_order=0)
        old.active = True
        old.save(update_fields=["active"])
    workflow.name = OLD_WORKFLOW
    workflow.save(update_fields=["name"])
    group_grant(apps, MARKETING, list(MOVED))
    _remove(apps, FINANCE, ["publish_perk"], "perk")
    _remove(apps, FINANCE, ["publish_tier"], "tier")


class Migration(migrations.Migration):

    dependencies = [
        ("cms", "0008_finance_reads_reconciliation"),
        ("rewards", "0015_dual_control"),
        ("wagtailcore", "0098_apitoken"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
