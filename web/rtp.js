/* rtp-tag loader. Defines window.rtp at once, queues calls until the Python tag is
 * ready, boots Pyodide after the page has loaded, and hands the calls over. All of
 * the tag's logic is Python (rtp_tag/); this file only queues, boots and forwards.
 * It never throws into the page and never delays or cancels a click. */
(function (w, d) {
  "use strict";
  var BUILD = {"package": "rtp_tag.zip", "integrity": null}; /* rewritten by build.py */
  var SAVED_KEY = "rtp:early";
  var current = w.rtp;
  if (current && current.__rtpTag) return; /* included twice: the first copy serves */

  var script = d.currentScript || findScript();
  var scriptUrl = script && script.src ? script.src : location.href;
  var base = new URL(".", scriptUrl).href;
  var queue = [];
  var dispatch = null;

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

  function hand(call) {
    try {
      dispatch(call.args, call.meta);
    } catch (error) {
      console.error("rtp: " + error);
    }
  }

  function rtp() {
    var call = {args: Array.prototype.slice.call(arguments), meta: meta()};
    if (dispatch) hand(call);
    else queue.push(call);
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

  /* Calls still queued when the page is left are saved for the next page's tag. */
  function saveQueue() {
    if (dispatch || !queue.length) return;
    try {
      var keep = [];
      var saved = JSON.parse(localStorage.getItem(SAVED_KEY) || "[]");
      for (var i = 0; i < queue.length; i++) {
        if (queue[i].args[0] === "send") saved.push(queue[i]);
        else keep.push(queue[i]);
      }
      localStorage.setItem(SAVED_KEY, JSON.stringify(saved));
      queue = keep;
    } catch (error) {
      /* storage refused: the calls stay queued in case the page is restored */
    }
  }

  function takeSaved() {
    try {
      var saved = JSON.parse(localStorage.getItem(SAVED_KEY) || "[]");
      localStorage.removeItem(SAVED_KEY);
      return Array.isArray(saved) ? saved : [];
    } catch (error) {
      return [];
    }
  }

  w.addEventListener("pagehide", saveQueue);
  w.addEventListener("pageshow", function (event) {
    if (event.persisted && !dispatch) queue = takeSaved().concat(queue);
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

  function boot() {
    import(base + "pyodide.mjs").then(function (module) {
      return module.loadPyodide({indexURL: base});
    }).then(loadPackage).then(function (browser) {
      dispatch = browser.start(settings());
      var calls = takeSaved().concat(queue);
      queue = [];
      calls.forEach(hand);
      rtp.loaded = true;
      d.dispatchEvent(new Event("rtp:ready"));
    }).catch(function (error) {
      console.error("rtp: the tag could not start (" + (error && error.message || error) +
        "); rtp() calls are kept and will be sent from a later page");
    });
  }

  if (d.readyState === "complete") setTimeout(boot, 0);
  else w.addEventListener("load", function () { setTimeout(boot, 0); });
})(window, document);
