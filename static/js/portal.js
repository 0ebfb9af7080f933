/* The portal's one script (no build step, no inline code: the content security policy allows only
   our own files). It adds to pages that work without it:
   - the narrow-screen menu button;
   - on the order form: which fields were touched (errors show for those only), the quantity's unit
     following the base at once, and the ingredient picker (search as you type);
   - the idle warning a minute before the session ends ("Stay signed in"), and signing in again in
     place when a live request meets an ended session, then re-sending what was typed. */
(function () {
  "use strict";

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : "";
  }

  function csrfToken() { return meta("csrf-token"); }

  function setCsrfToken(token) {
    var el = document.querySelector('meta[name="csrf-token"]');
    if (el) { el.setAttribute("content", token); }
    document.querySelectorAll('input[name="csrfmiddlewaretoken"]').forEach(function (input) { input.value = token; });
  }

  /* --- Menu on narrow screens ------------------------------------------------------------ */
  function initMenu() {
    var button = document.querySelector("[data-nav-toggle]");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var open = document.body.classList.toggle("nav-open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  /* --- Order form: touched fields, unit follows base -------------------------------------- */
  function touchedInput(form) { return form.querySelector('input[name="touched"]'); }

  function markTouched(event) {
    var field = event.target;
    var form = field.form;
    if (!form || !field.name || field.name === "touched") { return; }
    var holder = touchedInput(form);
    if (!holder) { return; }
    var names = holder.value ? holder.value.split(",") : [];
    if (names.indexOf(field.name) === -1) {
      names.push(field.name);
      holder.value = names.join(",");
    }
  }

  function followUnit(event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-base-select]")) { return; }
    var option = select.options[select.selectedIndex];
    var unit = option ? option.getAttribute("data-unit") : "";
    var label = document.querySelector('[data-unit-for="' + select.name + '"]');
    if (label) { label.textContent = unit ? " (" + unit + ")" : ""; }
  }

  document.addEventListener("input", markTouched, true);
  document.addEventListener("change", markTouched, true);
  document.addEventListener("change", followUnit, true);

  /* --- Ingredient picker ------------------------------------------------------------------ */
  var pickerTimer = null;

  function pickerList(input) {
    return document.getElementById(input.getAttribute("aria-controls"));
  }

  function closePicker(input) {
    var list = pickerList(input);
    if (list) { list.hidden = true; list.innerHTML = ""; }
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function choose(input, option) {
    input.value = option.getAttribute("data-name");
    closePicker(input);
    input.dispatchEvent(new Event("change", { bubbles: true }));
    var row = input.closest("tr");
    var strength = row ? row.querySelector("input[data-strength]") : null;
    if (strength) { strength.focus(); }
  }

  function search(input) {
    var url = input.getAttribute("data-search-url");
    var query = input.value.trim();
    if (!url || !query) { closePicker(input); return; }
    fetch(url + "?q=" + encodeURIComponent(query), { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { sessionEnded(null); return ""; }
        return response.ok ? response.text() : "";
      })
      .then(function (html) {
        var list = pickerList(input);
        if (!list || document.activeElement !== input) { return; }
        list.innerHTML = html;  /* our own escaped template (orders/_ingredient_options.html) */
        list.hidden = !html.trim();
        input.setAttribute("aria-expanded", list.hidden ? "false" : "true");
      });
  }

  function moveActive(input, step) {
    var list = pickerList(input);
    if (!list || list.hidden) { return false; }
    var options = Array.prototype.slice.call(list.querySelectorAll('[role="option"]'));
    if (!options.length) { return false; }
    var current = options.findIndex(function (o) { return o.getAttribute("aria-selected") === "true"; });
    var next = Math.max(0, Math.min(options.length - 1, current + step));
    options.forEach(function (o, i) { o.setAttribute("aria-selected", i === next ? "true" : "false"); });
    input.setAttribute("aria-activedescendant", options[next].id);
    options[next].scrollIntoView({ block: "nearest" });
    return true;
  }

  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-ingredient-picker]")) { return; }
    clearTimeout(pickerTimer);
    pickerTimer = setTimeout(function () { search(input); }, 150);
  });

  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-ingredient-picker]")) { return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (moveActive(input, event.key === "ArrowDown" ? 1 : -1)) { event.preventDefault(); }
    } else if (event.key === "Enter") {
      var list = pickerList(input);
      var active = list && !list.hidden ? list.querySelector('[aria-selected="true"]') : null;
      if (active) { event.preventDefault(); choose(input, active); }
    } else if (event.key === "Escape") {
      closePicker(input);
    }
  });

  document.addEventListener("mousedown", function (event) {
    var option = event.target.closest ? event.target.closest("[data-picker-option]") : null;
    if (!option) { return; }
    event.preventDefault();  /* keep focus in the field until the choice is made */
    var list = option.closest("[role=listbox]");
    var input = list ? document.querySelector('[aria-controls="' + list.id + '"]') : null;
    if (input) { choose(input, option); }
  });

  document.addEventListener("focusout", function (event) {
    var input = event.target;
    if (input.matches && input.matches("input[data-ingredient-picker]")) {
      setTimeout(function () { closePicker(input); }, 150);
    }
  });

  /* --- The session: warn before it ends, sign in again in place after --------------------- */
  var idleSeconds = parseInt(meta("session-idle-seconds"), 10) || 0;
  var lastActivity = Date.now();
  var failed = [];  /* requests that met an ended session, re-sent after signing in again */

  function warnLead() { return Math.min(60, Math.floor(idleSeconds / 3)); }

  function show(id, visible) {
    var el = document.getElementById(id);
    if (el) { el.hidden = !visible; }
    return el;
  }

  function touchSession() {
    lastActivity = Date.now();
    show("session-warning", false);
  }

  function tick() {
    if (!idleSeconds) { return; }
    var idle = (Date.now() - lastActivity) / 1000;
    var warning = document.getElementById("session-warning");
    if (!warning) { return; }
    var reauth = document.getElementById("session-reauth");
    if (reauth && !reauth.hidden) { return; }
    if (idle >= idleSeconds) {
      warning.querySelector("[data-session-text]").textContent =
        "Your session has ended. Sign in again to keep working: what you typed stays on this page.";
      warning.querySelector("[data-stay]").hidden = true;
      warning.querySelector("[data-sign-in-again]").hidden = false;
      warning.hidden = false;
    } else if (idle >= idleSeconds - warnLead()) {
      var left = Math.max(1, Math.round(idleSeconds - idle));
      warning.querySelector("[data-session-text]").textContent =
        "For your patients' privacy you will be signed out in " + left + " second" + (left === 1 ? "" : "s") + " unless you stay.";
      warning.querySelector("[data-stay]").hidden = false;
      warning.querySelector("[data-sign-in-again]").hidden = true;
      warning.hidden = false;
    }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: body || new FormData(),
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
    });
  }

  function staySignedIn() {
    post(meta("session-keepalive-url")).then(function (response) {
      if (response.status === 401) { sessionEnded(null); } else { touchSession(); }
    });
  }

  function sessionEnded(request) {
    if (request) { failed.push(request); }
    show("session-warning", false);
    var panel = show("session-reauth", true);
    if (panel) {
      var first = panel.querySelector("input:not([readonly])");
      if (first && document.activeElement && !panel.contains(document.activeElement)) { /* keep the user's caret */ }
      else if (first) { first.focus(); }
    }
  }

  function resend() {
    var pending = failed;
    failed = [];
    if (!window.htmx) { return; }
    if (!pending.length) {
      /* nothing failed (the panel was opened from the warning): save the order form as it is now */
      var form = document.querySelector("form[data-autosave]");
      if (form) { htmx.trigger(form, "change"); }
      return;
    }
    var seen = [];
    pending.forEach(function (r) {
      var key = r.verb + " " + r.path;
      if (seen.indexOf(key) !== -1) { return; }
      seen.push(key);
      htmx.ajax(r.verb.toUpperCase(), r.path, { source: r.elt, target: r.target, swap: r.swap });
    });
  }

  function signInAgain(event) {
    event.preventDefault();
    var form = event.target;
    var error = form.querySelector("[data-reauth-error]");
    post(form.getAttribute("action"), new FormData(form)).then(function (response) {
      return response.json().then(function (data) { return { status: response.status, data: data }; });
    }).then(function (answer) {
      if (answer.status === 200 && answer.data.csrf_token) {
        setCsrfToken(answer.data.csrf_token);
        form.reset();
        error.hidden = true;
        show("session-reauth", false);
        touchSession();
        resend();
      } else {
        error.textContent = (answer.data && answer.data.message) || "That did not work; try again.";
        error.hidden = false;
      }
    });
  }

  function initSession() {
    if (!idleSeconds) { return; }
    var stay = document.querySelector("[data-stay]");
    if (stay) { stay.addEventListener("click", staySignedIn); }
    var again = document.querySelector("[data-sign-in-again]");
    if (again) { again.addEventListener("click", function () { sessionEnded(null); }); }
    var form = document.getElementById("session-reauth-form");
    if (form) { form.addEventListener("submit", signInAgain); }
    setInterval(tick, 1000);
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status !== 401) { touchSession(); }
  });

  function swapOf(elt) {
    var holder = elt && elt.closest ? elt.closest("[hx-swap]") : null;
    return holder ? holder.getAttribute("hx-swap") : "innerHTML";
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status === 401 && xhr.getResponseHeader("X-Session-Ended")) {
      var cfg = event.detail.requestConfig || {};
      sessionEnded({ verb: cfg.verb || "post", path: cfg.path || event.detail.pathInfo.requestPath,
                     elt: event.detail.elt, target: event.detail.target, swap: swapOf(event.detail.elt) });
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    initMenu();
    initSession();
  });
})();
