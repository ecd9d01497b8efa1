"""The build's cache of slow steps (pruning the wasm, compiling the standard library,
brotli): a step whose inputs did not change is not run again.

An entry is keyed by the step's name and a hash of every input's bytes, the step's
own code among them (the caller passes the source or settings that decide what the
step makes: editing how a step works invalidates it, editing another step does not),
so reuse is exact: the same inputs give the same files, byte for byte. Entries not
used by a build are removed at its end (``prune``), so the cache holds one build's
worth. Build-time only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

FORMAT = b"rtp-tag build cache 1"
"""Part of every key: bump it when the layout of entries changes."""


class BuildCache:
    """Files made by build steps, under ``directory/STEP-KEY/0, 1, ...``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.reused: list[str] = []
        self.made: list[str] = []
        self._used: set[str] = set()

    def key(self, step: str, inputs: Iterable[bytes]) -> str:
        digest = hashlib.sha256(FORMAT + b"\0" + step.encode() + b"\0")
        for data in inputs:
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(hashlib.sha256(data).digest())
        return f"{step}-{digest.hexdigest()[:32]}"

    def remember(self, step: str, inputs: Iterable[bytes],
                 make: Callable[[], Sequence[bytes] | None]) -> list[bytes] | None:
        """The files ``make()`` gives for these inputs (the step's code among them):
        from the cache when a build already made them, else made now and kept (a None result is not kept, so a
        step that could not run, e.g. without Node.js, is tried again next time)."""
        entry = self.key(step, inputs)
        self._used.add(entry)
        path = self.directory / entry
        if path.is_dir():
            files = sorted(path.iterdir(), key=lambda file: int(file.name))
            self.reused.append(step)
            return [file.read_bytes() for file in files]
        made = make()
        if made is None:
            return None
        self.made.append(step)
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=self.directory))
        for index, data in enumerate(made):
            (staging / str(index)).write_bytes(data)
        try:
            os.rename(staging, path)  # whole or not at all; a concurrent build may have won
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
        return list(made)

    def prune(self) -> None:
        """Remove the entries this build did not use (older inputs, older build code)."""
        if not self.directory.is_dir():
            return
        for path in self.directory.iterdir():
            if path.name not in self._used:
                shutil.rmtree(path, ignore_errors=True)
