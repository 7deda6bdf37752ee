"""Target addresses: parsing, the loopback guard, and error keys."""

from __future__ import annotations

import pymysql
import pytest

from sharding.trace.target import (
    Endpoint,
    TargetError,
    connection_is_broken,
    error_key,
    is_loopback,
    parse_endpoint,
)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:3307", "127.0.0.1", 3307),
        ("localhost:1", "localhost", 1),
        ("[::1]:3306", "::1", 3306),
    ],
)
def test_parse_loopback_endpoints(text: str, host: str, port: int) -> None:
    ep = parse_endpoint(text, user="u", password="p", database="d")
    assert ep == Endpoint(host, port, "u", "p", "d")
    assert str(ep) == text.replace("localhost", "localhost")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1", "missing port"),
        (":3307", "missing host"),
        ("127.0.0.1:x", "not a number"),
        ("127.0.0.1:70000", "out of range"),
        ("10.0.0.5:3306", "not a loopback address"),
        ("[2001:db8::1]:3306", "not a loopback address"),
        ("db.invalid:3306", "not a loopback address"),
    ],
)
def test_bad_or_remote_endpoints_are_refused(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        parse_endpoint(text)


def test_allow_remote_lifts_the_guard() -> None:
    assert parse_endpoint("10.0.0.5:3306", allow_remote=True).host == "10.0.0.5"
    assert is_loopback("127.8.9.10") and not is_loopback("192.0.2.1")


def test_error_keys_and_broken_connections() -> None:
    syntax = pymysql.err.ProgrammingError(1064, "syntax")
    lost = pymysql.err.OperationalError(2013, "Lost connection")
    assert (error_key(syntax), connection_is_broken(syntax)) == ("1064", False)
    assert (error_key(lost), connection_is_broken(lost)) == ("2013", True)
    assert error_key(pymysql.err.OperationalError(3024, "max exec time")) == "3024"
    assert not connection_is_broken(pymysql.err.OperationalError(3024, "x"))
    assert connection_is_broken(pymysql.err.InterfaceError(0, "Not connected"))
    assert error_key(TimeoutError()) == "client-timeout"
    assert error_key(ConnectionResetError()) == "2013"
    assert error_key(RuntimeError("x")) == "RuntimeError" and connection_is_broken(RuntimeError())
