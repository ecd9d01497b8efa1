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

  function rtp() {
    var call = {args: Array.prototype.slice.call(arguments), meta: meta()};
    if (!tag) {
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

  function loadPackage(pyodide) {
    var init = BUILD.integrity ? {integrity: BUILD.integrity} : {};
    return fetch(base + BUILD.package, init).then(function (response) {
      if (!response.ok) throw new Error(BUILD.package + " answered HTTP " + response.status);
      return response.arrayBuffer();
    }).then(function (buffer) {
      pyodide.unpackArchive(buffer, "zip", {extractDir: "/home/pyodide/rtp"});
      pyodide.pyimport("sys").path.insert(0, "/home/pyodide/rtp");
      return pyodide.pyimport("rtp_tag.browser");
    });
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

  function watchBoot() {
    var wasm = BUILD.wasm || "pyodide.asm.wasm";
    fetch(base + wasm, {method: "HEAD"}).then(function (response) {
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
    watchBoot();
    import(base + "pyodide.mjs").then(function (module) {
      return module.loadPyodide({indexURL: base});
    }).then(loadPackage).then(function (browser) {
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
