"""Rewards' own admin pages: the advocate profile (advocates and rewards together) and the
till. Registered from rewards/wagtail_hooks.py."""
