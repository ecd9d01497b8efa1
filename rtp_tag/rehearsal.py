"""A dry run of a click's path, once the tag is ready, that stores and sends nothing.

Measured (bench/README.md): a page's first click paid for the first execution of
each step on its path (the browser compiles WebAssembly functions on their first
call, and Pyodide's JavaScript glue likewise): to_plain, the session ledger, JSON
encoding, the outbox, building the request, asyncio's first task. Running the same
handlers once, on throwaway memory storage, with a transport that builds the
request but never starts it, moves that cost out of the visitor's click. The loader
runs it 50 times, one run per idle moment: Chromium optimizes the runtime's functions
after a few runs of the path, and without them that happened inside the visitor's
second and third clicks (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from .commands import CallContext, Tag
from .config import TagConfig
from .delivery import Courier, Reply
from .outbox import Outbox
from .session import SessionLedger
from .storage import MemoryStorage

REHEARSAL_ID = "rtp-rehearsal"


class _Silent:
    """The rehearsal's console: a problem in a dry run is not the page's business."""

    def error(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


def rehearse(
    config: TagConfig,
    calls: Sequence[tuple[Sequence[object], CallContext]],
    prepare: Callable[[str], object],
    clock: Callable[[], float],
) -> None:
    """Run ``calls`` through a tag of their own: memory storage only, and a transport
    that hands each request body to ``prepare`` (which builds the request as a real
    send would) and answers 204 without sending anything."""
    outbox = Outbox(MemoryStorage(), owner=REHEARSAL_ID)

    async def answered() -> Reply:
        return Reply(204)

    def post(body: str) -> Awaitable[Reply]:
        prepare(body)
        return answered()

    courier = Courier(outbox, post, clock=clock, schedule=lambda delay, callback: None, report=_Silent().error)
    tag = Tag(
        config=config,
        ledger=SessionLedger(MemoryStorage(), lambda: REHEARSAL_ID, config.session_timeout),
        visitor_id=REHEARSAL_ID,
        outbox=outbox,
        courier=courier,
        console=_Silent(),
        new_id=lambda: REHEARSAL_ID,
        clock=clock,
    )
    tag.call_many(calls)
