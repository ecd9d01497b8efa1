"""The build skips its slow steps (pruning the wasm, compiling the standard library,
brotli) when their inputs (the step's own code among them) did not change, and redoes
them when one did: a second `./dev demo` starts in seconds, and a stale result is never
shipped."""

from __future__ import annotations

import json
from pathlib import Path

from rtp_tag import build
from rtp_tag.build_cache import BuildCache


class Step:
    """A build step that counts its runs."""

    def __init__(self, result: list[bytes] | None) -> None:
        self.result = result
        self.runs = 0

    def __call__(self) -> list[bytes] | None:
        self.runs += 1
        return self.result


def test_a_step_whose_inputs_did_not_change_is_reused_byte_for_byte(tmp_path):
    step = Step([b"pruned wasm", b""])
    assert BuildCache(tmp_path).remember("prune", [b"wasm", b"mjs"], step) == [b"pruned wasm", b""]
    again = BuildCache(tmp_path)
    assert again.remember("prune", [b"wasm", b"mjs"], step) == [b"pruned wasm", b""]
    assert step.runs == 1
    assert again.reused == ["prune"] and again.made == []


def test_a_changed_input_runs_the_step_again(tmp_path):
    step = Step([b"out"])
    BuildCache(tmp_path).remember("prune", [b"wasm", b"mjs", b"code"], step)
    BuildCache(tmp_path).remember("prune", [b"wasm!", b"mjs", b"code"], step)
    BuildCache(tmp_path).remember("prune", [b"wasmm", b"js", b"code"], step)  # same bytes, split otherwise
    BuildCache(tmp_path).remember("prune", [b"wasm", b"mjs", b"code, edited"], step)
    BuildCache(tmp_path).remember("compile", [b"wasm", b"mjs", b"code"], step)
    assert step.runs == 5


def test_a_step_that_could_not_run_is_tried_again(tmp_path):
    failing = Step(None)
    assert BuildCache(tmp_path).remember("prune", [b"wasm"], failing) is None
    assert BuildCache(tmp_path).remember("prune", [b"wasm"], Step([b"out"])) == [b"out"]


def test_entries_a_build_did_not_use_are_removed(tmp_path):
    BuildCache(tmp_path).remember("prune", [b"old"], Step([b"old out"]))
    latest = BuildCache(tmp_path)
    latest.remember("prune", [b"new"], Step([b"new out"]))
    latest.prune()
    assert [path.name for path in tmp_path.iterdir()] == [latest.key("prune", [b"new"])]


def test_a_second_build_with_nothing_changed_runs_no_slow_step_and_writes_the_same_files(tmp_path):
    """Against the checkout's own cache: warm after `build.py` (as `./dev` runs it),
    so this takes seconds; a cold cache (build code just edited) makes the first build
    slow, never wrong."""
    build.build(out=tmp_path / "first", cache=BuildCache(build.CACHE))
    second = BuildCache(build.CACHE)
    manifest = build.build(out=tmp_path / "second", cache=second)
    assert second.made == []
    assert {"pruned-runtime", "compiled-stdlib", "compressed"} <= set(second.reused)
    assert json.loads((tmp_path / "first" / "manifest.json").read_text()) == manifest
    for name in manifest:
        for suffix in ("", ".br", ".gz"):
            first: Path = tmp_path / "first" / (name + suffix)
            if first.exists():
                assert first.read_bytes() == (tmp_path / "second" / (name + suffix)).read_bytes()
