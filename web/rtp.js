/* rtp-tag loader. Defines window.rtp at once, queues calls until the Python tag is
 * ready, boots Pyodide after the page has loaded, and hands the calls over. All of
 * the tag's logic is Python (rtp_tag/); this file only queues, boots and forwards.
 * It never throws into the page and never delays or cancels a click. */
(function (w, d) {
  "use strict";
  var BUILD = {"package": "rtp_tag.zip", "integrity": null}; /* rewritten by build.py */
  var BOOT_TIMEOUT_MS = 60000;
  var SAVED_PREFIX = "rtp:early:"; /* one key per page: tabs never overwrite each other */
  var current = w.rtp;
  if (current && current.__rtpTag) return; /* included twice: the first copy serves */

  var script = d.currentScript || findScript();
  var scriptUrl = script && script.src ? script.src : location.href;
  var base = new URL(".", scriptUrl).href;
  var queue = [];
  var tag = null; /* the Python tag, once ready */
  var failed = false;
  var pageId = newId();

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
    var call = {args: Array.prototype.slice.call(arguments), meta: meta()};
    if (!tag) {
      call.args = snapshot(call.args, 0);
      queue.push(call);
      if (failed) saveQueue();
      return;
    }
    try {
      tag.call(call.args, call.meta);
    } catch (error) {
      console.error("rtp: " + error);
    }
  }
  rtp.__rtpTag = true;
  rtp.loaded = false;
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
      if (element) rtp("send", "event", {value: element.getAttribute("data-rtp-event")});
    } catch (error) {
      console.error("rtp: " + error);
    }
  }, true);

  /* Calls still queued when the page is left (or the runtime failed) are saved for
   * the next page's tag; each keeps its id, so a resend is never counted twice. */
  function saveQueue() {
    if (tag || !queue.length) return;
    try {
      var keep = [], save = [];
      for (var i = 0; i < queue.length; i++) {
        (queue[i].args[0] === "send" ? save : keep).push(queue[i]);
      }
      var key = SAVED_PREFIX + pageId;
      var saved = JSON.parse(localStorage.getItem(key) || "[]");
      localStorage.setItem(key, JSON.stringify(saved.concat(save)));
      queue = keep;
    } catch (error) {
      /* storage refused or an argument is not JSON: the calls stay queued */
    }
  }

  function takeSaved() {
    var calls = [];
    try {
      var keys = [];
      for (var i = 0; i < localStorage.length; i++) {
        var key = localStorage.key(i);
        if (key && key.indexOf(SAVED_PREFIX) === 0) keys.push(key);
      }
      keys.forEach(function (key) {
        var saved = JSON.parse(localStorage.getItem(key) || "[]");
        localStorage.removeItem(key);
        if (Array.isArray(saved)) calls = calls.concat(saved);
      });
    } catch (error) {
      /* storage refused: nothing was saved here either */
    }
    return calls.sort(function (a, b) { return a.meta.ts - b.meta.ts; });
  }

  w.addEventListener("pagehide", saveQueue);
  w.addEventListener("pageshow", function (event) {
    if (event.persisted && !tag && !failed) queue = takeSaved().concat(queue);
  });

  function settings() {
    var attr = function (name) { return script ? script.getAttribute(name) : null; };
    return {
      scriptUrl: scriptUrl, pod: rtp.p || null, account: rtp.a || null,
      endpoint: attr("data-endpoint"), accountAttribute: attr("data-account"),
      sessionTimeout: attr("data-session-timeout")
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

  /* ``preloaded``, when given, is called once the modules that need no page are imported. */
  function loadPackage(pyodide, packaged, preloaded) {
    return packaged.then(function (buffer) {
      pyodide.unpackArchive(buffer, "zip", {extractDir: "/home/pyodide/rtp"});
      /* reseeded: every page restored from one snapshot would replay the same sequence */
      pyodide.runPython("import random, sys\nrandom.seed()\n" +
        "if '/home/pyodide/rtp' not in sys.path: sys.path.insert(0, '/home/pyodide/rtp')");
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
   * Pyodide): the first page boots normally, snapshots the interpreter with our modules
   * imported, and keeps it in Cache Storage under this build's key; later pages restore
   * it instead of starting Python afresh. Any failure means a normal boot. Kept raw
   * (30 MB): gunzipping it took 200 ms of each later boot, reading it 40 ms. */
  var SNAPSHOTS = "rtp-tag-snapshots";

  function snapshotKey() {
    return base + (BUILD.runtime || "") + "snapshot/" + BUILD.package;
  }

  function canSnapshot() {
    try {
      return !!(BUILD.snapshot && w.caches);
    } catch (error) {
      return false; /* storage refused (a sandboxed frame) */
    }
  }

  function readSnapshot() {
    if (!canSnapshot()) return Promise.resolve(null);
    return caches.open(SNAPSHOTS).then(function (cache) {
      return cache.match(snapshotKey());
    }).then(function (found) {
      return found ? found.arrayBuffer() : null;
    }).then(function (buffer) {
      return buffer ? new Uint8Array(buffer) : null;
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

  function keepSnapshot(pyodide) {
    var memory;
    try {
      memory = pyodide.makeMemorySnapshot();
    } catch (error) {
      return; /* not serializable: later pages boot normally */
    }
    var idle = w.requestIdleCallback || function (callback) { setTimeout(callback, 1000); };
    idle(function () {
      try {
        var body = new Response(memory);
        memory = null;
        caches.open(SNAPSHOTS).then(function (cache) {
          return cache.put(snapshotKey(), body);
        }).then(function () { return dropSnapshots(snapshotKey()); }).catch(function () {});
      } catch (error) { /* later pages boot normally */ }
    });
  }

  /* The runtime, restored from a snapshot when one is kept; ``state.make`` tells
   * whether this page should make one. */
  function startRuntime(module, options, saved, state) {
    if (saved) {
      return module.loadPyodide(Object.assign({}, options, {_loadSnapshot: saved})).catch(function () {
        dropSnapshots(null);
        return module.loadPyodide(options);
      });
    }
    state.make = canSnapshot();
    return module.loadPyodide(state.make ? Object.assign({}, options, {_makeSnapshot: true}) : options);
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
    var state = {make: false};
    Promise.all([import(runtime + "pyodide.mjs"), readSnapshot()]).then(function (loaded) {
      return startRuntime(loaded[0], options, loaded[1], state);
    }).then(function (pyodide) {
      return loadPackage(pyodide, packaged, state.make ? function () { keepSnapshot(pyodide); } : null);
    }).then(function (browser) {
      tag = browser.start(settings());
      failed = false;
      var calls = takeSaved().concat(queue);
      queue = [];
      tag.call_many(calls);
      rtp.loaded = true;
      d.dispatchEvent(new Event("rtp:ready"));
    }).catch(function (error) {
      fail(error && error.message || String(error));
    });
  }

  if (d.readyState === "complete") setTimeout(boot, 0);
  else w.addEventListener("load", function () { setTimeout(boot, 0); });
})(window, document);
