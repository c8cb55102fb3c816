// "View output": the <img> that streams the appliance's HDMI output exists only while the panel
// is open; closing removes it, which ends the request, and the appliance stops encoding.
(function () {
  "use strict";
  function toggle(button) {
    var panel = button.closest("[data-output-panel]");
    var view = panel.querySelector("[data-output-view]");
    var label = button.querySelector("[data-output-label]");
    var img = view.querySelector("img");
    if (img) {
      img.removeAttribute("src"); // aborts the stream at once in every browser
      img.remove();
      view.hidden = true;
      button.setAttribute("aria-expanded", "false");
      label.textContent = "View output";
      return;
    }
    img = document.createElement("img");
    img.alt = "The appliance's HDMI output";
    img.className = "img-fluid border rounded bg-dark";
    img.setAttribute("data-testid", "output-image");
    img.src = button.getAttribute("data-src") + "?t=" + Date.now();
    view.appendChild(img);
    view.hidden = false;
    button.setAttribute("aria-expanded", "true");
    label.textContent = "Close output";
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-output-toggle]");
    if (button) {
      toggle(button);
    }
  });
})();
