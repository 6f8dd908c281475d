from django.apps import AppConfig


class AdvocatesConfig(AppConfig):
    name = "advocates"
    verbose_name = "Advocates"

    def ready(self) -> None:
        # Entry points plug into the layers below them here, once every model is loaded.
        from advocates.pages import public_page_views_register
        from advocates.tasks import receivers_connect

        public_page_views_register()
        receivers_connect()
