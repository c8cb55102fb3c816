// Small glue for live pages: show whether the live link is up, so an operator knows the numbers
// on screen are current. htmx's ws extension reconnects by itself.
document.addEventListener("htmx:wsOpen", () => {
  const el = document.getElementById("live-status");
  if (el) { el.hidden = false; el.className = "live-indicator badge text-bg-success"; el.textContent = "Live"; }
});
document.addEventListener("htmx:wsClose", () => {
  const el = document.getElementById("live-status");
  if (el) { el.hidden = false; el.className = "live-indicator badge text-bg-warning"; el.textContent = "Reconnecting…"; }
});
