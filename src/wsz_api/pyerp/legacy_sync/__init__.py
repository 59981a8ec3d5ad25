"""``wsz_api.pyerp.legacy_sync``: the drop-in for ``pyerp.legacy_sync``."""
