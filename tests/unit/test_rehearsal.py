import asyncio
import json

from rtp_tag.commands import CallContext
from rtp_tag.config import TagConfig
from rtp_tag.rehearsal import rehearse

from test_delivery import run  # a loop of its own, also when e2e tests share the process

CONFIG = TagConfig(collect_url="https://collector.example/collect", api_url="https://collector.example/", account="acme")
T0 = 1_700_000_000.0
CLICK = (["send", "event", {"value": "rtp:rehearsal"}], CallContext(url="https://site.example/", referrer="", ts=T0))


def test_a_rehearsal_builds_the_request_of_a_click_and_never_sends_it():
    prepared = []

    async def scenario():
        rehearse(CONFIG, [CLICK], prepared.append, clock=lambda: T0)
        for _ in range(5):  # the answer's settlement runs as the real one would
            await asyncio.sleep(0)

    run(scenario)
    [body] = prepared
    [event] = json.loads(body)
    assert (event["type"], event["values"], event["account"]) == ("event", ["rtp:rehearsal"], "acme")


def test_a_rehearsal_keeps_nothing_between_runs():
    """Its session and outbox are its own memory: a second rehearsal counts the value
    again (a real session would not), so nothing leaked into shared state."""
    prepared = []

    async def scenario():
        for _ in range(2):
            rehearse(CONFIG, [CLICK], prepared.append, clock=lambda: T0)
            await asyncio.sleep(0)

    run(scenario)
    assert len(prepared) == 2


def test_a_rehearsal_that_fails_to_build_the_request_does_not_raise():
    def refuse(body):
        raise RuntimeError("no fetch options here")

    async def scenario():
        rehearse(CONFIG, [CLICK], refuse, clock=lambda: T0)
        await asyncio.sleep(0)

    run(scenario)
