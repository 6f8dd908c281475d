"""Public (non-admin, non-API) URLs of the advocates app: platform webhooks."""

from django.urls import path

from advocates.webhooks import platform_webhook

app_name = "advocates"

urlpatterns = [
    path("webhooks/<str:platform>/<int:account_id>/", platform_webhook, name="platform-webhook"),
]
