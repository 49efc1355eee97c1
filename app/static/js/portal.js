// Progressive enhancement only: every page works without this script.
// No inline script anywhere: the Content-Security-Policy forbids it.
(function () {
  "use strict";
  // A form marked data-once disables its submit buttons when sent, so a double click sends once.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (b) {
        window.setTimeout(function () { b.disabled = true; }, 0);
      });
    });
  });
  // The reason for a late registration is asked only when the incident is more than 15 days
  // older than its registration (the server checks the same rule).
  var when = document.getElementById("occurred_at");
  var reason = document.getElementById("delay_reason");
  if (when && reason) {
    var box = reason.closest(".mb-3");
    var registered = when.form.dataset.registeredAt;
    var toggle = function () {
      var reference = registered ? new Date(registered) : new Date();
      var happened = when.value ? new Date(when.value) : null;
      var late = happened && reference - happened > 15 * 24 * 3600 * 1000;
      box.hidden = !(late || reason.value || reason.classList.contains("is-invalid"));
    };
    when.addEventListener("change", toggle);
    when.addEventListener("input", toggle);
    toggle();
  }
  // Enter on a checkbox ticks it (as Space does) instead of submitting the form half-filled:
  // a declaration can be ticked and the form sent with the keyboard alone, Tab by Tab.
  document.querySelectorAll("input[type=checkbox]").forEach(function (box) {
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        box.click();
      }
    });
  });
  // On a phone, filters nobody has used yet fold away (one tap opens them), so the list
  // starts on the first screen; on a desk, and once filtered, they stay open.
  if (window.matchMedia("(max-width: 767.98px)").matches) {
    document.querySelectorAll("details[data-fold-narrow='1']").forEach(function (box) {
      box.open = false;
    });
  }
  // The language selector switches as soon as a language is picked.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
