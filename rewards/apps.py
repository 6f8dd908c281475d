from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self) -> None:
        from advocates.signals import advocacy_recorded

        advocacy_recorded.connect(_process_new_events, dispatch_uid="rewards.events_process")


def _process_new_events(sender, **kwargs) -> None:
    """New advocacy was committed: process it now rather than at the next sweep (10 s).

    The ledger takes one batch at a time; a task that finds it busy does nothing, and the
    sweep (rewards.tasks.events_sweep) picks up whatever a running batch did not claim.
    """
    from rewards import tasks

    tasks.events_process.delay()
