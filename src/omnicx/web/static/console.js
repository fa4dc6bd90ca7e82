/* The agent console's live updates (docs/desk.md, "Live updates").
 *
 * On a page with any [data-live-inbox] or [data-live-conversation] element, one
 * EventSource reads /desk/live. Each `conversation` event ({"id": N}) sends htmx's
 * "live" event to every [data-live-inbox] element and to every
 * [data-live-conversation="N"] element — at most once per 150 ms per element, however
 * many events arrive meanwhile — and each refreshes itself (hx-get … hx-trigger="live").
 * The browser reconnects a dropped stream by itself (the server asks for 2 s); a stream
 * the server refused (signed out) is tried again with a growing pause. <html data-live>
 * says whether the stream is open (styles and tests may read it).
 *
 * A `call` event ({"call_id", "conversation_id", "customer_id"}: a phone call ringing at
 * or answered by this agent) shows the page's [data-call-pop] banner with links to the
 * conversation and the customer (ids only; those pages mask the customer for the role).
 */
(function () {
  "use strict";
  var DEBOUNCE_MS = 150;
  var RETRY_MS = 5000;
  var MAX_RETRY_MS = 60000;
  var waiting = new WeakMap(); // element → its pending timer

  function refresh(element) {
    if (waiting.has(element)) return; // already due within the 150 ms
    waiting.set(element, window.setTimeout(function () {
      waiting.delete(element);
      if (element.isConnected) window.htmx.trigger(element, "live");
    }, DEBOUNCE_MS));
  }

  function onConversation(event) {
    var id;
    try { id = JSON.parse(event.data).id; } catch (err) { return; }
    if (typeof id !== "number" || !isFinite(id)) return;
    document.querySelectorAll("[data-live-inbox]").forEach(refresh);
    document.querySelectorAll('[data-live-conversation="' + id + '"]').forEach(refresh);
  }

  function onCall(event) {
    var call;
    try { call = JSON.parse(event.data); } catch (err) { return; }
    var pop = document.querySelector("[data-call-pop]");
    if (!pop || !call) return;
    var links = [
      ["[data-call-conversation]", "/desk/conversations/", call.conversation_id],
      ["[data-call-customer]", "/customers/", call.customer_id]
    ];
    links.forEach(function (link) {
      var a = pop.querySelector(link[0]);
      var ok = typeof link[2] === "number" && isFinite(link[2]);
      if (!a) return;
      a.hidden = !ok;
      if (ok) a.setAttribute("href", link[1] + link[2]);
    });
    pop.setAttribute("data-call-id", String(call.call_id || ""));
    pop.hidden = false;
    var dismiss = pop.querySelector("[data-call-dismiss]");
    if (dismiss) dismiss.onclick = function () { pop.hidden = true; };
  }

  function connect(pause) {
    var source = new window.EventSource("/desk/live");
    source.addEventListener("conversation", onConversation);
    source.addEventListener("call", onCall);
    source.addEventListener("open", function () {
      pause = RETRY_MS;
      document.documentElement.setAttribute("data-live", "open");
    });
    source.addEventListener("error", function () {
      document.documentElement.setAttribute("data-live", "reconnecting");
      if (source.readyState !== window.EventSource.CLOSED) return; // reconnecting itself
      window.setTimeout(function () { connect(Math.min(pause * 2, MAX_RETRY_MS)); }, pause);
    });
  }

  function start() {
    if (!window.htmx || !window.EventSource) return;
    if (!document.querySelector("[data-live-inbox], [data-live-conversation]")) return;
    connect(RETRY_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
