// Application logs and metrics (templates/applications/partials/logs.html, metrics.html):
// 1. A live log tail with a filter ([data-log-filter]) receives every new line of its group;
//    lines the filter hides (another stream, node or application) are dropped, and the tail
//    keeps at most MAX_LINES lines. The minimum level is hidden by CSS (devices.css).
// 2. "New samples exist" (#app-metrics-refresh, #device-metrics-refresh) re-reads the charts
//    region with the window it shows.
(() => {
  const MAX_LINES = 1000;
  const pending = new Set();

  function filterLines(box) {
    const wanted = {
      stream: box.dataset.filterStream || "",
      node: box.dataset.filterNode || "",
      application: box.dataset.filterApplication || "",
    };
    box.querySelectorAll(".log-line").forEach((line) => {
      for (const [key, value] of Object.entries(wanted)) {
        if (!value) continue;
        const have = line.dataset[key] || "";
        if (value === "-" ? have !== "" : have !== value) { line.remove(); return; }
      }
    });
    const lines = box.querySelectorAll(".log-line");
    for (let i = 0; i < lines.length - MAX_LINES; i += 1) lines[i].remove();
  }

  function refreshMetrics(scope) {
    const region = document.getElementById(`${scope}-metrics`);
    if (region && window.htmx) {
      window.htmx.ajax("GET", region.dataset.metricsUrl, { target: `#${scope}-metrics`, select: `#${scope}-metrics`, swap: "outerHTML" });
    }
  }

  document.addEventListener("htmx:oobAfterSwap", (event) => {
    const target = event.detail.target;
    // Fired once per swapped-in line: filter once, after the whole message is in.
    if (!target || !target.matches || !target.matches("[data-log-filter]") || pending.has(target)) return;
    pending.add(target);
    queueMicrotask(() => { pending.delete(target); filterLines(target); });
  });
  document.addEventListener("htmx:load", (event) => {
    const el = event.detail.elt;
    if (!el.dataset || !el.dataset.refresh) return;
    if (el.id === "app-metrics-refresh") refreshMetrics("app");
    if (el.id === "device-metrics-refresh") refreshMetrics("device");
  });
})();
