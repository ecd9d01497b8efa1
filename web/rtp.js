/* rtp-tag loader. Defines window.rtp at once, queues calls until the Python tag is
 * ready, boots Pyodide after the page has loaded, and hands the calls over. All of
 * the tag's logic is Python (rtp_tag/); this file only queues, boots and forwards.
 * It never throws into the page and never delays or cancels a click. */
(function (w, d) {
  "use strict";
  var BUILD = {"package": "rtp_tag.zip", "integrity": null}; /* rewritten by build.py */
  var BOOT_TIMEOUT_MS = 60000;
  var SAVED_PREFIX = "rtp:early:"; /* + start time + ":" + page id: one key per page, oldest first by name */
  var SAVED_PAGES = 20; /* at most this many pages' saved calls are kept ... */
  var SAVED_AGE_MS = 24 * 3600 * 1000; /* ... and none older than a day */
  var ZONE_TIMEOUT_MS = 1500;
  var started = Date.now();
  var PRIVACY_KEY = "rtp:privacy"; /* the visitor's consent or opt-out (rtp_tag/consent.py) */
  var current = w.rtp;
  if (current && current.__rtpTag) return; /* included twice: the first copy serves */

  var script = d.currentScript || findScript();
  var scriptUrl = script && script.src ? script.src : location.href;
  var base = new URL(".", scriptUrl).href;
  var queue = [];
  var tag = null; /* the Python tag, once ready */
  var failed = false;
  var pageId = newId();
  var campaignsAsked = false; /* a single-page app's new route shows campaigns again */
  var debug = /(^|[?&])rtp_debug=1(&|$)/.test(location.search.slice(1)) || !!(script && script.hasAttribute("data-debug"));

  function findScript() {
    var all = d.getElementsByTagName("script");
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/rtp\.js(\?|#|$)/.test(all[i].src)) return all[i];
    }
    return null;
  }

  function newId() {
    var bytes = new Uint8Array(16);
    w.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function meta() {
    return {url: location.href, referrer: d.referrer, ts: Date.now(), id: newId()};
  }

  /* A queued call keeps its data as it was when made: a page that reuses and changes
   * its customData object before the runtime is ready must not lose the first value.
   * Only plain objects and arrays are copied; anything else is handed over as is. */
  function snapshot(value, depth) {
    if (value === null || typeof value !== "object" || depth > 8) return value;
    try {
      if (Array.isArray(value)) {
        return value.length > 1000 ? value : value.map(function (item) { return snapshot(item, depth + 1); });
      }
      var proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return value;
      var copy = {};
      Object.keys(value).forEach(function (key) { copy[key] = snapshot(value[key], depth + 1); });
      return copy;
    } catch (error) {
      return value; /* a throwing getter or Proxy: the tag reports it when it reads the call */
    }
  }

  function rtp() {
    dispatch(Array.prototype.slice.call(arguments), meta());
  }

  function dispatch(args, callMeta) {
    if (args[0] === "get" && args[1] === "campaign") campaignsAsked = true;
    if (!tag) {
      queue.push({args: snapshot(args, 0), meta: callMeta});
      if (failed) saveQueue();
      return;
    }
    try {
      tag.call(args, callMeta);
    } catch (error) {
      console.error("rtp: " + error);
    }
  }
  rtp.__rtpTag = true;
  rtp.loaded = false;

  /* rtp.checkPattern(str, pattern): synchronous, so before the runtime is ready this
   * copy of rtp_tag/pattern.py answers; the Python answers once it is. Both are tested
   * against tests/unit/check_pattern_cases.json. */
  function checkPattern(text, pattern) {
    if (typeof text !== "string" || typeof pattern !== "string") {
      console.error("rtp: rtp.checkPattern(str, pattern) compares two strings, not " + describe(text) +
        " and " + describe(pattern) + "; answered false");
      return false;
    }
    var parts = pattern.toLowerCase().split("%");
    text = text.toLowerCase();
    if (parts.length === 1) return text === parts[0];
    var first = parts[0], last = parts[parts.length - 1], end = text.length - last.length;
    if (end < first.length || text.slice(0, first.length) !== first || text.slice(end) !== last) return false;
    var position = first.length;
    for (var i = 1; i < parts.length - 1; i++) {
      var found = text.slice(0, end).indexOf(parts[i], position);
      if (found < 0) return false;
      position = found + parts[i].length;
    }
    return true;
  }

  function describe(value) {
    if (value === null || value === undefined) return "null";
    if (Array.isArray(value)) return "an array";
    return {string: "a string", number: "a number", boolean: "a boolean", "function": "a function"}[typeof value] || "an object";
  }

  rtp.checkPattern = function (text, pattern) {
    try {
      return tag ? !!tag.check_pattern(text, pattern) : checkPattern(text, pattern);
    } catch (error) {
      console.error("rtp: " + error);
      return false;
    }
  };

  /* The reference's user context: documented, not offered here. Reading it or calling
   * it logs one clear error and gives an empty answer; it never throws into the page. */
  function unsupported(what) {
    console.error("rtp: " + what + " is not supported by rtp-tag; it is always empty here");
    return [];
  }
  rtp.userContext = {};
  ["viewedCampaigns", "clickedCampaigns"].forEach(function (name) {
    Object.defineProperty(rtp.userContext, name, {
      enumerable: true,
      get: function () { return unsupported("rtp.userContext." + name); }
    });
  });
  rtp.userContextReady = function () {
    unsupported("rtp.userContextReady(fn)");
  };
  if (current) { /* the async snippet's stub: keep its settings and queued calls */
    rtp.a = current.a;
    rtp.p = current.p;
    rtp.e = current.e;
    var stubbed = current.q || [];
    for (var i = 0; i < stubbed.length; i++) {
      queue.push({args: Array.prototype.slice.call(stubbed[i]), meta: meta()});
    }
  }
  w.rtp = rtp;

  /* Declarative buttons: one capture-phase listener, so elements added later work too. */
  d.addEventListener("click", function (event) {
    try {
      var target = event.target;
      var element = target && target.closest ? target.closest("[data-rtp-event]") : null;
      if (element) sendValue(element.getAttribute("data-rtp-event"));
    } catch (error) {
      console.error("rtp: " + error);
    }
  }, true);

  /* A data-rtp-event click, rtp('send', 'event', {value: VALUE}): once the tag is ready,
   * handed over as plain strings, so Python walks no JavaScript object to read it. */
  function sendValue(value) {
    if (!tag) return rtp("send", "event", {value: value});
    var callMeta = meta();
    try {
      tag.send_value(value, callMeta.url, callMeta.referrer, callMeta.ts, callMeta.id);
    } catch (error) {
      console.error("rtp: " + error);
    }
  }

  /* Single-page apps (data-spa on the script tag): a pushState/replaceState to a new
   * path or query, and a popstate, send a view of the new URL with the previous one as
   * its referrer, and show campaigns again when the page asked for them. */
  function withoutHash(url) {
    return url.split("#")[0];
  }

  function watchHistory() {
    var shown = location.href;
    function moved() {
      var previous = shown;
      shown = location.href;
      if (withoutHash(shown) === withoutHash(previous)) return;
      var moveMeta = meta();
      moveMeta.referrer = previous;
      dispatch(["send", "view"], moveMeta);
      if (campaignsAsked) dispatch(["get", "campaign", true], meta());
    }
    ["pushState", "replaceState"].forEach(function (name) {
      var original = history[name];
      history[name] = function () {
        var result = original.apply(this, arguments);
        try { moved(); } catch (error) { console.error("rtp: " + error); }
        return result;
      };
    });
    w.addEventListener("popstate", moved);
  }
  if (script && script.hasAttribute("data-spa")) watchHistory();

  /* No flash of default content: [data-rtp-zone] elements stay hidden (visibility, so
   * nothing moves) until this visitor's campaigns are answered (browser.py dispatches
   * rtp:campaigns), or data-zone-timeout ms after the tag started. A constructed
   * stylesheet: a strict Content-Security-Policy allows it, unlike a <style> element. */
  function hideZones() {
    var timeout = parseInt(script && script.getAttribute("data-zone-timeout"), 10);
    if (!(timeout >= 0)) timeout = ZONE_TIMEOUT_MS;
    var sheet;
    try {
      sheet = new CSSStyleSheet();
      sheet.replaceSync("[data-rtp-zone]{visibility:hidden!important}");
      d.adoptedStyleSheets = d.adoptedStyleSheets.concat([sheet]);
    } catch (error) {
      return; /* no constructed stylesheets: zones are never hidden */
    }
    var show = function () {
      if (!sheet) return;
      d.adoptedStyleSheets = d.adoptedStyleSheets.filter(function (other) { return other !== sheet; });
      sheet = null;
      d.removeEventListener("rtp:campaigns", show);
    };
    d.addEventListener("rtp:campaigns", show);
    setTimeout(show, Math.max(0, timeout - (Date.now() - started)));
  }
  hideZones();

  /* Calls still queued when the page is left (or the runtime failed) are saved for
   * the next page's tag; each keeps its id, so a resend is never counted twice. Only
   * events and views: a redirect belongs to the page it was asked on. The saved pages
   * are bounded: the newest SAVED_PAGES, none older than SAVED_AGE_MS. */
  function saveQueue() {
    if (tag || !queue.length || !mayStore()) return;
    try {
      var keep = [], save = [];
      for (var i = 0; i < queue.length; i++) {
        var saving = queue[i].args[0] === "send" && queue[i].args[1] !== "redirect";
        (saving ? save : keep).push(queue[i]);
      }
      var key = SAVED_PREFIX + started + ":" + pageId;
      var saved = JSON.parse(localStorage.getItem(key) || "[]");
      localStorage.setItem(key, JSON.stringify(saved.concat(save)));
      queue = keep;
      savedKeys().slice(0, -SAVED_PAGES).forEach(dropSaved);
    } catch (error) {
      /* storage refused or an argument is not JSON: the calls stay queued */
    }
  }

  /* The saved pages' keys, oldest first; keys older than SAVED_AGE_MS are dropped. */
  function savedKeys() {
    var keys = Object.keys(localStorage).filter(function (key) { return key.indexOf(SAVED_PREFIX) === 0; });
    return keys.sort(function (a, b) { return savedAt(a) - savedAt(b); }).filter(function (key) {
      if (savedAt(key) > Date.now() - SAVED_AGE_MS) return true;
      dropSaved(key);
      return false;
    });
  }

  function savedAt(key) { /* a key of an older loader ("rtp:early:" + id) counts as new: its calls' ts still bound it */
    var time = /^(\d+):/.exec(key.slice(SAVED_PREFIX.length));
    return time ? Number(time[1]) : Date.now();
  }

  function dropSaved(key) {
    localStorage.removeItem(key);
    console.warn("rtp: dropped the calls saved by a page at " + new Date(savedAt(key)).toISOString() +
      " where the tag could not start: the calls of at most " + SAVED_PAGES + " such pages, none older than " +
      SAVED_AGE_MS / 3600000 + " h, are kept");
  }

  /* Whether the calls may be saved before Python is up: consent.py's decision, for
   * the loader's one write. Refuses when the visitor opted out or refused, when the
   * browser's GPC or (honoured) DNT says no, and under consent mode until the
   * visitor's consent is remembered or among the queued calls. */
  function mayStore() {
    try {
      var record = JSON.parse(localStorage.getItem(PRIVACY_KEY) || "{}") || {};
      if (record.optedOut || record.consent === false) return false;
      if (navigator.globalPrivacyControl === true && (attr("data-gpc") || "").trim().toLowerCase() !== "ignore") return false;
      if (on(attr("data-do-not-track")) && navigator.doNotTrack === "1") return false;
      var allowed = record.consent === true || !on(attr("data-require-consent"));
      for (var i = 0; i < queue.length && record.consent !== true; i++) {
        var args = queue[i].args;
        if (args[0] === "optOut" || (args[0] === "consent" && args[1] === false)) return false;
        if (args[0] === "requireConsent") allowed = false;
        if (args[0] === "consent" && args[1] === true) allowed = true;
      }
      return allowed;
    } catch (error) {
      return false; /* storage refused: nothing can be saved anyway */
    }
  }

  function attr(name) {
    return script ? script.getAttribute(name) : null;
  }

  function on(value) { /* a boolean attribute: present, and not "false" */
    return value !== null && value.trim().toLowerCase() !== "false";
  }

  function takeSaved() {
    var calls = [];
    try {
      var keys = savedKeys();
      keys.slice(0, -SAVED_PAGES).forEach(dropSaved);
      keys.slice(-SAVED_PAGES).forEach(function (key) {
        var saved = JSON.parse(localStorage.getItem(key) || "[]");
        localStorage.removeItem(key);
        if (Array.isArray(saved)) calls = calls.concat(saved);
      });
    } catch (error) {
      /* storage refused: nothing was saved here either */
    }
    var oldest = Date.now() - SAVED_AGE_MS;
    return calls.filter(function (call) { return call && call.meta && call.meta.ts > oldest; })
      .sort(function (a, b) { return a.meta.ts - b.meta.ts; });
  }

  w.addEventListener("pagehide", saveQueue);
  w.addEventListener("pageshow", function (event) {
    if (event.persisted && !tag && !failed) queue = takeSaved().concat(queue);
  });

  /* Dry runs of a data-rtp-event click's path (rtp_tag/rehearsal.py: they store and
   * send nothing): the first at once, so the visitor's first click does not pay for the
   * first run of each step (the browser compiles the runtime's functions when first
   * called); then REHEARSALS - 1 more, one per idle moment, so that the browser's
   * optimizing compiler takes up those functions now. Measured in Chromium
   * (bench/README.md): its WebAssembly tier-up, with its type feedback for inlining,
   * ran inside the visitor's second and third clicks instead (10-13 ms of each, where
   * a click is 3-4 ms once it is done); 5 runs were too few, 50 enough. */
  var REHEARSALS = 50;

  function rehearse() {
    var runs = 0;
    var idle = w.requestIdleCallback || function (callback) { setTimeout(callback, 0); };
    (function again(deadline) {
      /* An idle moment too short for a run (one takes 2-13 ms): wait for a longer one. */
      if (deadline && !deadline.didTimeout && deadline.timeRemaining() < 15) return idle(again);
      try {
        tag.rehearse(["send", "event", {value: "rtp:rehearsal"}], meta());
      } catch (error) {
        console.error("rtp: " + error);
        return;
      }
      if (++runs < REHEARSALS) idle(again);
    })();
  }

  /* A POST of ``body`` to the collector, started at once: its options built here, from
   * the two strings Python hands over (converted from Python they took 0.2-6 ms of a
   * click in Chromium). ``dry``: build them, send nothing (the rehearsal).
   * A simple request (no preflight); keepalive: it outlives the page; ``timeoutMs``
   * (browser.py's REQUEST_TIMEOUT_MS): a hung request must not hold up retries. */
  function post(url, body, dry, timeoutMs) {
    var init = {method: "POST", body: body, keepalive: true, credentials: "omit", mode: "cors",
      headers: {"Content-Type": "text/plain;charset=UTF-8"}};
    if (w.AbortSignal && AbortSignal.timeout) init.signal = AbortSignal.timeout(timeoutMs);
    return dry ? null : fetch(url, init);
  }

  function settings() {
    return {post: post,
      scriptUrl: scriptUrl, pod: rtp.p || null, account: rtp.a || null,
      endpoint: attr("data-endpoint"), accountAttribute: attr("data-account"),
      sessionTimeout: attr("data-session-timeout"),
      globalPrivacyControl: navigator.globalPrivacyControl === true, doNotTrack: navigator.doNotTrack || null,
      gpcAttribute: attr("data-gpc"), doNotTrackAttribute: attr("data-do-not-track"),
      requireConsentAttribute: attr("data-require-consent"), debug: debug
    };
  }

  /* Our package is fetched while the runtime loads, and unpacked once it is up. */
  function fetchPackage() {
    var init = BUILD.integrity ? {integrity: BUILD.integrity} : {};
    var packaged = fetch(base + BUILD.package, init).then(function (response) {
      if (!response.ok) throw new Error(BUILD.package + " answered HTTP " + response.status);
      return response.arrayBuffer();
    });
    packaged.catch(function () { /* reported by loadPackage */ });
    return packaged;
  }

  /* The tag's Python package, imported. A snapshot made by the boot worker holds it
   * already; otherwise it is unpacked from ``packaged`` and imported here, and
   * ``preloaded``, when given, is called once the modules that need no page are. */
  function loadPackage(pyodide, packaged, preloaded) {
    /* reseeded: every page restored from one snapshot would replay the same sequence */
    if (pyodide.runPython("import random, sys\nrandom.seed()\n'rtp_tag.browser' in sys.modules")) {
      return Promise.resolve(pyodide.pyimport("rtp_tag.browser"));
    }
    return packaged.then(function (buffer) {
      pyodide.unpackArchive(buffer, "zip", {extractDir: "/home/pyodide/rtp"});
      pyodide.runPython("import sys\nif '/home/pyodide/rtp' not in sys.path: sys.path.insert(0, '/home/pyodide/rtp')");
      if (preloaded && BUILD.preload) {
        pyodide.runPython("import " + BUILD.preload.join(", "));
        preloaded();
        /* a snapshot-making runtime sees the page through a recording proxy, on which
         * getters such as location.href throw: give the tag the page itself */
        pyodide.registerJsModule("js", w);
        pyodide.runPython("import sys\nsys.modules.pop('js', None)");
      }
      return pyodide.pyimport("rtp_tag.browser");
    });
  }

  /* A memory snapshot (the private _makeSnapshot/_loadSnapshot API of the pinned
   * Pyodide) of the interpreter with our modules imported: all of them when a worker
   * made it on a first visit, those that need no page when the page made it itself
   * (where workers are refused). Kept in Cache Storage under this build's key, and
   * restored by later pages instead of starting Python afresh. Any failure means a
   * normal boot. Kept sparse, not compressed: about two thirds of its 30 MB are zero
   * pages, and gunzipping cost 200 ms of each boot. */
  var SNAPSHOTS = "rtp-tag-snapshots";
  var CHUNK = 65536;
  var SPARSE = 0x72747031; /* "rtp1": a header of 32-bit words, then the non-zero chunks */

  function snapshotKey() {
    return base + (BUILD.runtime || "") + "snapshot/" + BUILD.package;
  }

  /* Only when the tag may store: the snapshot holds no visitor data, but it does
   * hold the runtime's random seeds, which differ from one browser to the next. */
  function canSnapshot() {
    try {
      return !!(BUILD.snapshot && w.caches) && mayStore();
    } catch (error) {
      return false; /* storage refused (a sandboxed frame) */
    }
  }

  /* [SPARSE, size, count, chunk numbers...] then those chunks, in order. */
  function packSnapshot(memory) {
    var numbers = [], parts = [];
    /* scanned a 32-bit word at a time when aligned: the page's main thread runs this */
    var words = memory.byteOffset % 4 === 0 && memory.length % 4 === 0 ?
      new Uint32Array(memory.buffer, memory.byteOffset, memory.length / 4) : memory;
    for (var start = 0; start < memory.length; start += CHUNK) {
      var size = words.BYTES_PER_ELEMENT, first = start / size, last = Math.min((start + CHUNK) / size, words.length);
      for (var i = first; i < last; i++) {
        if (words[i]) {
          numbers.push(start / CHUNK);
          parts.push(memory.subarray(start, Math.min(start + CHUNK, memory.length)));
          break;
        }
      }
    }
    return new Blob([new Uint32Array([SPARSE, memory.length, numbers.length].concat(numbers))].concat(parts));
  }

  function unpackSnapshot(buffer) {
    var head = new Uint32Array(buffer, 0, Math.min(3, buffer.byteLength >> 2));
    if (head.length < 3 || head[0] !== SPARSE) return null;
    var numbers = new Uint32Array(buffer, 12, head[2]);
    var memory = new Uint8Array(head[1]);
    var offset = 12 + 4 * head[2];
    for (var i = 0; i < numbers.length; i++) {
      var start = numbers[i] * CHUNK, length = Math.min(CHUNK, memory.length - start);
      memory.set(new Uint8Array(buffer, offset, length), start);
      offset += length;
    }
    return memory;
  }

  function readSnapshot() {
    if (!canSnapshot()) {
      try {
        if (BUILD.snapshot && w.caches) dropSnapshots(null); /* kept before a refusal or opt-out */
      } catch (error) { /* storage refused */ }
      return Promise.resolve(null);
    }
    return caches.open(SNAPSHOTS).then(function (cache) {
      return cache.match(snapshotKey());
    }).then(function (found) {
      return found ? found.arrayBuffer() : null;
    }).then(function (buffer) {
      return buffer ? unpackSnapshot(buffer) : null;
    }).catch(function () { return null; });
  }

  function dropSnapshots(keep) {
    return caches.open(SNAPSHOTS).then(function (cache) {
      return cache.keys().then(function (requests) {
        return Promise.all(requests.filter(function (request) { return request.url !== keep; })
          .map(function (request) { return cache.delete(request); }));
      });
    }).catch(function () { /* nothing to drop */ });
  }

  /* Kept when the page is idle: writing 30 MB must not hold up the page's own work. */
  function keepSnapshot(memory) {
    if (!memory || !canSnapshot()) return;
    var idle = w.requestIdleCallback || function (callback) { setTimeout(callback, 1000); };
    idle(function () {
      try {
        var body = new Response(packSnapshot(memory));
        memory = null;
        caches.open(SNAPSHOTS).then(function (cache) {
          return cache.put(snapshotKey(), body);
        }).then(function () { return dropSnapshots(snapshotKey()); }).catch(function () {});
      } catch (error) { /* later pages boot normally */ }
    });
  }

  function makeSnapshot(pyodide) {
    try {
      return pyodide.makeMemorySnapshot();
    } catch (error) {
      return null; /* not serializable: later pages boot normally */
    }
  }

  /* A first visit starts Python in a Worker, off the page's main thread, and restores
   * the snapshot it hands back: the page then sees one short task instead of seconds
   * of blocking. The worker imports the whole tag, rtp_tag.browser included: Pyodide
   * records how its ``js`` module was reached and binds it to the page's window when
   * the page restores. Rejects (and the page boots Python itself) where workers are
   * unavailable, e.g. a Content-Security-Policy without ``worker-src blob:``. */
  function bootWorker() { /* runs in the worker, from its source text */
    onmessage = function (event) {
      var job = event.data;
      import(job.options.indexURL + "pyodide.mjs").then(function (module) {
        return module.loadPyodide(Object.assign(job.options, {_makeSnapshot: true}));
      }).then(function (pyodide) {
        pyodide.unpackArchive(job.package, "zip", {extractDir: "/home/pyodide/rtp"});
        pyodide.runPython("import sys\nsys.path.insert(0, '/home/pyodide/rtp')\nimport rtp_tag.browser");
        var memory = pyodide.makeMemorySnapshot();
        postMessage({memory: memory}, [memory.buffer]);
      }).catch(function (error) {
        postMessage({error: String(error && error.message || error)});
      });
    };
  }

  function snapshotFromWorker(options, packaged) {
    return packaged.then(function (buffer) {
      return new Promise(function (resolve, reject) {
        var url = URL.createObjectURL(new Blob(["(" + bootWorker + ")();"], {type: "text/javascript"}));
        var worker = new Worker(url, {type: "module"});
        var done = function (error, memory) {
          worker.terminate();
          URL.revokeObjectURL(url);
          if (error) reject(new Error(error)); else resolve(memory);
        };
        worker.onmessage = function (event) { done(event.data.error, event.data.memory); };
        worker.onerror = function () { done("the boot worker failed"); };
        worker.postMessage({options: options, package: buffer.slice(0)});
      });
    });
  }

  /* The runtime, restored from the snapshot kept by an earlier page or else from one
   * a worker makes now; while that snapshot is read or made, loadPyodide fetches the
   * runtime files. Without either, Python starts here. ``state.keep`` is set to the
   * snapshot this page should keep, or to true when it must make one itself. */
  function startRuntime(module, options, kept, packaged, state) {
    var restoring = false;
    var memory = kept.then(function (saved) {
      restoring = !!saved;
      if (saved) return saved;
      if (!BUILD.snapshot || !w.Worker || !w.Blob) throw new Error("no worker");
      return snapshotFromWorker(options, packaged).then(function (made) {
        state.keep = made;
        return made;
      });
    });
    memory.catch(function () { /* loadPyodide rejects too, later: handled below */ });
    /* loadPyodide keeps its options for the page's life: handed over once, the 30 MB
     * snapshot can be collected as soon as it is restored */
    var once = {then: function (resolve, reject) {
      var taken = memory;
      memory = null;
      taken.then(resolve, reject);
    }};
    return module.loadPyodide(Object.assign({}, options, {_loadSnapshot: once})).catch(function () {
      if (restoring) dropSnapshots(null); /* it did not restore */
      return startHere(module, options, state);
    });
  }

  function startHere(module, options, state) {
    state.keep = canSnapshot();
    return module.loadPyodide(state.keep ? Object.assign({}, options, {_makeSnapshot: true}) : options);
  }

  /* Pyodide 314 waits forever, rather than failing, when its wasm cannot be fetched
   * or compiled: a HEAD request, a CSP violation report and a watchdog turn those
   * cases into one clear error. A boot that still completes later takes over. */
  function fail(reason) {
    if (failed || tag) return;
    failed = true;
    saveQueue();
    console.error("rtp: the tag could not start (" + reason +
      "); rtp() calls are kept and will be sent from a later page");
  }

  function watchBoot(runtime) {
    var wasm = runtime + "pyodide.asm.wasm"; /* the file Pyodide itself will fetch */
    fetch(wasm, {method: "HEAD"}).then(function (response) {
      if (!response.ok) fail(wasm + " answered HTTP " + response.status);
    }, function () { /* unreachable: the import below reports it */ });
    d.addEventListener("securitypolicyviolation", function (event) {
      if (/wasm|eval/.test(event.blockedURI)) {
        fail("the page's Content-Security-Policy blocks WebAssembly: add 'wasm-unsafe-eval' to script-src");
      }
    });
    setTimeout(function () { fail("the runtime did not start within " + BOOT_TIMEOUT_MS / 1000 + " s"); }, BOOT_TIMEOUT_MS);
  }

  function boot() {
    var runtime = base + (BUILD.runtime || ""); /* content-keyed: cached for a year */
    watchBoot(runtime);
    var options = {indexURL: runtime};
    if (BUILD.lock) options.lockFileContents = BUILD.lock; /* no packages: no lock file to fetch */
    var packaged = fetchPackage();
    var state = {keep: null};
    var kept = keptSnapshot;
    keptSnapshot = null; /* from here on only the boot holds it */
    import(runtime + "pyodide.mjs").then(function (module) {
      return startRuntime(module, options, kept, packaged, state);
    }).then(function (pyodide) {
      if (state.keep !== true) return loadPackage(pyodide, packaged, null);
      return loadPackage(pyodide, packaged, function () { state.keep = makeSnapshot(pyodide); });
    }).then(function (browser) {
      tag = browser.start(settings());
      failed = false;
      var calls = takeSaved().concat(queue);
      queue = [];
      tag.call_many(calls);
      rtp.loaded = true;
      d.dispatchEvent(new Event("rtp:ready"));
      rehearse();
      keepSnapshot(state.keep);
      state.keep = null;
    }).catch(function (error) {
      fail(error && error.message || String(error));
    });
  }

  var keptSnapshot = readSnapshot(); /* read from now on: it overlaps the page's own loading */
  if (d.readyState === "complete") setTimeout(boot, 0);
  else w.addEventListener("load", function () { setTimeout(boot, 0); });
})(window, document);
