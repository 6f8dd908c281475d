"""Settings › Detector models: the brand's trained models, what they learned from, and the
buttons to retrain now, make a stored model live, or go back to the shipped base model.

Each stored model shows how it compared with the model that was live when it was trained,
on the newest decisions held back from its training (`figures`, written by
`services.learning.detector_retrain`). Views are thin: each POST calls one service and answers
with a message. Needs `advocates.change_detectorsettings` (marketing, admins); 403 otherwise.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST
from wagtail.admin import messages

from advocates import selectors
from advocates.admin.queue import permission_required
from advocates.detection.model import ModelFileError, base_versions
from advocates.models import DetectorModelStatus, DetectorModelVersion, DetectorSettings
from advocates.services.learning import (
    RetrainError,
    detector_model_activate,
    detector_retrain,
    detector_rollback_to_base,
)

PERMISSION = "advocates.change_detectorsettings"

# The figures each model shows, from `Figures.as_dict()`: (key, column heading, as a percent).
FIGURES = [
    ("precision", _("Precision"), False),
    ("recall", _("Recall"), False),
    ("neg_thanked", _("Care thanked"), True),
    ("macro_f1", _("Macro-F1"), False),
]


_permitted = permission_required(PERMISSION)


def _figure(value: Any, percent: bool) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"{value:.1%}" if percent else f"{value:.2f}"


def _model_row(model: DetectorModelVersion) -> dict[str, Any]:
    """A stored model as the template shows it: its own figures beside the live model's."""
    figures = model.figures or {}
    candidate, live = figures.get("candidate") or {}, figures.get("live") or {}
    return {
        "model": model,
        "live": model.status == DetectorModelStatus.LIVE,
        "figures": [{"label": label, "candidate": _figure(candidate.get(key), percent),
                     "live": _figure(live.get(key), percent)}
                    for key, label, percent in FIGURES],
        "compared_with": figures.get("live_version", ""),
        "held_back": figures.get("held_back"),
    }


@require_GET
@_permitted
def detector_models(request: HttpRequest) -> HttpResponse:
    models = [_model_row(model) for model in selectors.detector_model_versions()]
    bases = base_versions()
    return TemplateResponse(request, "advocates/admin/detector_models.html", {
        "page_title": _("Detector models"),
        "header_icon": "cogs",
        "models": models,
        "base_version": bases[-1] if bases else "",
        "base_live": not any(row["live"] for row in models),
        "figure_labels": [label for _key, label, _percent in FIGURES],
        "examples": selectors.detector_example_counts(),
        "retrain_nightly": DetectorSettings.load(request_or_site=request).retrain_nightly,
    })


def _back() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("kansha_detector:models"))


@require_POST
@_permitted
def detector_retrain_view(request: HttpRequest) -> HttpResponse:
    """Train a candidate now and make it live if it does better (synchronous: a few seconds
    to a minute, depending on how many decisions there are)."""
    try:
        result = detector_retrain(promote=True, user=request.user)
    except (RetrainError, ModelFileError) as exc:
        messages.error(request, _("Not retrained: %(error)s.") % {"error": str(exc).rstrip(".")})
        return _back()
    version = result.candidate.version
    held_back = result.figures.get("held_back", 0)
    if result.promoted:
        messages.success(request, _("Trained %(version)s: it did better than the live model on "
                                    "the newest %(n)s decisions and is live now.") % {
            "version": version, "n": held_back})
    else:
        messages.warning(request, _("Trained %(version)s: it did not do better than the live "
                                    "model on the newest %(n)s decisions, so the live model "
                                    "stays.") % {"version": version, "n": held_back})
    return _back()


@require_POST
@_permitted
def detector_activate_view(request: HttpRequest) -> HttpResponse:
    version = request.POST.get("version", "")
    try:
        model = detector_model_activate(version=version, user=request.user)
    except ValidationError as exc:
        messages.error(request, _("Not done: %(error)s.") % {"error": "; ".join(exc.messages)})
        return _back()
    messages.success(request, _("%(version)s is live: new mentions are detected with it.")
                     % {"version": model.version})
    return _back()


@require_POST
@_permitted
def detector_rollback_view(request: HttpRequest) -> HttpResponse:
    retired = detector_rollback_to_base(user=request.user)
    if retired:
        messages.success(request, _("Rolled back: the shipped base model decides again."))
    else:
        messages.info(request, _("The shipped base model was already live."))
    return _back()


urlpatterns = [
    path("", detector_models, name="models"),
    path("retrain/", detector_retrain_view, name="retrain"),
    path("activate/", detector_activate_view, name="activate"),
    path("rollback/", detector_rollback_view, name="rollback"),
]


def admin_urls():
    return [path("detector-models/", include((urlpatterns, "kansha_detector"),
                                             namespace="kansha_detector"))]
