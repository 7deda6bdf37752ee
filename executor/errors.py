"""Exceptions raised by the executor.

A child's failure is reported as :class:`ChildFailed`, which names the child (query id,
query name, bucket, child label) and keeps the original exception as ``error`` and
``__cause__``. ``BaseException``\\ s that are not ``Exception``\\ s (``trio.Cancelled``,
``KeyboardInterrupt``, ``SystemExit``) are never wrapped.
"""

from __future__ import annotations

from dataclasses import dataclass


class ExecutorError(Exception):
    """Base class of the executor's own errors."""


class ExecutorClosed(ExecutorError):
    """The executor is not open (used outside ``async with`` or after it closed)."""


class QueryCancelled(ExecutorError):
    """The query was cancelled from outside (``cancel_query``, e.g. ``KILL QUERY``)."""


class DeadlockSuspected(ExecutorError):
    """The watchdog cancelled this query to break a suspected deadlock in its bucket.

    Raised when a bucket had queued work, every slot busy and no child completing for
    ``deadlock_timeout`` seconds; the youngest query of that bucket gets this error.
    """

    def __init__(self, message: str, *, bucket: int, query_id: int) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.query_id = query_id


@dataclass(frozen=True, slots=True)
class ChildIdentity:
    """Which child failed: enough to find it in logs and in a deadlock dump."""

    query_id: int
    query_name: str
    bucket: int
    child_id: int
    label: str

    def __str__(self) -> str:
        return (
            f"child {self.label!r} (#{self.child_id}) of query {self.query_id} "
            f"{self.query_name!r} in bucket {self.bucket}"
        )


class ChildFailed(ExecutorError):
    """A child of a query raised; its siblings were cancelled."""

    def __init__(self, child: ChildIdentity, error: BaseException) -> None:
        super().__init__(f"{child} failed: {type(error).__name__}: {error}")
        self.child = child
        self.error = error
        self.__cause__ = error

    @property
    def query_id(self) -> int:
        return self.child.query_id

    @property
    def query_name(self) -> str:
        return self.child.query_name

    @property
    def root(self) -> BaseException:
        """The innermost error that is not itself a ``ChildFailed`` (nested fan-out)."""
        error: BaseException = self.error
        while isinstance(error, ChildFailed):
            error = error.error
        return error
