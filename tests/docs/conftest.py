"""The documentation tests need the ``docs`` extra (mkdocs, mktestdocs): skip without it."""
