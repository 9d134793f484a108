// Small progressive enhancements; every page works without JavaScript.

// Move focus to an error summary so screen-reader and keyboard users hear it first.
const summary = document.querySelector("[data-autofocus]");
if (summary instanceof HTMLElement) {
  summary.focus();
}

// Ask before destructive actions (revoking a token, disabling a user).
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.getAttribute("data-confirm") || "Are you sure?")) {
      event.preventDefault();
    }
  });
}

// Print buttons (the court's case status page).
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
