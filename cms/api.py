"""The HTTP API (django-ninja): each app contributes its router; the schema is at /api/v1/docs."""

from ninja import NinjaAPI
from ninja.errors import ValidationError

from advocates.api import router as advocates_router
from advocates.api import validation_error_response
from rewards.api import router as rewards_router

api = NinjaAPI(title="Kansha API", version="1", urls_namespace="api-v1")
api.add_router("/", advocates_router)
api.add_router("/rewards/", rewards_router)
# django-ninja types the handler's second argument as "the exception or its class".
api.add_exception_handler(ValidationError, validation_error_response)  # type: ignore[arg-type]
