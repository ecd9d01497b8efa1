"""What the tag costs a page, against bare Pyodide and a minimal JavaScript tag
measured in the same run (issues 5 and 14).

    .venv/bin/python bench/boot.py [--runs N] [--browsers chromium,firefox] [--dist DIR]

Serves the built tag with the real ``rtp-tag serve`` (free port, temporary database),
and from a plain static server of its own, on another origin: a page carrying the
tag, the same page without it, the same page with the tag through Marketo's async
snippet, the same page with a minimal JavaScript tag (inline, or through the same
snippet from a third origin), and a page that boots bare Pyodide from the same npm
files (gzip'd, cacheable). Drives Chromium and Firefox with Playwright and prints
each figure as the median (min-max) of N runs, the ratio against the same run's
baseline, and the targets of issue 14. A script that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import os
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
LOAD_SAMPLES = 8
"""Page loads per run for the load-event figures, of each variant of the page
(``LOAD_PAGES``), one round of the variants back to back, each in a fresh context (a
first visit): with the default 5 runs, 40 samples a variant. 15-20 were too few here:
the ratio of medians of one build moved from 0.90x to 1.14x between runs."""
LOAD_PAGES = ("notag", "jsext", "asynctag", "tag")

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
/* Where a click's time goes: each Web Storage and fetch() call, timed (both tags alike). */
__b.calls = [];
[[Storage.prototype, "getItem", "storage"], [Storage.prototype, "setItem", "storage"],
 [Storage.prototype, "removeItem", "storage"], [window, "fetch", "fetch"]].forEach(function (spec) {
  var original = spec[0][spec[1]];
  spec[0][spec[1]] = function () {
    var start = performance.now();
    try { return original.apply(spec[1] === "fetch" ? window : this, arguments); }
    finally { __b.calls.push([spec[2], start, performance.now()]); }
  };
});
</script>"""

BODY = """<title>Acme: the 2026 whitepaper</title>
<link rel="stylesheet" href="site.css">
</head><body><main>
<h1>The 2026 real-time personalization benchmark</h1>
<img src="hero.svg" width="320" height="120" alt="">
<p>Our whitepaper compares how fast sites react to what their visitors do.</p>
<button id="go" data-rtp-event="bench download">Download</button>
<button id="later" data-rtp-event="bench subscribe">Subscribe</button>
</main><script src="site.js"></script></body></html>"""

JS_TAG = """(function (w, d) {
  /* The minimal JavaScript tag: what rtp-tag does on a data-rtp-event click, in 20 lines. */
  var collect = COLLECT, store = w.localStorage, session = w.sessionStorage;
  function id() { return w.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2); }
  function kept(storage, key) {
    var value = storage.getItem(key);
    if (!value) { value = id(); storage.setItem(key, value); }
    return value;
  }
  d.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("[data-rtp-event]");
    if (!el) return;
    var event = {type: "event", values: [el.getAttribute("data-rtp-event")], event_id: id(),
                 session_id: kept(session, "jstag:session"), visitor_id: kept(store, "jstag:visitor"),
                 url: location.href, ts: Date.now()};
    fetch(collect, {method: "POST", body: JSON.stringify([event]), keepalive: true, credentials: "omit",
                    mode: "cors", headers: {"Content-Type": "text/plain;charset=UTF-8"}});
  }, true);
  if (w.__b) __b.ready = performance.now();
})(window, document);"""
"""The baseline of the click figures, and (as a file on a third origin, through the
async snippet) of the load figure: any third-party tag pays that request before load."""

SNIPPET = """<script>
(function(c,h,a,f,e,i){c[a]=c[a]||function(){(c[a].q=c[a].q||[]).push(arguments)};
 c[a].p=e;c[a].a=i;var g=h.createElement("script");g.async=true;g.type="text/javascript";
 g.src=f;var b=h.getElementsByTagName("script")[0];b.parentNode.insertBefore(g,b);
})(window,document,"rtp","SCRIPT_URL","POD_URL","561-HYG-937");
</script>"""
"""Marketo's current deploy snippet, verbatim but for its arguments."""

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


def js_tag(collector: str) -> str:
    return JS_TAG.replace("COLLECT", repr(collector + "/collect"))


