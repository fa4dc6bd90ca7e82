// The conversation page's keyboard: shortcuts, Ctrl/⌘+Enter to send, and the canned-reply
// picker ("/" and a short code in the reply box). Every word a person reads comes from the
// server's templates, in their language; this file only moves focus and asks the server.
(function () {
  "use strict";

  var layout = document.querySelector(".conversation-layout");
  if (!layout) return;
  var form = document.getElementById("reply-form");
  var box = document.getElementById("reply-text");
  var picker = document.getElementById("canned-picker");
  var help = document.getElementById("shortcuts-help");
  var cannedUrl = layout.getAttribute("data-canned-url");
  var csrf = layout.getAttribute("data-csrf");
  var pendingG = 0;

  function typing(target) {
    return target instanceof Element &&
      (target.matches("input, textarea, select") || target.isContentEditable);
  }

  function openMenu(id, focusSelector) {
    var menu = document.getElementById(id);
    if (!menu) return;
    menu.open = true;
    var first = menu.querySelector(focusSelector || "button, select, input:not([type=hidden])");
    if (first) first.focus();
    menu.scrollIntoView({ block: "nearest" });
  }

  function compose(kind) {
    if (!form) return;
    var choice = form.querySelector("input[name=kind][value=" + kind + "]");
    if (choice) choice.checked = true;
    box.focus();
  }

  function toggleHelp(show) {
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) help.querySelector("button").focus();
  }

  var SHORTCUTS = {
    r: function () { compose("reply"); },
    n: function () { compose("note"); },
    e: function () {
      var resolve = document.getElementById("resolve-button");
      if (resolve) resolve.click();
    },
    s: function () { openMenu("snooze-menu"); },
    a: function () { openMenu("assign-menu"); },
    t: function () { openMenu("ticket-menu", "input[name=title]"); },
    "?": function () { toggleHelp(); },
  };

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && help && !help.hidden) { toggleHelp(false); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (typing(event.target)) return;
    if (pendingG && event.key === "i") {
      event.preventDefault();
      window.location.href = "/desk";
      return;
    }
    pendingG = 0;
    if (event.key === "g") {
      pendingG = window.setTimeout(function () { pendingG = 0; }, 1500);
      return;
    }
    var action = SHORTCUTS[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target instanceof Element && event.target.closest("[data-shortcut-help]")) {
      event.preventDefault();
      toggleHelp();
    }
  });

  // -- live refreshes wait while the agent works inside a part of the page ---------------
  // console.js triggers "live" when the conversation changes elsewhere; a refresh would
  // throw away a half-typed label or an open menu, so it is held until they leave it.
  function busy(part) {
    var active = document.activeElement;
    return (active && part.contains(active) && typing(active)) ||
      part.querySelector("details[open]") !== null;
  }

  // Held twice: before the request, and before its answer is swapped in, since the agent
  // may have opened a menu while the request was on its way.
  function holdIfBusy(event, part) {
    var cause = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    if (!cause || cause.type !== "live" || !part.hasAttribute("data-live-conversation")) return false;
    if (!busy(part)) return false;
    part.setAttribute("data-stale", "");
    return true;
  }
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    if (holdIfBusy(event, event.detail.elt)) event.preventDefault();
  });
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (holdIfBusy(event, event.detail.elt)) event.detail.shouldSwap = false;
  });

  function refreshIfStale(event) {
    var part = event.target instanceof Element && event.target.closest("[data-stale]");
    if (part && !busy(part)) {
      part.removeAttribute("data-stale");
      htmx.trigger(part, "live");
    }
  }
  document.addEventListener("focusout", function (event) {
    window.setTimeout(function () { refreshIfStale(event); }, 0);
  });
  document.addEventListener("toggle", refreshIfStale, true);

  var thread = document.getElementById("thread");
  function toNewest() { thread.scrollTop = thread.scrollHeight; }
  if (thread) {
    toNewest();
    thread.addEventListener("htmx:afterSwap", function (event) {
      // Earlier messages were asked for: the reader stays at the top, where they start.
      if (event.detail.requestConfig && event.detail.requestConfig.elt.hasAttribute("data-older")) {
        thread.scrollTop = 0;
      } else {
        toNewest();
      }
    });
  }

  if (!form || !box) return;

  // -- sending -----------------------------------------------------------------------------
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      closePicker();
      form.requestSubmit();
    }
  });

  var files = document.getElementById("reply-files");
  var filePicker = document.getElementById("reply-file");

  form.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt === form && event.detail.successful) {
      box.value = "";
      if (files) files.innerHTML = "";  // the files left with the message
      box.focus();
    }
    // A picked file is uploaded at once (a refusal, too large or a type not accepted, is
    // shown where the reply's status goes); the picker is emptied for the next one.
    if (event.detail.elt === filePicker) filePicker.value = "";
  });

  if (files) {
    files.addEventListener("click", function (event) {
      var remove = event.target instanceof Element && event.target.closest("[data-remove-file]");
      if (remove) remove.closest("li").remove();  // the upload stays, unsent, unlisted
    });
  }

  // -- canned replies ----------------------------------------------------------------------
  // The token being typed: "/" at the start or after a space, then the code so far.
  function slashToken() {
    var before = box.value.slice(0, box.selectionStart);
    var found = /(^|\s)\/([a-z0-9_-]{0,32})$/i.exec(before);
    if (!found) return null;
    return { start: before.length - found[2].length - 1, code: found[2] };
  }

  function options() { return Array.prototype.slice.call(picker.querySelectorAll("[data-code]")); }

  function closePicker() {
    picker.hidden = true;
    picker.innerHTML = "";
    box.removeAttribute("aria-activedescendant");
  }

  function highlight(step) {
    var all = options();
    if (!all.length) return;
    var now = all.findIndex(function (o) { return o.classList.contains("active"); });
    var next = (now + step + all.length) % all.length;
    all.forEach(function (o, i) {
      o.classList.toggle("active", i === next);
      o.setAttribute("aria-selected", i === next ? "true" : "false");
    });
    box.setAttribute("aria-activedescendant", all[next].id);
  }

  // htmx runs the last of several quick lookups after the one in flight, and swaps each
  // answer in order: the picker shows whatever arrived last, while a token is being typed.
  box.addEventListener("input", function () {
    var token = slashToken();
    if (!token) { closePicker(); return; }
    htmx.ajax("GET", cannedUrl + "?q=" + encodeURIComponent(token.code), {
      target: picker, swap: "innerHTML",
    });
  });

  picker.addEventListener("htmx:afterSwap", function () {
    if (slashToken()) picker.hidden = false;
    else closePicker();
  });

  function insert(code) {
    var token = slashToken();
    var body = new URLSearchParams({ csrf: csrf, code: code });
    fetch(cannedUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "HX-Request": "true" },
    }).then(function (answer) {
      return answer.text().then(function (text) { return { ok: answer.ok, text: text }; });
    }).then(function (answer) {
      if (!answer.ok) {
        picker.innerHTML = answer.text;  // the server's translated error line
        picker.hidden = false;
        return;
      }
      var start = token ? token.start : box.selectionStart;
      var end = box.selectionStart;
      box.value = box.value.slice(0, start) + answer.text + box.value.slice(end);
      var caret = start + answer.text.length;
      box.setSelectionRange(caret, caret);
      closePicker();
      box.focus();
    });
  }

  box.addEventListener("keydown", function (event) {
    if (picker.hidden || event.ctrlKey || event.metaKey) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      highlight(event.key === "ArrowDown" ? 1 : -1);
    } else if (event.key === "Enter" || event.key === "Tab") {
      var chosen = picker.querySelector("[data-code].active");
      if (chosen) {
        event.preventDefault();
        insert(chosen.getAttribute("data-code"));
      }
    } else if (event.key === "Escape") {
      event.preventDefault();
      closePicker();
    }
  });

  picker.addEventListener("mousedown", function (event) {
    var option = event.target instanceof Element && event.target.closest("[data-code]");
    if (option) {
      event.preventDefault();  // keep the caret in the reply box
      insert(option.getAttribute("data-code"));
    }
  });
})();
