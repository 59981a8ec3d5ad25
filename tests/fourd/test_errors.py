"""The mapping of 4D answers to core errors, one answer at a time (pure, no sockets)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legacy_adapters.fourd import HttpRequest, HttpResponse
from legacy_adapters.fourd._errors import (
    CODE_CATEGORIES,
    body_error,
    parse_json,
    raise_for_response,
)
from legacy_core.errors import (
    AuthenticationFailed,
    EntitySetExpired,
    InvalidQuery,
    LegacyError,
    LicenceExhausted,
    ProtocolError,
    RecordNotFound,
    ServerBusy,
    ServerError,
    SessionExpired,
    StampConflict,
    UnknownTable,
    WriteRejected,
)

REQUEST = HttpRequest(
    "GET",
    "http://h:1/rest/Artikel",
    (),
    {"Cookie": "WASID4D=COOKIEVALUE123", "X-Request-ID": "rid42"},
    None,
    "live",
)


def errors(*codes: int) -> dict[str, Any]:
    return {
        "__ERROR": [{"errCode": c, "message": f"m{c}", "componentSignature": "dbmg"} for c in codes]
    }


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> HttpResponse:
    raw = body if isinstance(body, bytes) else orjson.dumps(body) if body is not None else b""
    return HttpResponse(status, headers or {}, raw)


def mapped(
    status: int,
    body: Any = None,
    *,
    context: Any = "collection",
    sent_cookie: bool = True,
    **kw: Any,
) -> LegacyError:
    with pytest.raises(LegacyError) as info:
        raise_for_response(
            REQUEST,
            answer(status, body, **kw),
            table="Artikel",
            context=context,
            sent_cookie=sent_cookie,
        )
    return info.value


ERROR_ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "errCode": st.one_of(
            st.integers(-5, 2000),
            st.sampled_from([1800, 1802, 1823, 1263, 1203]),
            st.text(max_size=4),
            st.none(),
        ),
        "message": st.one_of(st.text(max_size=20), st.integers(-5, 5)),
        "componentSignature": st.text(max_size=5),
    },
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=6,
)
BODY_DICTS = st.fixed_dictionaries(
    {},
    optional={
        "__ERROR": st.one_of(st.lists(ERROR_ENTRY, max_size=3), ERROR_ENTRY, JSONISH),
        "__STATUS": st.one_of(
            st.fixed_dictionaries({"success": st.booleans(), "status": st.integers(0, 5)}), JSONISH
        ),
        "__KEY": JSONISH,
        "__STAMP": JSONISH,
        "__ENTITIES": JSONISH,
    },
)
BODIES = st.one_of(st.binary(max_size=64), BODY_DICTS.map(orjson.dumps), JSONISH.map(orjson.dumps))
CONTEXTS = st.sampled_from(["collection", "entity", "entityset", "catalog", "write", "info"])


class TestStatusMapping:
    @pytest.mark.parametrize(
        ("status", "body", "context", "expected"),
        [
            (401, None, "collection", SessionExpired),
            (402, errors(1823), "collection", LicenceExhausted),
            (404, errors(1801), "collection", UnknownTable),
            (404, None, "collection", UnknownTable),
            (404, errors(1800), "entity", RecordNotFound),
            (404, errors(1801), "entity", UnknownTable),
            (404, None, "entity", RecordNotFound),
            (404, errors(1802), "entityset", EntitySetExpired),
            (404, None, "entityset", EntitySetExpired),
            (500, errors(1203, 1200, 1500), "collection", InvalidQuery),
            (500, errors(1279), "collection", InvalidQuery),
            (500, errors(1500), "collection", ServerError),
            (500, b"<html>oops</html>", "collection", ServerError),
            (503, None, "collection", ServerBusy),
            (400, None, "collection", InvalidQuery),
        ],
    )
    def test_category(
        self, status: int, body: Any, context: Any, expected: type[LegacyError]
    ) -> None:
        """Each status (and 4D code) maps to its error category."""
        assert expected is type(mapped(status, body, context=context))

    def test_404_is_never_session_expiry(self) -> None:
        """A 404 is a lookup error, never an authentication error that would trigger a login."""
        assert not isinstance(mapped(404, errors(1801)), AuthenticationFailed)

    def test_401_without_cookie_is_bad_credentials(self) -> None:
        """A 401 to the login (no cookie sent) means the credentials were refused."""
        err = mapped(401, None, context="login", sent_cookie=False)
        assert AuthenticationFailed is type(err)

    def test_not_applied_flags(self) -> None:
        """401, 402 and 503 were certainly not applied; a 500 may have been."""
        flags = [mapped(s, None).not_applied for s in (401, 402, 503, 500)]
        assert [True, True, True, False] == flags

    def test_context_in_error(self) -> None:
        """Errors name environment, table, status, request id, method, path and 4D codes."""
        err = mapped(500, errors(1203, 1500))
        assert ("live", "Artikel", 500, "rid42", "GET", "/rest/Artikel", (1203, 1500)) == (
            err.environment,
            err.table,
            err.status,
            err.request_id,
            err.method,
            err.path,
            err.codes,
        )
        for part in ("live", "Artikel", "500", "rid42", "1203"):
            assert part in str(err)

    @pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("0", 0.0), ("soon", None)])
    def test_retry_after(self, header: str, expected: float | None) -> None:
        """503 carries the server's Retry-After in seconds when it is readable."""
        assert expected == mapped(503, None, headers={"retry-after": header}).retry_after

    def test_secrets_never_in_message(self) -> None:
        """Session ids in a body and the cookie value are masked in the error text."""
        body = {
            "sessionInfo": [{"sessionID": "ABCDEF0123456789"}],
            "x": "COOKIEVALUE123",
            **errors(1500),
        }
        with pytest.raises(LegacyError) as info:
            raise_for_response(
                REQUEST,
                answer(500, body),
                table="T",
                context="info",
                sent_cookie=True,
                secrets=("COOKIEVALUE123",),
            )
        assert "ABCDEF0123456789" not in str(info.value)
        assert "COOKIEVALUE123" not in str(info.value)

    def test_2xx_passes(self) -> None:
        """A 2xx answer raises nothing."""
        raise_for_response(
            REQUEST, answer(200, {}), table="T", context="collection", sent_cookie=True
        )


