"""``manage.py legacy_api_session show|refresh``: inspect or renew the shared 4D sessions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from legacy_core.errors import LegacyError

__all__ = ["Command"]


def _when(epoch: float) -> str:
    if epoch in (float("inf"), 0.0):
        return "-"
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat(timespec="seconds")


class Command(BaseCommand):
    """Show the stored shared sessions (never their values) or replace one by a new login."""

    help = (
        "Show the shared 4D sessions (without their values) or refresh one "
        "(one new login; the old session is logged out)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare ``show`` and ``refresh``."""
        parser.add_argument("action", choices=("show", "refresh"))
        parser.add_argument("--env", help="only this environment (refresh: default environment)")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the action."""
        from legacy_adapters.django._client import get_client, session_provider  # noqa: PLC0415

        try:
            client = get_client()
            provider = session_provider(client)
            if options["action"] == "show":
                names = [options["env"]] if options["env"] else sorted(client.environments)
                for name in names:
                    self._show(name, client.environments.get(name), provider)
            else:
                self._refresh(options["env"] or client.default_environment, client, provider)
        except LegacyError as exc:
            raise CommandError(str(exc).splitlines()[0]) from exc

    def _show(self, name: str, environment: Any, provider: Any) -> None:
        if environment is None:
            msg = f"unknown environment {name!r}"
            raise CommandError(msg)
        session = provider.peek(environment)
        if session is None:
            self.stdout.write(f"{name}\t{environment.base_url}\tno shared session stored")
            return
        self.stdout.write(
            f"{name}\t{environment.base_url}\tcookie={session.cookie_name}=***"
            f"\tgeneration={session.generation}\tlifetime={session.lifetime:g}s"
            f"\tobtained={_when(session.obtained_at)}\tlast_used={_when(session.last_used)}"
            f"\tidle_expiry={_when(session.expires_at)}"
        )

    def _refresh(self, name: str, client: Any, provider: Any) -> None:
        environment = client.environments.get(name)
        if environment is None:
            msg = f"unknown environment {name!r}"
            raise CommandError(msg)
        # One new login, stored under the lock; the replaced session is logged out so it
        # does not hold a second licence until it idles out (ADR 0012).
        session = provider.refresh(environment)
        self.stdout.write(
            f"{name}\t{environment.base_url}\trefreshed: cookie={session.cookie_name}=***"
            f"\tgeneration={session.generation}"
        )
