"""Coordinator instances: a registry in the catalog database, KILL and PROCESSLIST anywhere.

Why: several ``shardgate serve`` processes (on one host or many, behind one TCP load
balancer) share one catalog database. A client's ``KILL QUERY id`` (the mysql CLI's
Ctrl-C opens a *new* connection for it, which may land on any coordinator) and
``SHOW PROCESSLIST`` must reach the coordinator that owns the connection.

* **Instance ids.** The high bits of every connection id name the coordinator instance
  (layout in :mod:`sharding.server.workers`: 5 bits of instance, 6 of worker, 20 of
  local id). Two coordinators sharing a catalog must never use the same instance id,
  so ids are allocated *through the catalog*: table ``<catalog>.instances`` has at
  most one row per id (0 to 31). A coordinator claims the lowest free id (its
  ``--instance-id`` first) with one upsert per candidate that takes the row only when
  it is missing or its heartbeat is older than :data:`STALE_AFTER` (the catalog
  server's clock decides, as for leases in :mod:`sharding.backend.lease`), then reads
  back who holds it. The holder is a random token of this process run, so a restarted
  coordinator is a new holder. One coordinator alone gets id 0: the plain ids 1, 2, 3.
* **Heartbeat.** Every :data:`HEARTBEAT_PERIOD` the row's ``heartbeat_at`` is renewed
  (on a one-connection data source of its own, so client work in the pool never delays
  it). A renewal that finds the row taken by another holder (this process froze past
  the stale bound and its id was reclaimed) means two processes now hand out the same
  ids: this one shuts down (graceful drain) rather than keep colliding. A clean
  shutdown deletes the row, so the id is free at once.
* **Control port.** Each instance listens on ``[server] control_listen`` (default
  ``127.0.0.1:0``: a free loopback port, enough for coordinators on one host; set a
  reachable address, and ``control_advertise`` if the bound one is a wildcard, for
  coordinators on several hosts). Its row holds that address and a random secret.
  Protocol: the server sends a one-line JSON greeting with a fresh nonce; the client
  sends ``{"request": <JSON text>, "mac": HMAC-SHA256(secret, nonce + "\\n" + text)}``
  and EOF; the server verifies the MAC (constant time) before parsing the request,
  answers one JSON document, MAC'd the same way (nonce + ``/answer``), and closes. So
  the secret never crosses the network, a captured request cannot be replayed (the
  nonce), only a process that can read the catalog (a peer coordinator) can ask, and
  only the instance itself can answer (not whatever listens at a dead one's address). An unauthenticated or forged request is
  refused and logged, never executed. The traffic is not encrypted (process lists
  carry statement text): keep control ports on a private network.
* **Forwarding.** ``KILL [CONNECTION | QUERY] id`` whose instance bits are another
  instance's goes to that instance if its row is live, with the asking user's name and
  privileges; the owner applies the usual rule (1094 unknown id, 1095 another user's
  connection without ``connection_admin``) and its answer (OK or the error) is the
  client's. An id whose instance has no live row is 1094, as MySQL answers for any
  unknown thread. ``SHOW [FULL] PROCESSLIST`` and ``information_schema.PROCESSLIST``
  add the sessions of every live instance, each asked at once and bounded by
  :data:`CONTROL_TIMEOUT`; an instance that does not answer is skipped (logged).
  ``KILL QUERY ID qid`` names an executor query, which is per process: not forwarded.
* **Workers.** Under ``serve --workers N`` the supervisor claims the id and heartbeats
  (every worker shares it); each worker has its own control listener on the shared
  control port (``SO_REUSEPORT``), and whichever worker a peer reaches answers for the
  whole instance through the worker control channel.

Invariant: while this process serves clients, it holds the registry row of the
instance id in its connection ids (or it is shutting down because it lost it); a
control request acts only after its MAC checked out against this instance's secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
import trio

from sharding.api import DataSource, Result, catalog_source, registry_source
from sharding.errors import BackendError, NoSuchThread, ShardgateError
from sharding.server import admin as admin_sql
from sharding.server.config import parse_hostport
from sharding.server.workers import (
    MAX_INSTANCE,
    ConnectionIds,
    instance_of,
    reuseport_listeners,
)

if TYPE_CHECKING:
    from sharding.api import Coordinator
    from sharding.server.server import MySQLServer
    from sharding.server.workers import WorkerCluster

__all__ = [
    "CONTROL_TIMEOUT",
    "HEARTBEAT_PERIOD",
    "INSTANCES_TABLE",
    "STALE_AFTER",
    "InstanceFleet",
    "InstanceRegistry",
    "Member",
    "control_call",
    "hold_instance",
    "join_fleet",
    "read_instance_file",
    "registry_source",
    "serve_worker_fleet",
]

log = structlog.get_logger("shardgate.instances")

INSTANCES_TABLE = "instances"
#: Seconds between heartbeats of the registry row.
HEARTBEAT_PERIOD = 1.0
#: A row whose heartbeat is older than this (catalog server clock) is free to reclaim,
#: and its instance is left out of PROCESSLIST and KILL forwarding. The environment
#: variable ``SHARDGATE_INSTANCE_STALE_AFTER`` changes it (tests make a claim's outcome
#: independent of how long a start-up takes on a loaded machine). Long on purpose: a
#: live coordinator whose heartbeats stall past it (the catalog server restarting, a
#: frozen host) can lose its id to a coordinator starting then, and must shut down; a
#: dead one only keeps its id from reuse (a new coordinator takes another of the 32)
#: and is skipped by PROCESSLIST that long.
STALE_AFTER = float(os.environ.get("SHARDGATE_INSTANCE_STALE_AFTER", "15.0"))
#: One control round trip (connect, greeting, request, answer) must fit in this.
CONTROL_TIMEOUT = 2.0
_MAX_REQUEST = 1 << 20
_MAX_ANSWER = 64 << 20
_RETRY_CODES = frozenset({1205, 1213})


def _bin(text: str) -> str:
    return "0x" + text.encode().hex() if text else "''"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def mac(secret: str, nonce: str, text: str) -> str:
    """The MAC a control request carries (module docstring)."""
    return hmac.new(secret.encode(), f"{nonce}\n{text}".encode(), hashlib.sha256).hexdigest()


# -- the registry -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """One registry row."""

    instance: int
    address: str
    secret: str
    age: float  # seconds since its last heartbeat (catalog server clock)
    info: str = ""


class InstanceRegistry:
    """``<catalog>.instances`` on the catalog's server, seen by one holder."""

    def __init__(
        self,
        ds: DataSource,
        catalog: str,
        *,
        holder: str | None = None,
        stale_after: float = STALE_AFTER,
    ) -> None:
        self.ds = ds
        self.catalog = catalog
        self.holder = holder or uuid.uuid4().hex
        self.stale_after = float(stale_after)
        self.instance: int | None = None

    @property
    def table(self) -> str:
        return f"`{self.catalog.replace('`', '``')}`.`{INSTANCES_TABLE}`"

    async def ensure(self) -> None:
        await self.ds.execute(f"CREATE DATABASE IF NOT EXISTS `{self.catalog.replace('`', '``')}`")
        await self.ds.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "instance TINYINT UNSIGNED NOT NULL PRIMARY KEY, "
            "holder VARBINARY(64) NOT NULL, "
            "address VARCHAR(300) NOT NULL, "
            "secret VARBINARY(128) NOT NULL, "
            "info VARCHAR(255) NOT NULL DEFAULT '', "
            "heartbeat_at DATETIME(6) NOT NULL) ENGINE=InnoDB"
        )

    async def _run(self, sql: str) -> int:
        try:
            return (await self.ds.execute(sql)).affected
        except BackendError as exc:
            if exc.code in (1146, 1049):  # no such table / database: first use
                await self.ensure()
            elif exc.code not in _RETRY_CODES:
                raise
            return (await self.ds.execute(sql)).affected

    async def members(self, *, live_only: bool = True) -> list[Member]:
        """Every registered instance (only those with a fresh heartbeat by default)."""
        try:
            rs = await self.ds.fetch(
                "SELECT instance, address, secret, info, "
                f"TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) FROM {self.table} "
                "ORDER BY instance"
            )
        except BackendError as exc:
            if exc.code in (1146, 1049):
                return []
            raise
        out = [
            Member(int(r[0]), _text(r[1]), _text(r[2]), int(r[4]) / 1e6, _text(r[3]))
            for r in rs.rows
        ]
        return [m for m in out if m.age < self.stale_after] if live_only else out

    async def claim(self, address: str, secret: str, *, preferred: int = 0) -> int:
        """Take the first free (missing or stale) instance id, ``preferred`` first;
        raise when all are held by live instances."""
        taken = {m.instance for m in await self.members()}
        order = [preferred, *(i for i in range(MAX_INSTANCE + 1) if i != preferred)]
        info = f"{socket.gethostname()}:{os.getpid()}"[:255]
        for i in order:
            if i in taken:
                continue
            stale = f"NOW(6) - INTERVAL {self.stale_after!r} SECOND"
            # Assignments apply left to right: ``holder`` changes only when the row is
            # stale, and the other columns follow exactly when it is now ours.
            await self._run(
                f"INSERT INTO {self.table} (instance, holder, address, secret, info, heartbeat_at) "
                f"VALUES ({i}, {_bin(self.holder)}, {_bin(address)}, {_bin(secret)}, "
                f"{_bin(info)}, NOW(6)) ON DUPLICATE KEY UPDATE "
                f"holder = IF(heartbeat_at < {stale}, VALUES(holder), holder), "
                "address = IF(holder = VALUES(holder), VALUES(address), address), "
                "secret = IF(holder = VALUES(holder), VALUES(secret), secret), "
                "info = IF(holder = VALUES(holder), VALUES(info), info), "
                "heartbeat_at = IF(holder = VALUES(holder), NOW(6), heartbeat_at)"
            )
            rs = await self.ds.fetch(f"SELECT holder FROM {self.table} WHERE instance = {i}")
            if rs.rows and _text(rs.rows[0][0]) == self.holder:
                self.instance = i
                return i
        raise ShardgateError(
            f"no free coordinator instance id in {self.catalog}.{INSTANCES_TABLE}: "
            f"{MAX_INSTANCE + 1} live coordinators already share this catalog",
            code=1040,
            sqlstate="08004",
        )

    async def beat(self) -> bool:
        """Renew this holder's row; False when the row is no longer this holder's."""
        assert self.instance is not None
        n = await self._run(
            f"UPDATE {self.table} SET heartbeat_at = NOW(6) "
            f"WHERE instance = {self.instance} AND holder = {_bin(self.holder)}"
        )
        return n > 0

    async def retire(self) -> None:
        """Delete this holder's row (clean shutdown): the id is free at once."""
        if self.instance is None:
            return
        await self.ds.execute(
            f"DELETE FROM {self.table} "
            f"WHERE instance = {self.instance} AND holder = {_bin(self.holder)}"
        )