class TestBodyErrors:
    def test_error_inside_200(self) -> None:
        """An __ERROR inside a 200 answer is raised by its codes."""
        err = body_error(
            errors(1203), REQUEST, answer(200, errors(1203)), table="T", context="collection"
        )
        assert InvalidQuery is type(err)

    def test_stale_stamp_inside_200(self) -> None:
        """A failed __STATUS for a stale stamp becomes StampConflict with the current values."""
        body = {
            "__KEY": "K1",
            "__STAMP": 9,
            "Name": "now",
            "__STATUS": {"status": 2, "statusText": "Stamp has changed", "success": False},
            **errors(1263, 1046, 1517),
        }
        err = body_error(body, REQUEST, answer(200, body), table="T", context="write")
        assert isinstance(err, StampConflict)
        assert ("K1", 9, "now") == (err.key, err.current_stamp, err.current["Name"])

    def test_other_failed_status(self) -> None:
        """Any other failed __STATUS is a WriteRejected."""
        body = {"__KEY": "K1", "__STATUS": {"status": 5, "statusText": "locked", "success": False}}
        err = body_error(body, REQUEST, answer(200, body), table="T", context="write")
        assert WriteRejected is type(err)

    def test_stale_stamp_under_any_status(self) -> None:
        """The stale-stamp body decides, whatever HTTP status carries it."""
        body = {"__KEY": "K", "__STATUS": {"status": 2, "success": False}, **errors(1263)}
        assert StampConflict is type(mapped(409, body, context="write"))

    def test_clean_body(self) -> None:
        """A body without errors yields no error."""
        assert None is body_error(
            {"__COUNT": 1}, REQUEST, answer(200, {}), table="T", context="collection"
        )


