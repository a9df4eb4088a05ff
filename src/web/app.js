// The status page's only script (served by the binary; no inline script, no CDN).
// Tables of class "sortable" sort by a click on a header; an input with
// data-filter="ID" hides the rows of table ID that do not contain its text; the
// page reloads itself when the journal changed (it polls /api/version).
"use strict";
(function () {
  function text(cell) { return (cell && cell.textContent || "").trim(); }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = !th.classList.contains("sorted-asc");
    rows.sort(function (a, b) {
      var x = text(a.cells[col]), y = text(b.cells[col]);
      var nx = parseFloat(x), ny = parseFloat(y);
      var r = (!isNaN(nx) && !isNaN(ny) && String(nx) === x && String(ny) === y)
        ? nx - ny : x.localeCompare(y, "zh-CN", { numeric: true });
      return asc ? r : -r;
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.classList.remove("sorted-asc", "sorted-desc");
    });
    th.classList.add(asc ? "sorted-asc" : "sorted-desc");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      if (!table.tHead) { return; }
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
        th.addEventListener("click", function () { sortBy(table, i, th); });
      });
    });
    document.querySelectorAll("input[data-filter]").forEach(function (input) {
      var table = document.getElementById(input.getAttribute("data-filter"));
      if (!table) { return; }
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase();
        Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
          r.style.display = !q || r.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none";
        });
      });
    });
    var mark = document.body.getAttribute("data-mark");
    var live = document.getElementById("live");
    if (!mark) { return; }
    if (live) { live.textContent = "自动更新"; }
    setInterval(function () {
      fetch("/api/version", { cache: "no-store", credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (v) {
          if (v && v !== mark) { window.location.reload(); }
        })
        .catch(function () { if (live) { live.textContent = "与系统的连接已断开"; } });
    }, 1500);
  });
})();
