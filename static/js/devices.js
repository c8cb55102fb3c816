// Device pages (see templates/devices/): tag rows, the archive's countdown, the setup page's
// refresh after a download or a change of state, and the log tail's refresh.
(() => {
  // --- tags: add and remove key/value rows --------------------------------------------------
  function initTags(root) {
    root.querySelectorAll("[data-tag-rows]").forEach((box) => {
      if (box.dataset.ready) return;
      box.dataset.ready = "1";
      const add = box.querySelector("[data-tag-add]");
      const max = Number(box.dataset.maxTags || 50);
      const rows = () => box.querySelectorAll("[data-tag-row]");
      const refresh = () => {
        rows().forEach((row) => { row.querySelector("[data-tag-remove]").hidden = rows().length < 2; });
        add.hidden = rows().length >= max;
      };
      add.addEventListener("click", () => {
        const last = rows()[rows().length - 1];
        const row = last.cloneNode(true);
        row.querySelectorAll("input").forEach((input) => { input.value = ""; input.removeAttribute("id"); });
        const n = rows().length + 1;
        row.querySelector("input[name$='_key']").setAttribute("aria-label", `Tag key ${n}`);
        row.querySelector("input[name$='_value']").setAttribute("aria-label", `Tag value ${n}`);
        last.after(row);
        row.querySelector("input").focus();
        refresh();
      });
      box.addEventListener("click", (event) => {
        const button = event.target.closest("[data-tag-remove]");
        if (!button) return;
        button.closest("[data-tag-row]").remove();
        refresh();
      });
      refresh();
    });
  }

  // --- the archive's credential: minutes and seconds left -------------------------------------
  const countdowns = new Set();
  function initCountdowns(root) {
    root.querySelectorAll("[data-countdown]").forEach((el) => countdowns.add(el));
  }
  function resync() {
    document.body.dispatchEvent(new CustomEvent("vantage:resync"));
  }
  setInterval(() => {
    countdowns.forEach((el) => {
      if (!el.isConnected) { countdowns.delete(el); return; }
      const left = Math.round((Date.parse(el.dataset.countdown) - Date.now()) / 1000);
      if (left <= 0) {
        el.textContent = "0:00 (expired)";
        countdowns.delete(el);
        // The server says what now: the setup status turns to "expired".
        setTimeout(resync, 1000);
        return;
      }
      el.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    });
  }, 1000);

  // --- the setup page ---------------------------------------------------------------------------
  // A download is a plain form post whose answer is the file, so the page stays as it was:
  // fetch the steps again shortly after, when the archive's credential exists.
  document.addEventListener("submit", (event) => {
    if (!event.target.matches("[data-setup-download]")) return;
    setTimeout(resync, 1500);
    setTimeout(resync, 4000);
  });
  let setupState = null;

  // --- live fragments that ask for more -------------------------------------------------------
  document.addEventListener("htmx:load", (event) => {
    const el = event.detail.elt;
    initTags(el);
    initCountdowns(el);
    if (el.id === "setup-status") {
      // The setup's state changed (the appliance checked in): the steps above change too.
      if (setupState !== null && el.dataset.state !== setupState) resync();
      setupState = el.dataset.state;
    }
    if (el.id === "device-logs-refresh" && el.dataset.refresh) {
      // Lines were added that the tail cannot simply append (an imported log image): reload
      // the tail with the filter it shows.
      const logs = document.getElementById("device-logs");
      if (logs && window.htmx) {
        window.htmx.ajax("GET", logs.dataset.logsUrl, { target: "#device-logs", select: "#device-logs", swap: "outerHTML" });
      }
    }
  });
  document.addEventListener("DOMContentLoaded", () => {
    initTags(document);
    initCountdowns(document);
    const status = document.getElementById("setup-status");
    if (status) setupState = status.dataset.state;
  });
})();
