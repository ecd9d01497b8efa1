// The rtp-tag dashboard: reads the report API with the read key and draws it.
// The key lives in this tab's sessionStorage and travels only in the Authorization
// header, never in a URL. No inline script or style: it runs under a strict CSP.
"use strict";

(function () {
  var KEY = "rtp-dashboard-key";
  var ACCOUNT = "rtp-dashboard-account";
  var REFRESH_MS = 10000;
  var SVG = "http://www.w3.org/2000/svg";
  var timer = null;

  function $(id) { return document.getElementById(id); }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attributes, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes).forEach(function (name) { node.setAttribute(name, String(attributes[name])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function percent(rate) { return rate === null ? "–" : (rate * 100).toFixed(1) + "%"; }
  function signedPercent(rate) {
    return rate === null ? "–" : (rate > 0 ? "+" : "") + (rate * 100).toFixed(1) + "%";
  }

  function query() {
    return "account=" + encodeURIComponent($("account").value) + "&days=" + encodeURIComponent($("days").value);
  }

  function api(path) {
    return fetch(path, {
      headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) },
      cache: "no-store",
      credentials: "omit",
    }).then(function (response) {
      if (response.status === 401) throw { unauthorized: true };
      if (!response.ok) {
        return response.json().then(
          function (body) { throw new Error(body.error || "HTTP " + response.status); },
          function () { throw new Error("HTTP " + response.status); });
      }
      return response;
    });
  }

  function showLogin(problem) {
    stopRefresh();
    sessionStorage.removeItem(KEY);
    $("report").hidden = true;
    $("controls").hidden = true;
    $("login").hidden = false;
    $("login-account").value = sessionStorage.getItem(ACCOUNT) || "";
    $("login-problem").textContent = problem || "";
    $("key").focus();
  }

  function showReport() {
    $("login").hidden = true;
    $("controls").hidden = false;
    $("report").hidden = false;
    $("account").value = sessionStorage.getItem(ACCOUNT) || "";
    refresh();
    startRefresh();
  }

  function refresh() {
    return Promise.all([
      api("/api/report?" + query()).then(function (r) { return r.json(); }),
      api("/api/events?latest=20&account=" + encodeURIComponent($("account").value)).then(function (r) { return r.json(); }),
    ]).then(function (answers) {
      drawChart(answers[0]);
      drawCampaigns(answers[0].campaigns);
      drawSegments(answers[0].segments);
      drawEvents(answers[1].events);
      $("status").textContent = "Updated " + new Date().toLocaleTimeString() + " · refreshes every "
        + REFRESH_MS / 1000 + " s";
      document.body.dataset.loaded = String(Date.now());
    }).catch(failed);
  }

  function failed(problem) {
    if (problem && problem.unauthorized) {
      showLogin("The collector refused this key: enter its read key.");
    } else {
      $("status").textContent = "Could not load the report: " + (problem && problem.message || problem);
    }
  }

  function drawChart(report) {
    var chart = $("chart");
    chart.replaceChildren();
    var values = report.values;
    if (!values.length) {
      chart.appendChild(element("p", "empty", "No custom data events in this period."));
      return;
    }
    var days = values[0].per_day.map(function (d) { return { day: d.day, sessions: 0 }; });
    values.forEach(function (value) {
      value.per_day.forEach(function (d, index) { days[index].sessions += d.sessions; });
    });
    var width = 800, height = 190, left = 36, bottom = 22, top = 10;
    var most = Math.max.apply(null, days.map(function (d) { return d.sessions; }).concat([1]));
    var step = (width - left) / days.length;
    var plot = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", preserveAspectRatio: "none",
      "aria-label": "Sessions sending custom data, per day" });
    plot.appendChild(svg("line", { x1: left, x2: width, y1: height - bottom, y2: height - bottom, "class": "axis" }));
    plot.appendChild(svg("text", { x: left - 6, y: top + 8, "text-anchor": "end" }, String(most)));
    plot.appendChild(svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end" }, "0"));
    days.forEach(function (d, index) {
      var barHeight = (height - bottom - top) * d.sessions / most;
      var bar = svg("rect", { x: left + index * step + step * 0.15, y: height - bottom - barHeight,
        width: Math.max(step * 0.7, 1), height: barHeight, "class": "bar", "data-day": d.day,
        "data-sessions": d.sessions });
      bar.appendChild(svg("title", {}, d.day + ": " + d.sessions));
      plot.appendChild(bar);
    });
    [0, days.length - 1].forEach(function (index, which) {
      plot.appendChild(svg("text", { x: which ? width : left, y: height - 6, "text-anchor": which ? "end" : "start" },
        days[index].day));
    });
    chart.appendChild(plot);
  }

  function cell(row, text, field, numeric) {
    var td = element("td", numeric ? "n" : "", text);
    td.dataset.field = field;
    row.appendChild(td);
  }

  function drawCampaigns(campaigns) {
    var body = $("campaigns").tBodies[0];
    body.replaceChildren();
    var sorted = campaigns.slice().sort(function (a, b) { return (b.ctr === null ? -1 : b.ctr) - (a.ctr === null ? -1 : a.ctr); });
    sorted.forEach(function (c) {
      var row = element("tr");
      row.dataset.campaign = c.name;
      cell(row, c.name, "name");
      cell(row, c.segment || "–", "segment");
      cell(row, String(c.impressions), "impressions", true);
      cell(row, String(c.clicks), "clicks", true);
      cell(row, percent(c.ctr), "ctr", true);
      cell(row, String(c.visitors), "visitors", true);
      cell(row, String(c.conversions.direct), "direct", true);
      cell(row, String(c.conversions.assisted), "assisted", true);
      cell(row, percent(c.conversion_rate), "conversion_rate", true);
      cell(row, String(c.control.visitors), "control_visitors", true);
      cell(row, String(c.control.conversions), "control_conversions", true);
      cell(row, percent(c.control.conversion_rate), "control_conversion_rate", true);
      cell(row, signedPercent(c.lift), "lift", true);
      cell(row, c.lift_ci95 ? signedPercent(c.lift_ci95[0]) + " … " + signedPercent(c.lift_ci95[1]) : "–",
        "lift_ci95", true);
      body.appendChild(row);
    });
    if (!sorted.length) {
      var empty = element("td", "empty", "No campaigns configured or shown in this period.");
      empty.colSpan = 14;
      body.appendChild(element("tr")).appendChild(empty);
    }
  }

  function drawSegments(segments) {
    var body = $("segments").tBodies[0];
    body.replaceChildren();
    segments.forEach(function (s) {
      var row = element("tr");
      row.dataset.segment = s.id;
      cell(row, s.name, "name");
      cell(row, String(s.visitors), "visitors", true);
      body.appendChild(row);
    });
  }

  function drawEvents(events) {
    var list = $("events");
    list.replaceChildren();
    events.slice().reverse().forEach(function (e) {
      var item = element("li");
      var when = element("time", "", new Date(e.ts).toLocaleTimeString());
      when.dateTime = new Date(e.ts).toISOString();
      item.appendChild(when);
      item.appendChild(element("span", "kind", e.type));
      var what = e.type === "event" ? e.values.join(", ") : (e.props && e.props.campaign) || e.url;
      item.appendChild(element("span", "what", what));
      item.title = e.url;
      list.appendChild(item);
    });
    if (!events.length) list.appendChild(element("li", "", "No events yet."));
  }

  function download() {
    api("/api/report.csv?" + query()).then(function (response) {
      return response.blob();
    }).then(function (blob) {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = "rtp-report-" + ($("account").value || "no-account") + "-" + $("days").value + "d.csv";
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
    }).catch(failed);
  }

  function startRefresh() {
    stopRefresh();
    timer = setInterval(function () { if (!document.hidden) refresh(); }, REFRESH_MS);
  }

  function stopRefresh() {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("login").addEventListener("submit", function (event) {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("key").value.trim());
      sessionStorage.setItem(ACCOUNT, $("login-account").value.trim());
      $("key").value = "";
      showReport();
    });
    $("controls").addEventListener("submit", function (event) { event.preventDefault(); refresh(); });
    $("days").addEventListener("change", refresh);
    $("account").addEventListener("change", function () {
      sessionStorage.setItem(ACCOUNT, $("account").value.trim());
      refresh();
    });
    $("download").addEventListener("click", download);
    $("forget").addEventListener("click", function () { showLogin(""); });
    document.addEventListener("visibilitychange", function () { if (!document.hidden && timer) refresh(); });
    if (sessionStorage.getItem(KEY)) showReport(); else showLogin("");
  });
})();
