// Live broadcast progress: poll each row's JSON and update its bar and counts.
"use strict";
(function () {
  function update(row) {
    fetch(row.dataset.progress, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var bar = row.querySelector("[data-field=bar]");
        bar.max = Math.max(data.total, 1);
        bar.value = data.done;
        bar.textContent = data.done + "/" + data.total;
        row.querySelector("[data-field=done]").textContent = data.done;
        row.querySelector("[data-field=total]").textContent = data.total;
        row.querySelector("[data-field=status]").textContent = data.status;
        var rate = row.querySelector("[data-field=rate]");
        rate.textContent = data.measured_rate === null ? "–" : data.measured_rate;
        row.querySelectorAll("[data-count]").forEach(function (cell) {
          cell.textContent = data.counts[cell.dataset.count] || 0;
        });
        if (data.complete) { row.dataset.complete = "true"; }
      })
      .catch(function () { /* the next poll tries again */ });
  }
  function poll() {
    document.querySelectorAll("[data-progress]").forEach(function (row) {
      if (row.dataset.complete !== "true") { update(row); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    poll();
    setInterval(poll, 2000);
  });
})();
