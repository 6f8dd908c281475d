from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from cms import views
from cms.admin_exports import safe_export_urls
from cms.api import api
from rewards.own_page import own_page_view
from rewards.webhooks import stripe_webhook

urlpatterns = [
    path("django-admin/", admin.site.urls),
    # Wagtail's own list exports, formula-safe: before Wagtail's admin, which they replace.
    *safe_export_urls(),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("api/v1/", api.urls),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    # For load balancers and orchestrators (docs/operations.md); public, no personal data.
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    # The advocate's own page, from the signed link in our DMs (public; the token is the key).
    path("me/<str:token>/", own_page_view, name="own-page"),
]

if settings.DEBUG:
    from django.conf.urls.static import static
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

urlpatterns += [path("", include("advocates.urls"))]  # platform webhooks
urlpatterns += [path("", include(wagtail_urls))]