def pages(tag_origin: str, third_origin: str) -> dict[str, str]:
    head = '<!doctype html><html lang="en"><head><meta charset="utf-8">' + PROBE
    tag = head + f'<script src="{tag_origin}/rtp.js"></script>' + BODY
    bare = head + BARE_BOOT + BODY
    jstag = head + "<script>" + js_tag(tag_origin) + "</script>" + BODY
    snippet = SNIPPET.replace("POD_URL", tag_origin)
    return {"tag.html": tag, "tag2.html": tag, "bare.html": bare, "bare2.html": bare, "notag.html": head + BODY,
            "jstag.html": jstag, "jstag2.html": jstag,
            "asynctag.html": head + snippet.replace("SCRIPT_URL", f"{tag_origin}/rtp.js") + BODY,
            "jsext.html": head + snippet.replace("SCRIPT_URL", f"{third_origin}/jstag.js") + BODY}


def site_files(tag_origin: str, third_origin: str) -> dict[str, tuple[bytes, bytes | None, str]]:
    """The site's pages (never cached) and bare Pyodide (gzip'd, cacheable)."""
    files: dict[str, tuple[bytes, bytes | None, str]] = {}
    for name, text in {**pages(tag_origin, third_origin), **SITE}.items():
        files["/" + name] = (text.encode(), None, "no-store")
    for name in BARE_FILES:
        data = (RUNTIME / name).read_bytes()
        files["/bare/" + name] = (data, gzip.compress(data, 6), "public, max-age=31536000")
    return files


def third_party_files(tag_origin: str) -> dict[str, tuple[bytes, bytes | None, str]]:
    """The minimal JavaScript tag as a file, cached like rtp.js (5 minutes)."""
    script = js_tag(tag_origin).encode()
    return {"/jstag.js": (script, gzip.compress(script, 6), "public, max-age=300")}


class StaticSite:
    """A plain origin serving fixed files: the site's, or a third party's script."""

    def __init__(self, files: dict[str, tuple[bytes, bytes | None, str]]) -> None:
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
        raise SystemExit(f"rtp-tag serve did not start (dist {dist}): is the tag built? run .venv/bin/rtp-tag build")

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
COLLECTS = """() => performance.getEntriesByType("resource").filter(e => /\\/collect(\\?|$)/.test(e.name))"""
CLICK_JS = """(n) => {
  const e = (COLLECTS)()[n];
  return (e.requestStart || e.startTime) - __b.click;
}""".replace("COLLECTS", COLLECTS)
SPENT_JS = """() => {
  const calls = __b.calls.filter(c => c[1] >= __b.click);
  const fetched = calls.find(c => c[0] === "fetch");
  if (!fetched) return null;
  const storage = calls.filter(c => c[0] === "storage" && c[1] < fetched[1]);
  return {to_fetch: fetched[1] - __b.click, in_fetch: fetched[2] - fetched[1],
          storage: storage.reduce((sum, c) => sum + c[2] - c[1], 0), storage_calls: storage.length};
}"""
"""Of the latest click: when its fetch() was called, how long that call took, and the
time spent in Web Storage calls before it."""
KEPT_JS = """async () => {
  if (!window.caches) return null;
  let total = 0;
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) total += (await (await cache.match(request)).arrayBuffer()).byteLength;
  }
  return total;
}"""
"""Bytes the page's origin keeps in Cache Storage (the tag's memory snapshot)."""
LATER_CLICK_PAUSE_MS = 300
"""Between the first click's request and the later click: a reader's pace, not an assertion."""


