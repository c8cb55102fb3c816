// Behaviour that pages ask for with data attributes instead of inline handlers, which the
// Content-Security-Policy refuses (core/csp.py):
// - data-confirm="Question?" on a form: submitting asks first.
// - data-select-on-focus on an input: focusing it selects its text (a token shown once).
document.addEventListener("submit", (event) => {
  const form = event.target.closest && event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
document.addEventListener("focusin", (event) => {
  if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
});

// Glue for live pages (see docs/ARCHITECTURE.md, "Live status").
//
// 1. The "Live" badge tells an operator whether what is on screen is being kept current. It
//    says "Live" only once every live region has re-read its state after a (re)connect: until
//    then a region may still be replaced wholesale, and a click on a button inside it would
//    land on an element about to be removed (htmx drops requests from removed elements).
// 2. On every (re)connect of the live link, each live region ([data-live-resync], see
//    templates/partials/resync.html) fetches its current state once, so an update broadcast
//    while the page loaded or while the link was down is not lost.
// 3. A resync answer rendered before a live update that has since arrived would undo that
//    update; such an answer is dropped and the resync asked again, a few times at most (under
//    steady traffic the live updates themselves keep the page current).
(() => {
  const MAX_RETRIES = 3;
  let resyncStarted = 0;
  let lastLiveMessage = 0;
  let retries = 0;
  // Live regions whose resync answer has not been swapped in yet.
  let unsynced = 0;
  // When each resync request left: an answer is stale if a live update arrived after its own
  // request started, whichever resync round that request belonged to.
  const requestStarted = new WeakMap();

  function setBadge(tone, text) {
    const badge = document.getElementById("live-status");
    if (!badge) return;
    badge.hidden = false;
    badge.className = `live-indicator badge text-bg-${tone}`;
    badge.textContent = text;
  }

  function resync() {
    resyncStarted = performance.now();
    unsynced = document.querySelectorAll("[data-live-resync]").length;
    if (unsynced === 0) {
      setBadge("success", "Live");
      return;
    }
    document.body.dispatchEvent(new CustomEvent("vantage:resync"));
  }

  function regionSynced() {
    unsynced -= 1;
    if (unsynced <= 0) setBadge("success", "Live");
  }

  document.addEventListener("htmx:wsOpen", () => {
    retries = 0;
    setBadge("secondary", "Syncing…");
    resync();
  });
  // An outerHTML swap settles on the new element, which carries data-live-resync again.
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.target.matches && event.target.matches("[data-live-resync]")) regionSynced();
  });
  document.addEventListener("htmx:responseError", (event) => {
    const source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (source && source.matches("[data-live-resync]")) {
      setBadge("warning", "Out of date: reload the page");
    }
  });
  document.addEventListener("htmx:wsClose", () => setBadge("warning", "Reconnecting…"));
  // Something new exists (see templates/partials/resync_request.html): re-read every region.
  document.addEventListener("htmx:oobAfterSwap", (event) => {
    const target = event.detail.target;
    if (target && target.id === "live-resync-request") resync();
  });
  document.addEventListener("htmx:wsAfterMessage", () => {
    lastLiveMessage = performance.now();
  });
  document.addEventListener("htmx:beforeRequest", (event) => {
    const source = event.detail.elt;
    if (source && source.matches("[data-live-resync]")) {
      requestStarted.set(event.detail.xhr, performance.now());
    }
  });
  document.addEventListener("htmx:beforeSwap", (event) => {
    const source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!source || !source.matches("[data-live-resync]")) return;
    const started = requestStarted.get(event.detail.xhr) ?? resyncStarted;
    if (lastLiveMessage > started && retries < MAX_RETRIES) {
      event.detail.shouldSwap = false;
      retries += 1;
      resync();
    }
  });
})();
