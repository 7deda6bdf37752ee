"""Config parsing: defaults, unknown keys and bad values rejected with the data source name."""

from __future__ import annotations

import pytest

from sharding.backend.mysql import MySQLConfig, MySQLDataSource, map_error, quote_ident
from sharding.backend.url import parse_mysql_url
from sharding.errors import BackendError, DataSourceUnavailable, QueryTimeout


def test_defaults_match_the_issue() -> None:
    cfg = MySQLConfig.from_mapping("ds0", {"url": "mysql://root:@127.0.0.1:3306", "kind": "mysql"})
    assert (cfg.max_connections, cfg.min_idle, cfg.acquire_timeout) == (32, 0, 2.0)
    assert (cfg.validate_after, cfg.validation_timeout) == (0.5, 1.0)
    assert (cfg.max_lifetime, cfg.idle_timeout, cfg.query_timeout) == (1800.0, 600.0, None)
    assert (cfg.driver, cfg.bridge, cfg.breaker_threshold) == ("aiomysql", "thread", 3)


def test_unknown_key_rejected_clearly() -> None:
    with pytest.raises(ValueError, match=r"data source 'ds1': unknown key\(s\) max_conections"):
        MySQLConfig.from_mapping("ds1", {"url": "mysql://h", "max_conections": 3})


@pytest.mark.parametrize(
    ("key", "value", "msg"),
    [
        ("max_connections", 0, "max_connections must be >= 1"),
        ("max_connections", "8", "max_connections must be an integer"),
        ("min_idle", 99, "min_idle must be between"),
        ("acquire_timeout", 0, "acquire_timeout must be > 0"),
        ("validation_timeout", -1, "validation_timeout must be > 0"),
        ("query_timeout", float("nan"), "query_timeout must be a number"),
        ("driver", "mysqlclient", "driver must be one of"),
        ("bridge", "gevent", "bridge must be"),
        ("breaker_threshold", 0, "breaker_threshold must be >= 1"),
        ("url", "postgres://h", "scheme must be one of"),
        ("url", "mysql://h:notaport", "bad port"),
    ],
)
def test_bad_values_rejected(key: str, value: object, msg: str) -> None:
    mapping = {"url": "mysql://u:secret@h:3306", key: value}
    with pytest.raises(ValueError, match=msg) as info:
        MySQLDataSource.from_config("dsX", mapping)
    assert "dsX" in str(info.value)
    assert "secret" not in str(info.value)


def test_missing_url_and_wrong_kind() -> None:
    with pytest.raises(ValueError, match="'url' is required"):
        MySQLConfig.from_mapping("a", {})
    with pytest.raises(ValueError, match="kind must be 'mysql'"):
        MySQLConfig.from_mapping("a", {"url": "mysql://h", "kind": "sqlite"})


def test_url_parsing() -> None:
    u = parse_mysql_url("mysql://app:p%40ss@db.example:3307/shop")
    assert (u.host, u.port, u.user, u.password, u.database) == (
        "db.example",
        3307,
        "app",
        "p@ss",
        "shop",
    )
    assert "p@ss" not in u.masked() and "***" in u.masked()
    assert parse_mysql_url("mariadb://127.0.0.1").port == 3306
    with pytest.raises(ValueError, match="unknown option"):
        parse_mysql_url("mysql://h/?ssl=1")


def test_error_mapping() -> None:
    import pymysql

    err = map_error("ds7", pymysql.err.ProgrammingError(1146, "Table 'x.t' doesn't exist"))
    assert isinstance(err, BackendError) and err.code == 1146 and err.sqlstate == "42S02"
    assert str(err) == "Table 'x.t' doesn't exist" and err.datasource == "ds7"
    lost = map_error("ds7", pymysql.err.OperationalError(2013, "Lost connection"))
    assert isinstance(lost, DataSourceUnavailable) and "ds7" in str(lost)
    assert isinstance(
        map_error("ds7", pymysql.err.OperationalError(1969, "max_statement_time")), QueryTimeout
    )
    assert isinstance(map_error("ds7", ConnectionResetError()), DataSourceUnavailable)


def test_quote_ident() -> None:
    assert quote_ident("shard_0001") == "`shard_0001`"
    assert quote_ident("a`b") == "`a``b`"
    with pytest.raises(ValueError):
        quote_ident("")


def test_topology_hook_builds_a_validated_datasource() -> None:
    from sharding.backend import mysql
    from sharding.topology import DataSourceConfig, build_datasource

    cfg = DataSourceConfig(
        "ds9", "mysql", None, "mysql://root:@127.0.0.1:3306", {"max_connections": 5}
    )
    ds = build_datasource(cfg)
    assert isinstance(ds, mysql.MySQLDataSource) and ds.config.max_connections == 5
    with pytest.raises(ValueError, match=r"ds9.*unknown key"):
        build_datasource(DataSourceConfig("ds9", "mysql", None, "mysql://h", {"pool": 5}))
