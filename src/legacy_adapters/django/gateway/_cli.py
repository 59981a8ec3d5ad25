"""``legacy-api gateway``: serve the gateway with gunicorn, and ``gateway token create``.

Registered by ``cli.py`` without importing Django: the imports happen when a gateway
command runs. Both commands use ``$DJANGO_SETTINGS_MODULE`` when set (a project's own
settings), else the standalone settings; both first apply the gateway's migrations.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from typing import Any

from legacy_core.errors import ConfigurationError

__all__ = ["add_subcommand"]

STANDALONE = "legacy_adapters.django.gateway.settings"


def add_subcommand(sub: Any) -> None:
    """Add ``gateway [--port N] [--host H] [--workers W]`` and ``gateway token create``."""
    parser = sub.add_parser(
        "gateway", help="serve the REST gateway (gunicorn), or manage its consumers' tokens"
    )
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.set_defaults(handler=_serve)
    gateway_sub = parser.add_subparsers(dest="gateway_command", metavar="COMMAND")
    token = gateway_sub.add_parser("token", help="consumer tokens")
    token_sub = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    create = token_sub.add_parser("create", help="create a consumer; print its token once")
    create.add_argument("name", help="the consumer's name (unique)")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        help="env:Table:action (read, write, create, delete; '*' for any part); repeatable",
    )
    create.add_argument(
        "--fields",
        action="append",
        default=[],
        metavar="TABLE=F1,F2",
        help="only these fields of TABLE may be read, filtered, ordered by or written; repeatable",
    )
    create.set_defaults(handler=_token_create)


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", STANDALONE)
    if os.environ["DJANGO_SETTINGS_MODULE"] == STANDALONE:
        # Workers must share the key (cursors signed by one are read by another).
        os.environ.setdefault("LEGACY_API_GATEWAY_SECRET_KEY", secrets.token_urlsafe(48))
    try:
        import rest_framework  # noqa: F401, PLC0415

        import django  # noqa: PLC0415
    except ImportError as exc:
        msg = f"the gateway needs the 'gateway' extra (pip install 'legacy-api[gateway]'): {exc}"
        raise ConfigurationError(msg) from None
    django.setup()
    from django.core.management import call_command  # noqa: PLC0415

    call_command("migrate", "legacy_gateway", verbosity=0, interactive=False)


def _token_create(args: argparse.Namespace) -> int:
    _setup()
    from legacy_adapters.django.gateway.models import Consumer  # noqa: PLC0415

    if Consumer.objects.filter(name=args.name).exists():
        msg = f"consumer {args.name!r} exists already"
        raise ConfigurationError(msg)
    fields: dict[str, list[str]] = {}
    for item in args.fields:
        table, sep, names = item.partition("=")
        if not sep or not table.strip() or not names.strip():
            msg = f"--fields {item!r} is not TABLE=F1,F2"
            raise ConfigurationError(msg)
        fields[table.strip()] = [n.strip() for n in names.split(",") if n.strip()]
    consumer, token = Consumer.create_with_token(args.name, list(args.scope), fields)
    print(token)
    print(
        f"consumer {consumer.name!r} created with scopes {', '.join(consumer.scopes)}; "
        "the token is shown only this once",
        file=sys.stderr,
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.workers < 1 or not 0 <= args.port <= 65535:
        msg = f"--workers must be >= 1 and --port 0..65535, got {args.workers} and {args.port}"
        raise ConfigurationError(msg)
    _setup()
    try:
        import gunicorn  # noqa: F401, PLC0415
    except ImportError:
        msg = "the gateway needs gunicorn (pip install 'legacy-api[gateway]')"
        raise ConfigurationError(msg) from None
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{args.host}:{args.port}",
        "--workers", str(args.workers),
        "--access-logfile", "-",
        # the worker's pid in each line: operators (and the tests) see which worker answered
        "--access-logformat", '%(h)s "%(r)s" %(s)s %(b)s %(L)ss pid=%(p)s',
        "legacy_adapters.django.gateway.wsgi:application",
    ]  # fmt: skip
    sys.stdout.flush()
    # Replace this process: the gunicorn master gets the signals (SIGTERM stops it cleanly).
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter and fixed arguments
