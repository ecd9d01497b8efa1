"""Group commit: concurrent writers share one transaction, hence one disk flush.

A durable commit waits for the disk (an fsync: milliseconds), however little it
holds, so one transaction per request caps ingest at one request per flush.
Instead, callers that arrive while a commit is under way queue their batches;
when it ends, one of them (the leader) takes every queued batch and commits them
together, in one transaction. Each caller is answered with its own batch's
outcome, and only once the commit that holds its batch has returned: what it is
told is stored is on disk. The store decides what a group's transaction does;
this module only decides who runs it, with what, and who is told what.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

B = TypeVar("B")
R = TypeVar("R")

CommitGroup = Callable[[Sequence[B]], Sequence["R | Exception"]]
"""Runs the batches in one transaction and commits it; returns each batch's result,
in order, or the exception it raised (the store rolled that batch back alone). If
it raises, nothing of the group was committed and every caller gets that error."""


class _Ticket(Generic[B, R]):
    """One caller's batch and, once its group has committed (or failed), its outcome.
    Its caller sleeps on ``wake`` (a lock it already holds) until it is either done or
    asked to lead the next group: each thread is woken once, not at every commit."""

    __slots__ = ("batch", "done", "outcome", "wake")

    def __init__(self, batch: B) -> None:
        self.batch = batch
        self.done = False
        self.outcome: R | BaseException | None = None
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupCommit(Generic[B, R]):
    """Batches submitted from many threads, committed in groups by ``commit_group``,
    one group at a time, in arrival order."""

    def __init__(self, commit_group: CommitGroup[B, R]) -> None:
        self._commit_group = commit_group
        self._mutex = threading.Lock()
        self._queued: list[_Ticket[B, R]] = []
        self._leading = False

    def submit(self, batch: B) -> R:
        """``batch``'s result once a commit holds it; raises what the batch (or its
        whole group's transaction) raised, in which case none of it was stored."""
        ticket: _Ticket[B, R] = _Ticket(batch)
        with self._mutex:
            follow = self._leading
            if follow:
                self._queued.append(ticket)
            self._leading = True
        if follow:
            ticket.wake.acquire()  # until our group is done, or we are to lead the next one
        if not ticket.done:
            self._lead(ticket)
        if isinstance(ticket.outcome, BaseException):
            raise ticket.outcome
        return ticket.outcome  # type: ignore[return-value]  # done: the batch's result

    def _lead(self, ticket: _Ticket[B, R]) -> None:
        """Commit ``ticket``'s batch and every one queued behind it, answer them, and
        hand the lead to the oldest batch queued meanwhile (if any)."""
        with self._mutex:
            group, self._queued = [ticket, *self._queued], []
        outcomes: Sequence[R | BaseException]
        try:
            outcomes = self._commit_group([member.batch for member in group])
        except BaseException as problem:  # the group's transaction failed: nothing of it stored
            outcomes = [problem] * len(group)
        for member, outcome in zip(group, outcomes, strict=True):
            member.outcome = outcome
            member.done = True
        with self._mutex:
            successor = self._queued.pop(0) if self._queued else None
            self._leading = successor is not None
        for member in group[1:]:
            member.wake.release()
        if successor is not None:
            successor.wake.release()
