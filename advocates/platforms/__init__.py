"""One client module per social network: pure adapters behind the protocols in `base`.

`registry.CLIENTS` lists them; the services build a client for a connected `BrandAccount` with
`advocates.services.platforms.brand_account_client`. What each platform allows is its
`PlatformPolicy` (`advocates/policies.py`).
"""
