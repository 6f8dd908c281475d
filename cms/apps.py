import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("kansha")


class CmsConfig(AppConfig):
    name = "cms"
    verbose_name = "Kansha site"

    def ready(self) -> None:
        db = settings.DATABASES["default"]
        if settings.CELERY_TASK_ALWAYS_EAGER:
            tasks = "tasks run in-process (eager; set REDIS_URL for real workers)"
        else:
            broker = "RabbitMQ" if settings.CELERY_BROKER_URL.startswith("amqp") else "Redis"
            tasks = f"tasks go to Celery workers via {broker}"
        logger.info("Kansha: database %s (%s); %s.", db["ENGINE"].rsplit(".", 1)[-1],
                    db.get("NAME"), tasks)
