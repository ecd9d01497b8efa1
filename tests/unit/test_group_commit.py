"""Group commit (stores/group_commit.py): concurrent batches share one commit, each
caller still gets its own outcome, and only after the commit that holds its batch."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pytest

from rtp_tag.collector.stores.group_commit import GroupCommit

WAIT = 30
"""Seconds a test waits for its threads: a bound on a hang, never a timing figure."""


class Ledger:
    """A fake transaction log: which batches each commit held, and a way to hold the
    first commit open until the test lets it end."""

    def __init__(self, fail_batch: Callable[[str], bool] = lambda batch: False) -> None:
        self.fail_batch = fail_batch
        self.groups: list[list[str]] = []
        self.committed: set[str] = set()
        self.first_entered = threading.Event()
        self.release_first = threading.Event()
        self.release_first.set()

    def commit_group(self, batches: Sequence[str]) -> list[int | Exception]:
        if not self.groups and not self.first_entered.is_set():
            self.first_entered.set()
            assert self.release_first.wait(WAIT)
        outcomes: list[int | Exception] = [
            ValueError(f"bad batch {batch}") if self.fail_batch(batch) else len(batch) for batch in batches
        ]
        self.groups.append(list(batches))
        self.committed.update(b for b, o in zip(batches, outcomes, strict=True) if not isinstance(o, Exception))
        return outcomes


def submit_all(commits: GroupCommit[str, int], ledger: Ledger, batches: list[str]) -> dict[str, int | Exception]:
    """Submit each batch from a thread of its own; each caller checks, as soon as it is
    answered, that a commit already holds its batch."""
    outcomes: dict[str, int | Exception] = {}

    def send(batch: str) -> None:
        try:
            outcomes[batch] = commits.submit(batch)
            assert batch in ledger.committed, f"{batch} was answered before a commit held it"
        except ValueError as problem:
            outcomes[batch] = problem

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    return outcomes


def queued(commits: GroupCommit[str, int], count: int) -> None:
    """Wait until ``count`` batches wait behind the commit under way."""
    for _ in range(WAIT * 100):
        with commits._mutex:
            if len(commits._queued) >= count:
                return
        threading.Event().wait(0.01)
    raise AssertionError(f"{count} batches never queued")


def test_batches_from_many_threads_are_each_committed_once_with_their_own_result():
    ledger = Ledger()
    commits: GroupCommit[str, int] = GroupCommit(ledger.commit_group)
    batches = [f"batch-{n}-" + "x" * n for n in range(50)]
    outcomes = submit_all(commits, ledger, batches)
    assert outcomes == {batch: len(batch) for batch in batches}
    held = [batch for group in ledger.groups for batch in group]
    assert sorted(held) == sorted(batches)


def test_batches_arriving_during_a_commit_share_the_next_one_and_wait_for_it():
    ledger = Ledger()
    ledger.release_first.clear()
    commits: GroupCommit[str, int] = GroupCommit(ledger.commit_group)
    outcomes: dict[str, int | Exception] = {}
    first = threading.Thread(target=lambda: outcomes.update(first=commits.submit("first")))
    first.start()
    assert ledger.first_entered.wait(WAIT)
    later = threading.Thread(target=lambda: outcomes.update(submit_all(commits, ledger, ["a", "bb", "ccc"])))
    later.start()
    queued(commits, 3)
    assert outcomes == {}  # the first commit is still open: nobody has been answered
    ledger.release_first.set()
    first.join(WAIT)
    later.join(WAIT)
    assert outcomes == {"first": 5, "a": 1, "bb": 2, "ccc": 3}
    assert [sorted(group) for group in ledger.groups] == [["first"], ["a", "bb", "ccc"]]


def test_a_failing_batch_fails_only_its_caller():
    ledger = Ledger(fail_batch=lambda batch: batch == "bad")
    ledger.release_first.clear()
    commits: GroupCommit[str, int] = GroupCommit(ledger.commit_group)
    first = threading.Thread(target=commits.submit, args=("first",))
    first.start()
    assert ledger.first_entered.wait(WAIT)
    outcomes: dict[str, int | Exception] = {}
    later = threading.Thread(target=lambda: outcomes.update(submit_all(commits, ledger, ["ok", "bad", "fine"])))
    later.start()
    queued(commits, 3)
    ledger.release_first.set()
    first.join(WAIT)
    later.join(WAIT)
    assert ledger.groups[1] and sorted(ledger.groups[1]) == ["bad", "fine", "ok"]  # one group held all three
    assert outcomes["ok"] == 2 and outcomes["fine"] == 4
    assert isinstance(outcomes["bad"], ValueError) and "bad batch bad" in str(outcomes["bad"])
    assert "bad" not in ledger.committed


def test_a_group_whose_commit_fails_fails_every_caller_in_it_and_the_next_group_still_commits():
    broken = threading.Event()
    broken.set()

    def commit_group(batches: Sequence[str]) -> list[int | Exception]:
        if broken.is_set():
            raise ValueError("disk full")
        return [len(batch) for batch in batches]

    commits: GroupCommit[str, int] = GroupCommit(commit_group)
    with pytest.raises(ValueError, match="disk full"):
        commits.submit("lost")
    broken.clear()
    assert commits.submit("kept") == 4
