// The application pages' small helpers (everything works without them).
// 1. Deploy wizard, Manifest step: a chosen graph.json file is shown in the text area too.
// 2. Runtime role form: "Add variable" adds an empty name/value row.
(() => {
  document.addEventListener("change", (event) => {
    const input = event.target;
    if (!input.matches || !input.matches("[data-manifest-upload]") || !input.files.length) return;
    const area = input.form && input.form.querySelector("textarea");
    if (!area) return;
    input.files[0].text().then((text) => { area.value = text; });
  });

  function nextIndex(rows) {
    let highest = -1;
    rows.querySelectorAll("[data-env-row] input[name$='-key']").forEach((key) => {
      highest = Math.max(highest, parseInt(key.name.split("-")[1], 10));
    });
    return highest + 1;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const button = document.querySelector("[data-add-env-row]");
    const rows = document.querySelector("[data-env-rows]");
    if (!button || !rows) return;
    button.hidden = false;
    button.addEventListener("click", () => {
      const template = rows.querySelector("[data-env-row]:last-child");
      const row = template.cloneNode(true);
      const index = nextIndex(rows);
      row.querySelectorAll("input, label").forEach((element) => {
        ["id", "name", "for"].forEach((attribute) => {
          const value = element.getAttribute(attribute);
          if (value) element.setAttribute(attribute, value.replace(/^env-\d+-/, `env-${index}-`));
        });
        if (element.tagName === "INPUT") { element.value = ""; element.readOnly = false; }
      });
      row.querySelectorAll("input[type=hidden], .form-check, .invalid-feedback").forEach((e) => e.remove());
      rows.appendChild(row);
      row.querySelector("input").focus();
    });
  });
})();
