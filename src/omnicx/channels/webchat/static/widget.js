/* OmniCX web chat widget. Vendored, no dependencies. Embed:
   <script src="https://cx.example.cn/widget.js" data-omnicx-channel="TOKEN" async></script>
   A signed-in user: add data-user-id="..." data-user-hash="HMAC-SHA256(secret, id) hex". */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-omnicx-channel]");
  if (!script || window.__omnicxChat) return;
  window.__omnicxChat = true;
  var token = script.getAttribute("data-omnicx-channel") || "";
  var userId = script.getAttribute("data-user-id") || "";
  var userHash = script.getAttribute("data-user-hash") || "";
  var base = new URL(script.src, location.href);
  var wsBase = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/widget/ws";
  var httpBase = base.protocol + "//" + base.host;
  var lang = (document.documentElement.lang || navigator.language || "en").toLowerCase();
  var zh = lang.indexOf("zh") === 0;
  var T = zh ? {
    title: "在线客服", open: "联系客服", placeholder: "输入消息…", send: "发送",
    prechat: "开始对话前，请留下您的联系方式（可选）", name: "姓名", phone: "手机号",
    email: "邮箱", start: "开始对话", offline: "正在连接…", failed: "发送失败，将自动重试",
    close: "关闭", attach: "发送文件", tooLarge: "文件过大（最多 {n} MB）。",
    fileFailed: "文件未能发送，请重试。"
  } : {
    title: "Chat with us", open: "Chat", placeholder: "Type a message…", send: "Send",
    prechat: "Before we start, how can we reach you? (optional)", name: "Name", phone: "Phone",
    email: "Email", start: "Start chat", offline: "Connecting…", failed: "Not sent yet; retrying",
    close: "Close", attach: "Send a file", tooLarge: "The file is too large (at most {n} MB).",
    fileFailed: "The file could not be sent. Please try again."
  };
  var storeKey = "omnicx.visitor." + token;
  var profileKey = "omnicx.profile." + token;
  function load(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function save(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* private mode */ } }
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var out = "";
    for (var i = 0; i < 32; i++) out += Math.floor(Math.random() * 16).toString(16);
    return out;
  }

  var host = document.createElement("div");
  host.id = "omnicx-chat";
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.innerHTML =
    "<style>" +
    ":host,*{box-sizing:border-box;font-family:-apple-system,BlinkMacSystemFont,'PingFang SC'," +
    "'Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Source Han Sans SC'," +
    "'WenQuanYi Micro Hei',sans-serif;font-size:14px}" +
    ".bubble{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:24px;" +
    "padding:12px 18px;background:#1f6feb;color:#fff;cursor:pointer;box-shadow:0 2px 8px #0004}" +
    ".panel{position:fixed;right:20px;bottom:76px;z-index:2147483000;width:340px;max-width:calc(100vw - 40px);" +
    "height:460px;max-height:calc(100vh - 100px);display:none;flex-direction:column;background:#fff;" +
    "border-radius:10px;box-shadow:0 4px 24px #0005;overflow:hidden}" +
    ".panel.open{display:flex}.head{background:#1f6feb;color:#fff;padding:10px 14px;display:flex;" +
    "justify-content:space-between;align-items:center}.head button{background:none;border:0;color:#fff;cursor:pointer}" +
    ".log{flex:1;overflow-y:auto;padding:10px;background:#f6f8fa}" +
    ".msg{max-width:80%;margin:6px 0;padding:8px 10px;border-radius:8px;white-space:pre-wrap;word-break:break-word}" +
    ".in{margin-left:auto;background:#1f6feb;color:#fff}.out{background:#fff;border:1px solid #d0d7de}" +
    ".pending{opacity:.6}.who{font-size:12px;color:#57606a;margin-bottom:2px}" +
    ".note{font-size:12px;color:#cf222e;padding:4px 10px;min-height:1em}" +
    "form{display:flex;gap:6px;padding:8px;border-top:1px solid #d0d7de}" +
    "textarea{flex:1;resize:none;height:38px;padding:8px;border:1px solid #d0d7de;border-radius:6px}" +
    "form button,.pre button{border:0;border-radius:6px;background:#1f6feb;color:#fff;padding:0 14px;cursor:pointer}" +
    ".pre{display:none;flex-direction:column;gap:8px;padding:14px}.pre.show{display:flex}" +
    ".pre input{padding:8px;border:1px solid #d0d7de;border-radius:6px}.pre button{padding:9px}" +
    "form button.attach{background:none;color:#57606a;padding:0 6px;font-size:18px}" +
    "form button.attach:disabled{opacity:.4;cursor:default}" +
    ".file{display:block;color:inherit;text-decoration:underline}.in .file{color:#fff}" +
    "</style>" +
    "<button class='bubble' part='bubble'></button>" +
    "<div class='panel' role='dialog'><div class='head'><span class='title'></span>" +
    "<button class='close'>×</button></div>" +
    "<div class='pre'><p class='pretext'></p><input name='name' maxlength='200'>" +
    "<input name='phone' maxlength='200' inputmode='tel'><input name='email' maxlength='200' type='email'>" +
    "<button class='start' type='button'></button></div>" +
    "<div class='log' aria-live='polite'></div><div class='note'></div>" +
    "<form><button class='attach' type='button' disabled>&#128206;</button>" +
    "<input class='picker' type='file' hidden><textarea maxlength='4000'></textarea>" +
    "<button class='send' type='submit'></button></form></div>";
  function $(sel) { return root.querySelector(sel); }
  var panel = $(".panel"), logEl = $(".log"), note = $(".note"), input = $("textarea");
  var pre = $(".pre");
  $(".bubble").textContent = T.open;
  $(".title").textContent = T.title;
  $(".close").setAttribute("aria-label", T.close);
  $(".pretext").textContent = T.prechat;
  $("input[name=name]").placeholder = T.name;
  $("input[name=phone]").placeholder = T.phone;
  $("input[name=email]").placeholder = T.email;
  $(".start").textContent = T.start;
  input.placeholder = T.placeholder;
  $("form .send").textContent = T.send;
  var attach = $(".attach"), picker = $(".picker");
  attach.setAttribute("aria-label", T.attach);
  attach.title = T.attach;

  var socket = null, visitorId = "", attempt = 0, refused = false, maxChars = 4000;
  var maxFileBytes = 10 * 1024 * 1024;
  var shown = {}, pending = [], profile = null, askProfile = false;
  try { profile = JSON.parse(load(profileKey) || "null"); } catch (e) { profile = null; }

  function megabytes(size) { return String(Math.round(size / 104857.6) / 10); }
  function sizeText(size) {
    return size >= 1048576 ? megabytes(size) + " MB" : Math.max(1, Math.round(size / 1024)) + " KB";
  }
  function linked(line) {
    var files = line.attachments || [];
    return files.length > 0 && !!files[0].url;
  }
  function fill(div, line) {
    div.textContent = "";
    if (line.direction !== "in" && line.author_name) {
      var who = document.createElement("div");
      who.className = "who";
      who.textContent = line.author_name;
      div.appendChild(who);
    }
    if (line.text) div.appendChild(document.createTextNode(line.text));
    var files = line.attachments || [];
    for (var i = 0; i < files.length; i++) {
      // A signed link from the server (its own host); the name is shown as text only.
      var file = document.createElement(files[i].url ? "a" : "span");
      file.className = "file";
      if (files[i].url) {
        file.href = new URL(files[i].url, base).href;
        file.setAttribute("download", files[i].name);
        file.rel = "noopener";
      }
      file.textContent = "\uD83D\uDCCE " + files[i].name + " · " + sizeText(files[i].size);
      div.appendChild(file);
    }
  }

  function render(line) {
    if (shown[line.message_id]) {
      var existing = shown[line.message_id];
      if (existing.nodeType) {
        existing.classList.remove("pending");
        if (linked(line)) fill(existing, line);
      }
      return;
    }
    var div = document.createElement("div");
    div.className = "msg " + (line.direction === "in" ? "in" : "out");
    fill(div, line);
    if (line.pending) div.classList.add("pending");
    div.setAttribute("data-message-id", line.message_id);
    logEl.appendChild(div);
    logEl.scrollTop = logEl.scrollHeight;
    shown[line.message_id] = div;
  }

  function sendFrame(frame) {
    if (socket && socket.readyState === 1) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function flush() {
    for (var i = 0; i < pending.length; i++) sendFrame(pending[i]);
  }

  function connect() {
    var url = wsBase + "?token=" + encodeURIComponent(token) + "&lang=" + (zh ? "zh-CN" : "en");
    var stored = load(storeKey);
    if (stored) url += "&visitor=" + encodeURIComponent(stored);
    if (userId) url += "&user_id=" + encodeURIComponent(userId) + "&user_hash=" + encodeURIComponent(userHash);
    note.textContent = T.offline;
    socket = new WebSocket(url);
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "welcome") {
        attempt = 0;
        note.textContent = "";
        visitorId = frame.visitor_id;
        save(storeKey, frame.visitor);
        maxChars = frame.max_chars || maxChars;
        maxFileBytes = frame.max_file_bytes || maxFileBytes;
        if (frame.file_types) picker.setAttribute("accept", frame.file_types.join(","));
        attach.disabled = false;
        askProfile = !!frame.prechat && !profile && !frame.signed_in;
        pre.classList.toggle("show", askProfile && !frame.history.length);
        for (var i = 0; i < frame.history.length; i++) render(frame.history[i]);
        flush();
      } else if (frame.type === "message") {
        render(frame);
      } else if (frame.type === "ack") {
        pending = pending.filter(function (p) { return p.client_id !== frame.client_id; });
        var el = shown[frame.message_id] || shown["c:" + frame.client_id];
        if (el && el.nodeType) { el.classList.remove("pending"); shown[frame.message_id] = el; }
      } else if (frame.type === "error") {
        note.textContent = frame.message;
        if (frame.client_id) {
          // Refused for good (too long, invalid) or for now (rate limited): drop it from
          // the retry queue either way; the visitor sees why and may send again.
          pending = pending.filter(function (p) { return p.client_id !== frame.client_id; });
        }
      }
    };
    socket.onclose = function (event) {
      socket = null;
      if (event.code >= 4400 && event.code < 4500) { refused = true; return; }
      var delay = Math.min(30000, 1000 * Math.pow(2, attempt++)) * (0.5 + Math.random() / 2);
      note.textContent = T.offline;
      setTimeout(connect, delay);
    };
  }

  function send(text) {
    var clientId = newId();
    var frame = { type: "message", client_id: clientId, text: text };
    if (profile) frame.profile = profile;
    pending.push(frame);
    render({ message_id: visitorId + "-" + clientId, direction: "in", text: text, pending: true });
    shown["c:" + clientId] = shown[visitorId + "-" + clientId];
    if (!sendFrame(frame) && !refused) note.textContent = T.failed;
  }

  function query() {
    var q = "?token=" + encodeURIComponent(token) + "&lang=" + (zh ? "zh-CN" : "en");
    q += "&visitor=" + encodeURIComponent(load(storeKey) || "");
    if (userId) q += "&user_id=" + encodeURIComponent(userId) + "&user_hash=" + encodeURIComponent(userHash);
    return q;
  }

  function drop(messageId) {
    var el = shown[messageId];
    if (el && el.nodeType && el.parentNode) el.parentNode.removeChild(el);
    delete shown[messageId];
  }

  // A file goes over HTTP (the socket carries text); the server refuses what is too
  // large or of a type it does not take, in the visitor's language.
  function sendFile(file) {
    if (file.size > maxFileBytes) {
      note.textContent = T.tooLarge.replace("{n}", megabytes(maxFileBytes));
      return;
    }
    var clientId = newId(), messageId = visitorId + "-" + clientId;
    render({ message_id: messageId, direction: "in", text: "", pending: true,
             attachments: [{ name: file.name, size: file.size }] });
    var form = new FormData();
    form.append("client_id", clientId);
    form.append("file", file, file.name);
    fetch(httpBase + "/widget/attachments" + query(), { method: "POST", body: form, credentials: "omit" })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (answer) {
        if (!answer.ok) {
          drop(messageId);
          note.textContent = (answer.body.error && answer.body.error.message) || T.fileFailed;
          return;
        }
        note.textContent = "";
        render({ message_id: answer.body.message_id, direction: "in", text: "",
                 attachments: answer.body.attachments });
      })
      .catch(function () { drop(messageId); note.textContent = T.fileFailed; });
  }

  attach.addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    if (picker.files && picker.files[0]) sendFile(picker.files[0]);
    picker.value = "";
  });

  $(".start").addEventListener("click", function () {
    profile = {
      name: $("input[name=name]").value.trim(),
      phone: $("input[name=phone]").value.trim(),
      email: $("input[name=email]").value.trim()
    };
    save(profileKey, JSON.stringify(profile));
    pre.classList.remove("show");
    input.focus();
  });
  $("form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || text.length > maxChars) return;
    input.value = "";
    send(text);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("form").requestSubmit();
    }
  });
  $(".bubble").addEventListener("click", function () {
    panel.classList.toggle("open");
    if (panel.classList.contains("open")) input.focus();
  });
  $(".close").addEventListener("click", function () { panel.classList.remove("open"); });
  function start() { document.body.appendChild(host); connect(); }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
