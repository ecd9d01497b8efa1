"""What the tag costs a page, against bare Pyodide measured in the same run (issue 5).

    .venv/bin/python bench/boot.py [--runs N] [--browsers chromium,firefox] [--dist DIR]

Serves the built tag with the real ``rtp-tag serve`` (free port, temporary database),
and from a plain static server of its own, on another origin: a page carrying the
tag, the same page without it, and a page that boots bare Pyodide from the same npm
files (gzip'd, cacheable). Drives Chromium and Firefox with Playwright and prints
each figure as the median (min-max) of N runs, the ratio against the same run's
baseline, and the targets of issue 5. A script that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rtp_tag.pytest_browsers import launch_args  # noqa: E402
from rtp_tag.pytest_plugin import free_port  # noqa: E402

RUNTIME = ROOT / "node_modules" / "pyodide"
BARE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
TYPES = {".html": "text/html; charset=utf-8", ".mjs": "text/javascript", ".js": "text/javascript",
         ".wasm": "application/wasm", ".json": "application/json", ".zip": "application/zip",
         ".css": "text/css", ".svg": "image/svg+xml"}
READY_TIMEOUT_MS = 60_000
LOAD_SAMPLES = 5
"""Page loads per run for the load-event figure, each page with and without the tag,
alternating, each in a fresh context (a first visit)."""

PROBE = """<script>
window.__b = {lt: []};
try {
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (e) { __b.lt.push([e.startTime, e.duration]); });
  }).observe({type: "longtask", buffered: true});
} catch (e) { __b.nolt = true; }
if (!PerformanceObserver.supportedEntryTypes || PerformanceObserver.supportedEntryTypes.indexOf("longtask") < 0) __b.nolt = true;
document.addEventListener("rtp:ready", function () { __b.ready = performance.now(); });
addEventListener("click", function (e) { __b.click = e.timeStamp; }, true);
</script>"""

BODY = """<title>Acme: the 2026 whitepaper</title>
<link rel="stylesheet" href="site.css">
</head><body><main>
<h1>The 2026 real-time personalization benchmark</h1>
<img src="hero.svg" width="320" height="120" alt="">
<p>Our whitepaper compares how fast sites react to what their visitors do.</p>
<button id="go" data-rtp-event="bench download">Download</button>
</main><script src="site.js"></script></body></html>"""

BARE_BOOT = """<script type="module">
import {loadPyodide} from "./bare/pyodide.mjs";
loadPyodide().then(function () { __b.ready = performance.now(); });
</script>"""

SITE = {
    "site.css": "body{font:16px/1.5 sans-serif;margin:2em}main{max-width:40em}button{padding:.5em 1em}",
    "site.js": "document.getElementById('go').title = 'Download the whitepaper';",
    "hero.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="120">'
                '<rect width="320" height="120" fill="#2a6"/></svg>',
}


def pages(tag_url: str) -> dict[str, str]:
    head = '<!doctype html><html lang="en"><head><meta charset="utf-8">' + PROBE
    tag = head + f'<script src="{tag_url}"></script>' + BODY
    bare = head + BARE_BOOT + BODY
    return {"tag.html": tag, "tag2.html": tag, "bare.html": bare, "bare2.html": bare, "notag.html": head + BODY}


class StaticSite:
    """The site's own origin: pages (never cached) and bare Pyodide (gzip'd, cacheable)."""

    def __init__(self, tag_url: str) -> None:
        files: dict[str, tuple[bytes, bytes | None, str]] = {}
        for name, text in {**pages(tag_url), **SITE}.items():
            files["/" + name] = (text.encode(), None, "no-store")
        for name in BARE_FILES:
            data = (RUNTIME / name).read_bytes()
            files["/bare/" + name] = (data, gzip.compress(data, 6), "public, max-age=31536000")
        self.files = files
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path not in site.files:
                    self.send_error(404)
                    return
                plain, gzipped, cache = site.files[path]
                body = plain
                self.send_response(200)
                self.send_header("Content-Type", TYPES.get(Path(path).suffix, "application/octet-stream"))
                self.send_header("Cache-Control", cache)
                if gzipped is not None:
                    self.send_header("Vary", "Accept-Encoding")
                    if "gzip" in self.headers.get("Accept-Encoding", ""):
                        body = gzipped
                        self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TagServer:
    """The real ``rtp-tag serve`` on a free port with a throwaway database."""

    def __init__(self, dist: Path, db: Path) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "rtp_tag.cli", "serve", "--port", str(self.port),
                   "--db", str(db), "--dist", str(dist)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if "serving on" in line:
                threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()  # type: ignore[union-attr]
                return
            if not line and self.process.poll() is not None:
                break
        self.close()
        raise SystemExit(f"rtp-tag serve did not start (dist {dist}): is the tag built? run .venv/bin/python build.py")

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


READY = "() => window.__b && window.__b.ready !== undefined"
FIGURES_JS = """() => {
  const ready = __b.ready;
  const blocking = __b.nolt ? null :
    __b.lt.filter(t => t[0] < ready).reduce((sum, t) => sum + t[1], 0);
  return {ready, blocking};
}"""
SETTLED = """async () => !window.caches || !window.rtp ||
  (await (await caches.open("rtp-tag-snapshots")).keys()).length > 0"""
SETTLE_TIMEOUT_MS = 10_000
CLICK_JS = """() => {
  const sent = performance.getEntriesByType("resource").filter(e => /\\/collect(\\?|$)/.test(e.name));
  if (!sent.length || __b.click === undefined) return null;
  const e = sent[sent.length - 1];
  return (e.requestStart || e.startTime) - __b.click;
}"""


class Sizes:
    """Encoded body bytes of the distinct URLs under a prefix that the page and its
    workers fetched, from the browser's network events (Resource Timing misses the
    requests of workers). Each URL counts once: the runtime's files are immutable and
    cacheable, so a second fetch of one is a cache hit (Chromium reports it as a
    negative size, Firefox as the full size again)."""

    def __init__(self, page: Any, prefix: str) -> None:
        self.requests: list[Any] = []
        page.on("requestfinished", lambda request: self.requests.append(request) if request.url.startswith(prefix) else None)

    def total(self) -> int | None:
        largest: dict[str, int] = {}
        try:
            for request in self.requests:
                size = int(request.sizes()["responseBodySize"])
                largest[request.url] = max(size, largest.get(request.url, 0))
        except Exception:
            return None
        return sum(largest.values())


def visit(context: Any, url: str, prefix: str, click: bool = False) -> dict[str, Any]:
    page = context.new_page()
    sizes = Sizes(page, prefix)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.goto(url, wait_until="load")
    try:
        page.wait_for_function(READY, timeout=READY_TIMEOUT_MS)
    except Exception as problem:
        raise SystemExit(f"{url} was not ready within {READY_TIMEOUT_MS / 1000:.0f} s ({problem}); "
                         "its console:\n  " + "\n  ".join(console)) from None
    figures = page.evaluate(FIGURES_JS)
    figures["bytes"] = sizes.total()
    if click:
        page.click("#go")
        page.wait_for_function(CLICK_JS, timeout=10_000)
        figures["click"] = page.evaluate(CLICK_JS)
    try:  # the visitor reads a while: the tag keeps its snapshot when the page is idle
        page.wait_for_function(SETTLED, timeout=SETTLE_TIMEOUT_MS)
    except Exception:
        pass
    page.close()
    return figures


def load_only(context: Any, url: str) -> float:
    page = context.new_page()
    page.goto(url, wait_until="load")
    load = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventStart")
    page.close()
    return float(load)


def measure(playwright: Any, name: str, runs: int, site: StaticSite, tag: TagServer) -> dict[str, list[float]]:
    browser = getattr(playwright, name).launch(**launch_args(name))
    series: dict[str, list[float]] = {}

    def add(key: str, value: float | None) -> None:
        if value is not None:
            series.setdefault(key, []).append(float(value))

    try:
        warm_up = browser.new_context()  # the browser's first navigation pays one-off costs
        load_only(warm_up, f"{site.origin}/notag.html")
        warm_up.close()
        for run in range(runs):
            for _ in range(LOAD_SAMPLES):  # the noisiest figure gets the most samples
                for kind in ("notag", "tag"):
                    context = browser.new_context()  # a first visit: nothing cached
                    add(f"{kind}.load", load_only(context, f"{site.origin}/{kind}.html"))
                    context.close()
            for kind, prefix in (("tag", tag.origin + "/"), ("bare", site.origin + "/bare/")):
                context = browser.new_context()
                first = visit(context, f"{site.origin}/{kind}.html", prefix, click=kind == "tag")
                warm = visit(context, f"{site.origin}/{kind}2.html", prefix, click=kind == "tag")
                context.close()
                add(f"{kind}.ready", first["ready"])
                add(f"{kind}.warm", warm["ready"])
                add(f"{kind}.bytes", first["bytes"])
                add(f"{kind}.blocking", first["blocking"])
                add(f"{kind}.warm_blocking", warm["blocking"])
                add(f"{kind}.click", first.get("click"))
                add(f"{kind}.warm_click", warm.get("click"))
            print(f"  {name} run {run + 1}/{runs}: tag ready {series['tag.ready'][-1]:.0f} ms, "
                  f"bare {series['bare.ready'][-1]:.0f} ms", file=sys.stderr, flush=True)
    finally:
        browser.close()
    return series


TARGETS = (
    # figure, label, unit, baseline, target ratio (or absolute), absolute?
    ("warm", "ready, warm cache", "ms", "bare.warm", 0.25, False),
    ("ready", "ready, first visit", "ms", "bare.ready", 0.9, False),
    ("bytes", "bytes, first visit", "B", "bare.bytes", 0.5, False),
    ("blocking", "long tasks before ready", "ms", "bare.blocking", 0.25, False),
    ("warm_blocking", "long tasks before ready, warm cache", "ms", "bare.warm_blocking", None, False),
    ("load", "page load event", "ms", "notag.load", 1.10, False),
    ("click", "click to request start", "ms", None, 16.0, True),
    ("warm_click", "click to request start, warm cache", "ms", None, 16.0, True),
)


def spread(values: list[float] | None, unit: str) -> str:
    if not values:
        return "n/a"
    scale, suffix = (1 / 1e6, " MB") if unit == "B" else (1, " ms")
    fmt = "{:.2f}" if unit == "B" else "{:.0f}"
    middle, low, high = (fmt.format(v * scale) for v in (statistics.median(values), min(values), max(values)))
    return f"{middle}{suffix} ({low}-{high})"


def report(name: str, series: dict[str, list[float]], runs: int) -> list[str]:
    lines = [f"### {name} ({runs} runs: median (min-max))", "",
             "| figure | rtp-tag | baseline | ratio | target | |", "|---|---|---|---|---|---|"]
    for key, label, unit, baseline, target, absolute in TARGETS:
        ours = series.get(f"tag.{key}")
        base = series.get(baseline) if baseline else None
        base_label = ("no tag: " if baseline == "notag.load" else "bare: ") + spread(base, unit) if baseline else "-"
        if not ours:
            lines.append(f"| {label} | n/a | {base_label} | - | - | n/a |")
            continue
        if absolute:
            verdict = statistics.median(ours) <= target
            lines.append(f"| {label} | {spread(ours, unit)} | - | - | <= {target:.0f} ms | {'PASS' if verdict else 'FAIL'} |")
            continue
        if not base or not statistics.median(base):
            lines.append(f"| {label} | {spread(ours, unit)} | {base_label} | - | <= {target}x | n/a |")
            continue
        ratio = statistics.median(ours) / statistics.median(base)
        if target is None:  # reported, with no target of its own
            lines.append(f"| {label} | {spread(ours, unit)} | {base_label} | {ratio:.2f}x | - | |")
            continue
        verdict = "PASS" if ratio <= target else "FAIL"
        lines.append(f"| {label} | {spread(ours, unit)} | {base_label} | {ratio:.2f}x | <= {target}x | {verdict} |")
    lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--browsers", default="chromium,firefox")
    parser.add_argument("--dist", default=str(ROOT / "dist"), help="the built tag (default ./dist)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="rtp-bench-") as tmp:
        tag = TagServer(Path(args.dist).resolve(), Path(tmp) / "events.sqlite3")
        site = StaticSite(tag.origin + "/rtp.js")
        try:
            with sync_playwright() as playwright:
                results = {name: measure(playwright, name, args.runs, site, tag) for name in args.browsers.split(",")}
        finally:
            site.close()
            tag.close()
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"]
    print(f"\nrtp-tag boot bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load average {' '.join(load)}\n")
    for name, series in results.items():
        print("\n".join(report(name, series, args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
