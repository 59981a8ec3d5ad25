"""``wsz_api.pyerp.external_api``: the drop-in for ``pyerp.external_api``."""
