"""A rebuild keeps the last builds' package and runtime files (server/build only: not
run under Pyodide)."""

from __future__ import annotations

import json
from pathlib import Path

from rtp_tag.kept_builds import builds_of, carry_over
from rtp_tag.layout import BUILDS, KEPT_BUILDS, MANIFEST, SHIPPED_RUNTIME


def fake_build(root: Path, number: int, runtime: str, previous: Path | None) -> tuple[Path, dict[str, str]]:
    """A dist/ with a package and (top level) runtime files of its own, built after ``previous``."""
    dist = root / f"dist{number}"
    dist.mkdir()
    package = f"rtp_tag-{number:012x}.zip"
    for name in (package, package + ".br", *SHIPPED_RUNTIME, *(n + ".gz" for n in SHIPPED_RUNTIME)):
        (dist / name).write_text(f"{name} of build {number}, runtime {runtime}")
    current = {"runtime": runtime, "package": package}
    carry_over(previous or root / "none", dist, current)
    return dist, current


def test_a_rebuild_keeps_the_last_builds_packages_and_runtimes_and_drops_older_ones(tmp_path):
    made = []
    previous = None
    for number, runtime in enumerate(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"]):
        previous, current = fake_build(tmp_path, number, runtime, previous)
        made.append(current)
    newest = previous
    assert builds_of(newest) == made[::-1][:KEPT_BUILDS]
    # Build 3's package and runtime at the top; builds 2 and 1 kept, with their runtimes.
    assert (newest / made[2]["package"]).read_text().endswith("build 2, runtime bbbbbbbbbbbb")
    assert (newest / (made[1]["package"] + ".br")).is_file()
    assert (newest / "rt-bbbbbbbbbbbb" / "pyodide.asm.wasm").read_text() == (
        "pyodide.asm.wasm of build 2, runtime bbbbbbbbbbbb"
    )
    assert (newest / "rt-aaaaaaaaaaaa" / "pyodide.asm.wasm.gz").read_text().endswith("build 1, runtime aaaaaaaaaaaa")
    assert not (newest / "rt-cccccccccccc").exists()  # the newest runtime is served from the top level
    assert not (newest / made[0]["package"]).exists()  # the fourth build back is gone


def test_a_dist_from_before_the_list_counts_as_one_build_read_from_its_manifest(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    manifest = {name: {"integrity": f"sha384-{name}"} for name in SHIPPED_RUNTIME}
    manifest["rtp_tag-0123456789ab.zip"] = {"integrity": "sha384-x"}
    (old / MANIFEST).write_text(json.dumps(manifest))
    (old / "rtp_tag-0123456789ab.zip").write_text("old package")
    [build] = builds_of(old)
    assert build["package"] == "rtp_tag-0123456789ab.zip"
    new = tmp_path / "new"
    new.mkdir()
    carry_over(old, new, {"runtime": build["runtime"], "package": "rtp_tag-ba9876543210.zip"})
    assert (new / "rtp_tag-0123456789ab.zip").read_text() == "old package"
    assert len(json.loads((new / BUILDS).read_text())) == 2


def test_a_rebuild_with_nothing_changed_lists_the_build_once(tmp_path):
    first, current = fake_build(tmp_path, 0, "aaaaaaaaaaaa", None)
    second = tmp_path / "again"
    second.mkdir()
    assert carry_over(first, second, current) == [current]
