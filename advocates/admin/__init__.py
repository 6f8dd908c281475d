"""Wagtail admin views of the advocates app (registered from advocates/wagtail_hooks.py)."""
