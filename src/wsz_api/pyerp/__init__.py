"""Drop-ins for pyERP's second-generation clients, at pyERP's module paths under ``wsz_api.pyerp``.

pyERP replaces the ``pyerp.`` prefix of two imports with ``wsz_api.pyerp.``:
``wsz_api.pyerp.legacy_sync.api_client`` (``LegacyAPIClient``, the singleton ``api_client``)
and ``wsz_api.pyerp.external_api.legacy_erp`` (``LegacyERPClient``). See docs/migration.md
and ADR 0017. Importing does no I/O.
"""
