"""A griffe extension: the docstrings' Sphinx roles (``:class:`~x.Y```) as cross-references.

The code's docstrings use reST roles for ``help()`` readers; Markdown would show them as
text. Each role becomes an optional autorefs link to its target, resolved against the
object's module when it is not dotted: a link where the target is documented on the
site, plain code where it is not (optional links never fail the strict build).
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_ROLE = re.compile(r":(?:class|meth|func|data|attr|exc|mod):`(~?)([\w.]+)`")


def _module_path(obj: Object) -> str:
    return obj.module.path if obj.module is not None else ""


class SphinxRoles(Extension):
    """Rewrite roles when griffe loads an object's docstring."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        """Replace the roles of ``obj``'s docstring by optional autorefs."""
        docstring = obj.docstring
        if docstring is None or ":" not in docstring.value:
            return
        module = _module_path(obj)
        owner = obj.parent.path if obj.is_function and obj.parent is not None else module

        def link(match: re.Match[str]) -> str:
            short, target = match.group(1) == "~", match.group(2)
            text = target.rsplit(".", 1)[-1] if short else target
            if not target.startswith(("legacy_", "fourd_", "wsz_api")):
                base = owner if "." not in target else module
                target = f"{base}.{target}"
            return f'<autoref identifier="{target}" optional><code>{text}</code></autoref>'

        docstring.value = _ROLE.sub(link, docstring.value)
