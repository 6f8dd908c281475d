from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self) -> None:
        # The tasks queue what services (and `advocates`) announce by signal.
        from rewards.tasks import receivers_connect

        receivers_connect()
