"""The HTTP API (django-ninja): each app contributes its router; the schema is at /api/v1/docs."""

from ninja import NinjaAPI

from advocates.api import router as advocates_router
from advocates.api import validation_error_handler
from rewards.api import router as rewards_router

api = NinjaAPI(title="Kansha API", version="1", urls_namespace="api-v1")
api.add_router("/", advocates_router)
api.add_router("/rewards/", rewards_router)
api.add_exception_handler(*validation_error_handler)
