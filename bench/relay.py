"""A bare TCP relay on trio: the floor a trio proxy cannot go below (issue 16).

    python -m bench.relay --upstream 127.0.0.1:3306 [--listen 127.0.0.1:0]

Every accepted connection gets one upstream connection, and two tasks copy bytes
(``receive_some`` → ``send_all``) client → server and server → client, with no parsing
at all: no packet framing, no sequence ids, no statement scan. Whatever a MySQL proxy
written in trio does per query costs at least what this does, so ``bench.oltp`` runs
sysbench through it next to ``shardgate serve`` and reads the CPU of both from
``/proc/PID/stat`` — this runs as its own process for that reason.

Prints ``relay listening on HOST:PORT`` (flushed) once the socket listens, so a parent
that asked for port 0 reads the port from stdout. Stops on SIGTERM/SIGINT (the default
actions: there is nothing to flush). When either side closes or fails, both sockets of
that pair are closed and the other direction ends.
"""

from __future__ import annotations

import argparse

import trio

BUFFER = 65536


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


async def _pump(src: trio.SocketStream, dst: trio.SocketStream, done: trio.CancelScope) -> None:
    """Copy ``src`` → ``dst`` until EOF or an error, then end the pair (``done``)."""
    try:
        while data := await src.receive_some(BUFFER):
            await dst.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
    finally:
        done.cancel()


async def _serve_one(client: trio.SocketStream, upstream: tuple[str, int]) -> None:
    try:
        server = await trio.open_tcp_stream(*upstream)
    except OSError:
        await client.aclose()
        return
    # trio sets TCP_NODELAY on both streams: a small MySQL packet leaves at once.
    async with client, server, trio.open_nursery() as nursery:
        nursery.start_soon(_pump, client, server, nursery.cancel_scope)
        nursery.start_soon(_pump, server, client, nursery.cancel_scope)


async def relay(listen: tuple[str, int], upstream: tuple[str, int]) -> None:
    listeners = await trio.open_tcp_listeners(listen[1], host=listen[0])
    host, port = listeners[0].socket.getsockname()[:2]
    print(f"relay listening on {host}:{port}", flush=True)

    async def handler(stream: trio.SocketStream) -> None:
        await _serve_one(stream, upstream)

    await trio.serve_listeners(handler, listeners)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.relay", description=(__doc__ or "").split("\n", 1)[0]
    )
    p.add_argument("--upstream", type=_host_port, required=True, help="HOST:PORT of MariaDB")
    p.add_argument("--listen", type=_host_port, default=("127.0.0.1", 0), help="HOST:PORT")
    args = p.parse_args(argv)
    trio.run(relay, args.listen, args.upstream)


if __name__ == "__main__":
    main()