class PeakMemory:
    """The largest resident set of any renderer (Chromium) or content (Firefox) process
    of the browsers this script started, sampled every 50 ms while a page is visited
    (the processes looked up every 0.5 s): the process holding the page and its
    workers. Linux only (/proc); None elsewhere."""

    def __init__(self) -> None:
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        if Path("/proc/self/status").exists():
            self.peak = 0
            self._thread.start()
        return self

    def __exit__(self, *problem: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _sample(self) -> None:
        processes: list[int] = []
        page_size = os.sysconf("SC_PAGE_SIZE")
        for tick in range(sys.maxsize):
            if tick % 10 == 0:
                processes = _content_processes()
            for pid in processes:
                try:
                    resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_size
                except (OSError, ValueError, IndexError):
                    continue
                self.peak = max(self.peak or 0, resident)
            if self._stop.wait(0.05):
                return


def _content_processes() -> list[int]:
    """The renderer or content processes descending from this one."""
    parents: dict[int, int] = {}
    commands: dict[int, bytes] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            commands[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
    ours, found = {os.getpid()}, True
    while found:
        found = False
        for pid, parent in parents.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                found = True
    return [pid for pid in ours
            if b"--type=renderer" in commands.get(pid, b"") or b"-contentproc" in commands.get(pid, b"")]


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


def click_to_request(page: Any, button: str) -> tuple[float, dict[str, float] | None]:
    """From a click on ``button`` to the start of the /collect request it causes (each
    button once a page: the tag counts an event value once a session, a tab's), and
    where that time went (``SPENT_JS``)."""
    before = len(page.evaluate(f"() => ({COLLECTS})().map(e => e.name)"))
    page.click(button)
    page.wait_for_function(f"() => ({COLLECTS})().length > {before}", timeout=10_000)
    return float(page.evaluate(CLICK_JS, before)), page.evaluate(SPENT_JS)


def visit(context: Any, url: str, prefix: str, click: bool = False) -> dict[str, Any]:
    page = context.new_page()
    sizes = Sizes(page, prefix)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    with PeakMemory() as memory:
        page.goto(url, wait_until="load")
        try:
            page.wait_for_function(READY, timeout=READY_TIMEOUT_MS)
        except Exception as problem:
            raise SystemExit(f"{url} was not ready within {READY_TIMEOUT_MS / 1000:.0f} s ({problem}); "
                             "its console:\n  " + "\n  ".join(console)) from None
        figures = page.evaluate(FIGURES_JS)
        figures["bytes"] = sizes.total()
        if click:
            figures["click"], figures["click_spent"] = click_to_request(page, "#go")
            page.wait_for_timeout(LATER_CLICK_PAUSE_MS)
            figures["later_click"], figures["later_click_spent"] = click_to_request(page, "#later")
        try:  # the visitor reads a while: the tag keeps its snapshot when the page is idle
            page.wait_for_function(SETTLED, timeout=SETTLE_TIMEOUT_MS)
        except Exception:
            pass
    figures["memory"] = memory.peak or None
    figures["kept"] = page.evaluate(KEPT_JS)
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
                for kind in LOAD_PAGES:
                    context = browser.new_context()  # a first visit: nothing cached
                    add(f"{kind}.load", load_only(context, f"{site.origin}/{kind}.html"))
                    context.close()
            for kind, prefix in (("tag", tag.origin + "/"), ("bare", site.origin + "/bare/"), ("js", "-")):
                page_name = "jstag" if kind == "js" else kind
                context = browser.new_context()
                first = visit(context, f"{site.origin}/{page_name}.html", prefix, click=kind != "bare")
                warm = visit(context, f"{site.origin}/{page_name}2.html", prefix, click=kind != "bare")
                context.close()
                add(f"{kind}.ready", first["ready"])
                add(f"{kind}.warm", warm["ready"])
                add(f"{kind}.bytes", first["bytes"])
                add(f"{kind}.blocking", first["blocking"])
                add(f"{kind}.warm_blocking", warm["blocking"])
                add(f"{kind}.click", first.get("click"))
                add(f"{kind}.later_click", first.get("later_click"))
                add(f"{kind}.warm_click", warm.get("click"))
                for click in ("click", "later_click"):
                    for part, value in (first.get(f"{click}_spent") or {}).items():
                        add(f"{kind}.{click}.{part}", value)
                add(f"{kind}.memory", first["memory"])
                add(f"{kind}.kept", first["kept"] if kind != "js" else None)
            print(f"  {name} run {run + 1}/{runs}: tag ready {series['tag.ready'][-1]:.0f} ms, "
                  f"bare {series['bare.ready'][-1]:.0f} ms", file=sys.stderr, flush=True)
    finally:
        browser.close()
    return series


TARGETS = (
    # figure, label, unit, baseline, target ratio (or absolute), absolute?  (issue 14's targets)
    ("tag.warm", "ready, warm cache", "ms", "bare.warm", 0.15, False),
    ("tag.ready", "ready, first visit", "ms", "bare.ready", 0.5, False),
    ("tag.bytes", "bytes, first visit", "B", "bare.bytes", 0.45, False),
    ("tag.blocking", "long tasks before ready", "ms", "bare.blocking", None, False),
    ("tag.warm_blocking", "long tasks before ready, warm cache", "ms", "bare.warm_blocking", None, False),
    ("asynctag.load", "page load event, async snippet", "ms", "jsext.load", 1.05, False),
    ("tag.load", "page load event, <script src>", "ms", "jsext.load", None, False),
    ("asynctag.load", "page load event, async snippet", "ms", "notag.load", None, False),
    ("tag.load", "page load event, <script src>", "ms", "notag.load", None, False),
    ("jsext.load", "page load event, JS tag (async snippet)", "ms", "notag.load", None, False),
    ("tag.click", "click to request start, first after ready", "ms", "js.click", 2.0, False),
    ("tag.later_click", "click to request start, a later click", "ms", "js.later_click", 2.0, False),
    ("tag.warm_click", "click to request start, warm cache", "ms", "js.warm_click", None, False),
    ("tag.click.to_fetch", "  first click: to the fetch() call", "ms", "js.click.to_fetch", None, False),
    ("tag.click.in_fetch", "  first click: inside fetch()", "ms", "js.click.in_fetch", None, False),
    ("tag.click.storage", "  first click: Web Storage calls before fetch()", "ms", "js.click.storage", None, False),
    ("tag.click.storage_calls", "  first click: how many", "n", "js.click.storage_calls", None, False),
    ("tag.later_click.to_fetch", "  later click: to the fetch() call", "ms", "js.later_click.to_fetch", None, False),
    ("tag.later_click.in_fetch", "  later click: inside fetch()", "ms", "js.later_click.in_fetch", None, False),
    ("tag.later_click.storage", "  later click: Web Storage calls before fetch()", "ms", "js.later_click.storage",
     None, False),
    ("tag.kept", "Cache Storage kept by the site", "B", None, 8e6, True),
    ("tag.memory", "peak memory, first visit (page + worker)", "B", "bare.memory", 1.2, False),
)
BASELINES = {"bare": "bare: ", "notag": "no tag: ", "jsext": "JS tag: ", "js": "JS tag: "}


def spread(values: list[float] | None, unit: str) -> str:
    if not values:
        return "n/a"
    scale, suffix = {"B": (1 / 1e6, " MB"), "n": (1, "")}.get(unit, (1, " ms"))
    fmt = "{:.2f}" if unit == "B" else "{:.1f}" if suffix == " ms" and max(values) < 10 else "{:.0f}"
    middle, low, high = (fmt.format(v * scale) for v in (statistics.median(values), min(values), max(values)))
    return f"{middle}{suffix} ({low}-{high})"


def paired_ratio(ours: list[float], base: list[float]) -> float:
    """The median of the per-round ratios of two load figures: a round loads every
    variant back to back, so the machine's drift from minute to minute (up to 2x on
    this 2-core VM) cancels, where a ratio of medians keeps it."""
    return statistics.median(a / b for a, b in zip(ours, base, strict=True))


def report(name: str, series: dict[str, list[float]], runs: int) -> list[str]:
    lines = [f"### {name} ({runs} runs: median (min-max))", "",
             "| figure | rtp-tag | baseline | ratio | target | |", "|---|---|---|---|---|---|"]
    for key, label, unit, baseline, target, absolute in TARGETS:
        ours = series.get(key)
        base = series.get(baseline) if baseline else None
        base_label = BASELINES[baseline.split(".")[0]] + spread(base, unit) if baseline else "-"
        if not ours:
            lines.append(f"| {label} | n/a | {base_label} | - | - | n/a |")
            continue
        if absolute:
            assert target is not None
            verdict = statistics.median(ours) <= target
            shown = f"{target / 1e6:.0f} MB" if unit == "B" else f"{target:.0f} ms"
            lines.append(f"| {label} | {spread(ours, unit)} | - | - | <= {shown} | {'PASS' if verdict else 'FAIL'} |")
            continue
        if not base or not statistics.median(base):
            shown = "-" if target is None else f"<= {target}x"
            lines.append(f"| {label} | {spread(ours, unit)} | {base_label} | - | {shown} | n/a |")
            continue
        ratio = statistics.median(ours) / statistics.median(base)
        shown_ratio = f"{ratio:.2f}x"
        if key.endswith(".load"):
            ratio, of_medians = paired_ratio(ours, base), ratio
            shown_ratio = f"{ratio:.2f}x (of medians: {of_medians:.2f}x)"
        if target is None:  # reported, with no target of its own
            lines.append(f"| {label} | {spread(ours, unit)} | {base_label} | {shown_ratio} | - | |")
            continue
        verdict = "PASS" if ratio <= target else "FAIL"
        lines.append(f"| {label} | {spread(ours, unit)} | {base_label} | {shown_ratio} | <= {target}x | {verdict} |")
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
        third = StaticSite(third_party_files(tag.origin))
        site = StaticSite(site_files(tag.origin, third.origin))
        try:
            with sync_playwright() as playwright:
                results = {name: measure(playwright, name, args.runs, site, tag) for name in args.browsers.split(",")}
        finally:
            site.close()
            third.close()
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