# -- control protocol ---------------------------------------------------------------------


async def _read_all(stream: trio.abc.ReceiveStream, limit: int) -> bytes:
    data = bytearray()
    while chunk := await stream.receive_some(1 << 16):
        data += chunk
        if len(data) > limit:
            raise OSError("control message too large")
    return bytes(data)


async def control_call(address: str, secret: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """One authenticated request to the instance at ``address`` (raises OSError,
    trio.TooSlowError or ValueError when it cannot be asked)."""
    host, port = parse_hostport(address, what="control address")
    with trio.fail_after(CONTROL_TIMEOUT):
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            buf = bytearray()
            while b"\n" not in buf:
                chunk = await stream.receive_some(4096)
                if not chunk or len(buf) > 4096:
                    raise OSError("no control greeting")
                buf += chunk
            hello = json.loads(buf.split(b"\n", 1)[0])
            nonce = str(hello["nonce"])
            text = json.dumps(dict(request))
            await stream.send_all(
                json.dumps({"request": text, "mac": mac(secret, nonce, text)}).encode()
            )
            await stream.send_eof()
            data = await _read_all(stream, _MAX_ANSWER)
    envelope = json.loads(data)
    text = envelope["answer"]
    tag = envelope["mac"]
    if not isinstance(text, str) or not isinstance(tag, str):
        raise ValueError("malformed control answer")
    # The answer is authenticated too: whoever now listens at a dead instance's old
    # address cannot feed this process fake sessions or fake kills.
    if not hmac.compare_digest(tag.encode(), mac(secret, nonce + "/answer", text).encode()):
        raise ValueError("control answer not authenticated")
    answer: dict[str, Any] = json.loads(text)
    return answer


def _result_json(result: Result) -> dict[str, Any]:
    return {
        "columns": None
        if result.columns is None
        else [[c.name, c.type_code] for c in result.columns],
        "rows": [list(r) for r in result.rows],
    }


def _rows_from(data: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in data.get("rows", [])]


class InstanceFleet:
    """This instance's view of the other coordinators, and the server side of its
    control port. Installed as ``server.cluster``: it answers what a
    :class:`~sharding.server.workers.WorkerCluster` answers (``local``, under
    ``--workers``) and adds the other instances to PROCESSLIST and KILL."""

    def __init__(
        self,
        server: MySQLServer,
        registry: InstanceRegistry,
        *,
        instance: int,
        secret: str,
        local: Any = None,
    ) -> None:
        self.server = server
        self.registry = registry
        self.instance = instance
        self.secret = secret
        self.local = local
        self.refused = 0

    # -- what server.cluster answers (connection.py, http.py) ---------------------------

    async def after_statement(self, first: str) -> None:
        if self.local is not None:
            await self.local.after_statement(first)

    async def metrics_text(self) -> bytes:
        if self.local is not None:
            text: bytes = await self.local.metrics_text()
            return text
        return self.server.metrics.render()

    async def status(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.local is not None:
            out: dict[str, Any] = await self.local.status(data)
            data = out
        data["instance"] = self.instance
        return data

    async def http_kill(self, request: Any, viewer: admin_sql.Viewer) -> dict[str, Any] | None:
        cid = getattr(request, "connection_id", None)
        if cid is not None and instance_of(cid) != self.instance:
            from sharding.server.statuspage import KillRefused

            query_only = bool(getattr(request, "query_only", True))
            try:
                await self.answer_admin(f"KILL {'QUERY ' if query_only else ''}{cid}", viewer)
            except ShardgateError as exc:
                raise KillRefused(403 if exc.code == 1095 else 404, str(exc)) from None
            return {
                "killed": "query" if query_only else "connection",
                "connection_id": cid,
                "via": "connection",
                "instance": instance_of(cid),
            }
        if self.local is not None:
            done: dict[str, Any] | None = await self.local.http_kill(request, viewer)
            return done
        return None

    async def answer_admin(self, sql: str, viewer: admin_sql.Viewer) -> Result | None:
        """The fleet-wide answer to PROCESSLIST / KILL id, or None when the statement
        is this process's alone (the connection answers it)."""
        m = admin_sql.ADMIN_STATEMENT.match(sql) if len(sql) < 512 else None
        if m is None:
            return None
        if m.group("pl") or m.group("pl_is"):
            local = await self._instance_answer(sql, viewer)
            rows = list(local.rows)
            for peer in (await self._gather(sql, viewer)).values():
                if peer is not None and "result" in peer:
                    rows.extend(_rows_from(peer["result"]))
            rows.sort(key=lambda r: int(r[0]))
            return Result(columns=local.columns, rows=rows)
        if m.group("kid") and not m.group("kqid"):
            target = int(m.group("kid"))
            owner = instance_of(target)
            if owner != self.instance:
                return await self._forward_kill(owner, target, sql, viewer)
        if self.local is not None:
            answer: Result | None = await self.local.answer_admin(sql, viewer)
            return answer
        return None

    async def _instance_answer(self, sql: str, viewer: admin_sql.Viewer) -> Result:
        """This instance's own answer (every worker's, under ``--workers``)."""
        result = await self.local.answer_admin(sql, viewer) if self.local is not None else None
        if result is None:
            result = admin_sql.answer_admin(sql, self.server.admin, self.server, viewer=viewer)
        if result is None:  # pragma: no cover - callers pass admin statements only
            raise NoSuchThread("not an admin statement")
        return result

    @staticmethod
    def _request(sql: str, viewer: admin_sql.Viewer) -> dict[str, Any]:
        return {
            "op": "admin",
            "sql": sql,
            "user": viewer.user,
            "privileges": sorted(viewer.privileges),
            "connection_id": viewer.connection_id,
        }

    async def _peers(self) -> list[Member]:
        try:
            with trio.fail_after(CONTROL_TIMEOUT):  # a stuck catalog never hangs KILL
                members = await self.registry.members()
        except (ShardgateError, trio.TooSlowError) as exc:
            log.warning(
                "instance registry unreadable: other coordinators skipped",
                error=str(exc) or "timed out",
            )
            return []
        return [m for m in members if m.instance != self.instance]

    async def _gather(self, sql: str, viewer: admin_sql.Viewer) -> dict[int, dict[str, Any] | None]:
        out: dict[int, dict[str, Any] | None] = {}
        request = self._request(sql, viewer)

        async def one(member: Member) -> None:
            try:
                out[member.instance] = await control_call(member.address, member.secret, request)
            except (OSError, trio.TooSlowError, ValueError, KeyError, TypeError) as exc:
                log.warning(
                    "coordinator instance did not answer: its sessions are left out",
                    instance=member.instance,
                    address=member.address,
                    error=repr(exc),
                )
                out[member.instance] = None

        async with trio.open_nursery() as nursery:
            for member in await self._peers():
                nursery.start_soon(one, member)
        return out

    async def _forward_kill(
        self, owner: int, target: int, sql: str, viewer: admin_sql.Viewer
    ) -> Result:
        member = next((p for p in await self._peers() if p.instance == owner), None)
        if member is None:  # no live coordinator has that id: no such connection
            raise NoSuchThread(f"Unknown thread id: {target}")
        try:
            answer = await control_call(member.address, member.secret, self._request(sql, viewer))
        except (OSError, trio.TooSlowError, ValueError, KeyError, TypeError) as exc:
            log.warning("KILL: owner instance unreachable", instance=owner, error=repr(exc))
            raise NoSuchThread(f"Unknown thread id: {target}") from None
        if "error" in answer:
            code, sqlstate, message = answer["error"]
            raise ShardgateError(str(message), code=int(code), sqlstate=str(sqlstate))
        return Result(columns=None, rows=[])

    # -- control server -----------------------------------------------------------------

    async def serve_control(
        self,
        listeners: Sequence[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        await trio.serve_listeners(self._handle, list(listeners))

    async def _handle(self, stream: trio.SocketStream) -> None:
        peer = _peer(stream)
        async with stream:
            try:
                with trio.fail_after(CONTROL_TIMEOUT):
                    nonce = secrets.token_hex(16)
                    hello = {"nonce": nonce, "instance": self.instance}
                    await stream.send_all(json.dumps(hello).encode() + b"\n")
                    data = await _read_all(stream, _MAX_REQUEST)
                    answer = await self._answer(data, nonce, peer)
                    text = json.dumps(answer, default=str)
                    envelope = {"answer": text, "mac": mac(self.secret, nonce + "/answer", text)}
                    await stream.send_all(json.dumps(envelope).encode())
            except (trio.TooSlowError, trio.BrokenResourceError, OSError) as exc:
                log.info("control request failed", peer=peer, error=repr(exc))

    async def _answer(self, data: bytes, nonce: str, peer: str) -> dict[str, Any]:
        try:
            message = json.loads(data)
            text, tag = message["request"], message["mac"]
            if not isinstance(text, str) or not isinstance(tag, str):
                raise ValueError("request and mac must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            return self._refuse(peer, f"malformed: {exc}")
        if not hmac.compare_digest(tag.encode(), mac(self.secret, nonce, text).encode()):
            return self._refuse(peer, "bad MAC")
        try:
            request = json.loads(text)
        except ValueError:
            return self._refuse(peer, "malformed request")
        return await self.answer_control(request)

    def _refuse(self, peer: str, reason: str) -> dict[str, Any]:
        self.refused += 1
        log.warning("control request refused", peer=peer, reason=reason)
        return {"error": [1045, "28000", "control request refused: not authenticated"]}

    async def answer_control(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """An authenticated peer's request: ping, or PROCESSLIST / KILL id for this
        instance (never forwarded further, so two instances never bounce a request)."""
        op = request.get("op")
        if op == "ping":
            return {"instance": self.instance, "pid": os.getpid()}
        if op != "admin":
            return {"error": [1047, "08S01", f"unknown control op {op!r}"]}
        sql = str(request.get("sql", ""))
        m = admin_sql.ADMIN_STATEMENT.match(sql) if len(sql) < 512 else None
        if (
            m is None
            or not (m.group("pl") or m.group("pl_is") or m.group("kid"))
            or m.group("kqid")
        ):
            return {"error": [1235, "42000", "not a PROCESSLIST or KILL statement"]}
        viewer = admin_sql.Viewer(
            str(request.get("user", "")),
            frozenset(str(p) for p in request.get("privileges", ())),
            request.get("connection_id"),
        )
        if m.group("kid") and instance_of(int(m.group("kid"))) != self.instance:
            return {"error": [1094, "HY000", f"Unknown thread id: {m.group('kid')}"]}
        try:
            result = await self._instance_answer(sql, viewer)
        except ShardgateError as exc:
            return {"error": [exc.code, exc.sqlstate, str(exc)]}
        return {"result": _result_json(result)}


def _peer(stream: trio.SocketStream) -> str:
    try:
        addr = stream.socket.getpeername()
    except OSError:
        return "unknown"
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)


def advertised(bound: tuple[str, int], advertise: str | None) -> str:
    """The address other coordinators use: ``advertise`` if set, else the bound one
    (a wildcard bind advertises this host's name)."""
    if advertise:
        host, port = parse_hostport(
            advertise, what="[server] control_advertise", default_port=bound[1]
        )
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    host, port = bound
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def join_fleet(
    server: MySQLServer,
    coordinator: Coordinator,
    preferred: int = 0,
    *,
    task_status: trio.TaskStatus[InstanceFleet | None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A plain ``serve``: claim an instance id, install the fleet view as
    ``server.cluster`` and the id allocator, serve the control port and heartbeat
    until cancelled; then delete the row. Started before the MySQL port opens (ids).
    When the catalog is not on MySQL there is no registry (started with None) and
    ``preferred`` is the instance id as is."""
    ds = registry_source(coordinator)
    if ds is None:
        if preferred:  # one process owns the catalog: the configured id as is
            server.allocate_id = ConnectionIds(preferred, 0).allocate
        task_status.started(None)
        return
    config = server.config
    host, port = parse_hostport(config.control_listen, what="[server] control_listen")
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        exc.shardgate_address = f"{host}:{port} ([server] control_listen)"  # type: ignore[attr-defined]
        raise
    registry = InstanceRegistry(ds, coordinator.topology.cluster.catalog)
    secret = secrets.token_hex(32)
    try:
        await ds.open()
        bound = listeners[0].socket.getsockname()
        address = advertised((host, int(bound[1])), config.control_advertise)
        instance = await registry.claim(address, secret, preferred=preferred)
        ids = ConnectionIds(instance, 0)
        server.allocate_id = ids.allocate
        fleet = InstanceFleet(server, registry, instance=instance, secret=secret)
        server.cluster = fleet
        log.info("coordinator instance registered", instance=instance, control=address)
        async with trio.open_nursery() as nursery:
            await nursery.start(fleet.serve_control, listeners)
            task_status.started(fleet)
            await heartbeat_loop(registry, server.shutdown)
            await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            for listener in listeners:
                await listener.aclose()
        await _retire(registry, ds)


async def heartbeat_loop(registry: InstanceRegistry, on_lost: Callable[[], None]) -> None:
    """Renew the row every :data:`HEARTBEAT_PERIOD` (module docstring); when the row
    was taken over, call ``on_lost`` (shut this instance down) and return."""
    ok = True
    while True:
        await trio.sleep(HEARTBEAT_PERIOD)
        try:
            with trio.fail_after(max(HEARTBEAT_PERIOD, STALE_AFTER / 2)):
                held = await registry.beat()
        except (ShardgateError, trio.TooSlowError) as exc:
            if ok:  # once per outage
                log.warning("instance heartbeat failed", error=str(exc) or "timed out")
            ok = False
            continue
        if not ok:
            log.info("instance heartbeat restored")
        ok = True
        if not held:
            log.error(
                "coordinator instance id taken over by another process (heartbeat was "
                "stale): shutting down so connection ids never collide",
                instance=registry.instance,
            )
            on_lost()
            return


async def _retire(registry: InstanceRegistry, ds: Any) -> None:
    with trio.CancelScope(shield=True):
        with trio.move_on_after(HEARTBEAT_PERIOD):
            with contextlib.suppress(ShardgateError):
                await registry.retire()
        await ds.aclose()


# -- serve --workers N --------------------------------------------------------------------

#: The supervisor's registration, read by its workers (in the 0700 run directory).
INSTANCE_FILE = "instance.json"


def catalog_on_mysql(topology: Any) -> bool:
    return bool(topology.datasources) and topology.datasources[0].kind == "mysql"


async def hold_instance(
    topology: Any,
    config: Any,
    bound: tuple[str, int],
    preferred: int,
    run_dir: str,
    on_lost: Callable[[], None],
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The supervisor of ``serve --workers N``: claim the instance id (the control port
    ``bound`` is reserved and shared by the workers), write it with the secret to
    ``<run_dir>/instance.json`` for the workers, heartbeat until cancelled, retire."""
    ds = catalog_source(topology, max_connections=1, min_idle=0)
    registry = InstanceRegistry(ds, topology.cluster.catalog)
    secret = secrets.token_hex(32)
    try:
        await ds.open()
        address = advertised(bound, config.control_advertise)
        instance = await registry.claim(address, secret, preferred=preferred)
        path = os.path.join(run_dir, INSTANCE_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"instance": instance, "secret": secret, "control": list(bound)}, f)
        log.info("coordinator instance registered", instance=instance, control=address)
        task_status.started(instance)
        await heartbeat_loop(registry, on_lost)
        await trio.sleep_forever()
    finally:
        await _retire(registry, ds)


def read_instance_file(run_dir: str) -> dict[str, Any] | None:
    """A worker: the supervisor's registration (None: no registry, catalog not on MySQL)."""
    try:
        with open(os.path.join(run_dir, INSTANCE_FILE)) as f:
            data: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        return None
    return data


async def serve_worker_fleet(
    server: MySQLServer,
    coordinator: Coordinator,
    cluster: WorkerCluster,
    info: Mapping[str, Any],
    *,
    task_status: trio.TaskStatus[InstanceFleet] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A worker of a registered instance: the fleet view over ``cluster`` (its peer
    workers) as ``server.cluster``, and its own listener on the shared control port."""
    ds = registry_source(coordinator)
    assert ds is not None  # the supervisor registered: the catalog is on MySQL
    registry = InstanceRegistry(ds, coordinator.topology.cluster.catalog)
    registry.instance = int(info["instance"])
    host, port = info["control"]
    listeners = reuseport_listeners(str(host), int(port))
    fleet = InstanceFleet(
        server, registry, instance=registry.instance, secret=str(info["secret"]), local=cluster
    )
    server.cluster = fleet
    try:
        await ds.open()
        async with trio.open_nursery() as nursery:
            await nursery.start(fleet.serve_control, listeners)
            task_status.started(fleet)
    finally:
        with trio.CancelScope(shield=True):
            for listener in listeners:
                await listener.aclose()
            await ds.aclose()
