/* Shows the collector's events on the demo page, so a visitor sees the tag work.
   Reading events needs the collector's read key: `./dev demo` prints this page's URL
   with the key after `#key=` (a fragment never leaves the browser); it is kept for the
   tab in sessionStorage so the demo's other pages can link back here without it. */
(function () {
  var list = document.getElementById("events");
  if (!list) return;
  var key = null;
  function takeKey() {
    var match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
    key = match ? decodeURIComponent(match[1]) : key;
    try {
      if (match) sessionStorage.setItem("rtp-demo-read-key", key);
      else if (!key) key = sessionStorage.getItem("rtp-demo-read-key");
    } catch (error) {}
    if (match) history.replaceState(null, "", location.pathname + location.search);
  }
  takeKey();
  window.addEventListener("hashchange", function () { takeKey(); refresh(); });

  function show(lines) {
    list.textContent = "";
    lines.forEach(function (line) {
      var item = document.createElement("li");
      item.textContent = line;
      list.appendChild(item);
    });
  }
  function page(after, kept) {
    var url = "/api/events?limit=10000" + (after ? "&after=" + after : "");
    return fetch(url, {headers: {Authorization: "Bearer " + key}}).then(function (r) {
      if (r.status === 401) throw new Error("key");
      return r.json();
    }).then(function (data) {
      kept = kept.concat(data.events).slice(-10);
      return data.next ? page(data.next, kept) : kept;
    });
  }
  function refresh() {
    if (!key) {
      show(["Open this page with the link `./dev demo` printed (it carries the read key) to see the events."]);
      return;
    }
    page(null, []).then(function (events) {
      show(events.map(function (e) {
        return e.type + (e.values.length ? ": " + e.values.join(", ") : "") + " (" + e.url + ")";
      }));
    }).catch(function (error) {
      if (error.message === "key") show(["The read key is not this collector's: use the link `./dev demo` printed."]);
    });
  }
  refresh();
  setInterval(refresh, 1000);
})();
