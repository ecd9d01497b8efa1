/* Shows the collector's events on the demo page, so a visitor sees the tag work. */
(function () {
  var list = document.getElementById("events");
  if (!list) return;
  function refresh() {
    fetch("/api/events").then(function (r) { return r.json(); }).then(function (data) {
      list.textContent = "";
      data.events.slice(-10).forEach(function (e) {
        var item = document.createElement("li");
        item.textContent = e.type + (e.values.length ? ": " + e.values.join(", ") : "") + " (" + e.url + ")";
        list.appendChild(item);
      });
    }).catch(function () {});
  }
  refresh();
  setInterval(refresh, 1000);
})();