class TestParseJson:
    @pytest.mark.parametrize("raw", [b"", b"<html>", b'{"__COUNT": 1, "__ENT', b"\xff\xfe"])
    def test_unreadable_is_protocol_error(self, raw: bytes) -> None:
        """A non-JSON or truncated body is a ProtocolError, transient on GET."""
        with pytest.raises(ProtocolError) as info:
            parse_json(answer(200, raw), REQUEST, table="T", secrets=())
        assert (True, 200, "rid42") == (
            info.value.transient,
            info.value.status,
            info.value.request_id,
        )

    @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(BODIES, st.integers(100, 599), CONTEXTS)
    def test_any_answer_maps_to_a_legacy_error(self, raw: bytes, status: int, context: Any) -> None:
        """Whatever status and bytes arrive, the result is data or a LegacyError, nothing else."""
        response = HttpResponse(status, {"retry-after": "x"}, raw)
        try:
            raise_for_response(REQUEST, response, table="T", context=context, sent_cookie=True)
            data = parse_json(response, REQUEST, table="T", secrets=())
            body_error(data, REQUEST, response, table="T", context=context)
        except LegacyError as err:
            text = str(err)
        else:
            text = ""
        assert "COOKIEVALUE123" not in text


class TestCodeTable:
    REQUIRED = (1046, 1112, 1162, *range(1200, 1205), 1263, 1279, 1280, 1500, 1517, 1542)
    REQUIRED += (1800, 1801, 1802, 1804, 1808, 1809, 1822, 1823)

    def test_required_codes_are_mapped(self) -> None:
        """The one code table names a category for every code the issue lists."""
        assert set(self.REQUIRED) <= set(CODE_CATEGORIES)

    @pytest.mark.parametrize(
        ("codes", "expected"),
        [
            ((1542,), RecordNotFound),
            ((1500, 1804), InvalidQuery),
            ((1801,), UnknownTable),
            ((1822,), AuthenticationFailed),
            ((1823,), LicenceExhausted),
            ((1263, 1046, 1517), StampConflict),
            ((1517,), WriteRejected),
            ((1802,), EntitySetExpired),
        ],
    )
    @pytest.mark.parametrize("status", [404, 500, 409])
    def test_code_decides_over_status(
        self, codes: tuple[int, ...], expected: type[LegacyError], status: int
    ) -> None:
        """Whatever the (rarely published) status, the 4D code picks the category."""
        err = mapped(status, errors(*codes), context="collection")
        assert expected is type(err)
        assert codes == err.codes

    @pytest.mark.parametrize(
        ("status", "context", "expected"),
        [
            (404, "collection", UnknownTable),
            (404, "entity", RecordNotFound),
            (404, "entityset", EntitySetExpired),
            (500, "collection", ServerError),
            (400, "collection", InvalidQuery),
        ],
    )
    def test_unknown_codes_keep_the_status_mapping(
        self, status: int, context: Any, expected: type[LegacyError]
    ) -> None:
        """A code the table does not know leaves the status to decide, and is carried along."""
        err = mapped(status, errors(4711, 9), context=context)
        assert expected is type(err)
        assert (4711, 9) == err.codes
        assert "4D errors=4711,9" in str(err)

    def test_failed_status_without_success_is_a_failure(self) -> None:
        """``{"status": 3, "statusText": "Already Locked"}`` is a failure at HTTP 200."""
        body = {"result": False, "__STATUS": {"status": 3, "statusText": "Already Locked"}}
        err = body_error(body, REQUEST, answer(200, body), table="Artikel", context="write")
        assert isinstance(err, WriteRejected)
        assert "Already Locked" in str(err)
        ok = {"__STATUS": {"success": True}, "__KEY": "1"}
        assert body_error(ok, REQUEST, answer(200, ok), table="Artikel", context="write") is None
