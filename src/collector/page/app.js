// Live list of what the local collector received, like the Debugger tab of a
// Segment source. Data comes from /api/stream (server-sent events); every
// value is rendered with textContent, never as HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const rows = $("events");
  const entries = new Map(); // seq -> entry
  let selected = null;
  let paused = false;
  const held = [];

  $("hostline").textContent = 'host: "' + location.origin + '"';

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    if (cls) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text == null ? "" : String(text);
    }
    td.title = td.textContent;
    tr.appendChild(td);
    return td;
  }

  function time(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString();
  }

  function title(e) {
    if (e.kind === "error") return e.code;
    return e.event != null ? e.event : (e.payload && e.payload.name) || "";
  }

  function user(e) {
    if (e.kind === "error") return e.path;
    if (e.userId != null) return e.userId;
    return e.anonymousId != null ? "anon " + e.anonymousId : "";
  }

  function matches(e) {
    const q = $("filter").value.trim().toLowerCase();
    if (!q) return true;
    return [e.type, title(e), user(e), e.error, e.messageId]
      .some((v) => v != null && String(v).toLowerCase().includes(q));
  }

  function render(e) {
    const tr = document.createElement("tr");
    tr.className = "row" + (e.kind === "error" ? " error" : "");
    tr.dataset.seq = e.seq;
    cell(tr, time(e.received_at));
    if (e.kind === "error") cell(tr, "rejected", "badge rejected");
    else cell(tr, e.type, "badge " + e.type);
    cell(tr, title(e));
    cell(tr, user(e));
    if (e.duplicate) cell(tr, "duplicate", "dup");
    else if (e.kind === "error") cell(tr, e.status);
    else cell(tr, "");
    tr.hidden = !matches(e);
    tr.addEventListener("click", () => select(e.seq));
    rows.insertBefore(tr, rows.firstChild);
  }

  function counts() {
    let msgs = 0, errs = 0;
    for (const e of entries.values()) e.kind === "error" ? errs++ : msgs++;
    $("counts").textContent = msgs + " event" + (msgs === 1 ? "" : "s") +
      (errs ? ", " + errs + " rejected" : "");
    $("empty").hidden = entries.size > 0;
  }

  function add(e) {
    if (entries.has(e.seq)) return;
    entries.set(e.seq, e);
    render(e);
    counts();
  }

  function select(seq) {
    const e = entries.get(seq);
    if (!e) return;
    selected = seq;
    for (const tr of rows.children) tr.classList.toggle("selected", Number(tr.dataset.seq) === seq);
    $("detail").hidden = false;
    $("detail-title").textContent = e.kind === "error"
      ? "Rejected request to " + e.path
      : e.type + (title(e) ? ": " + title(e) : "");
    $("detail-meta").textContent = "Received " + new Date(e.received_at).toLocaleString() +
      " on POST " + e.path + (e.messageId ? " · messageId " + e.messageId : "") +
      (e.duplicate ? " · duplicate messageId (Segment would drop it)" : "");
    const err = $("detail-error");
    err.hidden = e.kind !== "error";
    err.textContent = e.kind === "error" ? e.status + " " + e.code + ": " + e.error : "";
    $("payload").textContent = typeof e.payload === "string"
      ? e.payload : JSON.stringify(e.payload, null, 2);
  }

  $("filter").addEventListener("input", () => {
    for (const tr of rows.children) tr.hidden = !matches(entries.get(Number(tr.dataset.seq)));
  });
  $("pause").addEventListener("change", (ev) => {
    paused = ev.target.checked;
    if (!paused) held.splice(0).forEach(add);
  });
  $("clear").addEventListener("click", async () => {
    await fetch("/api/messages", { method: "DELETE" });
    entries.clear();
    held.length = 0;
    rows.textContent = "";
    selected = null;
    $("detail").hidden = true;
    counts();
  });
  $("copy").addEventListener("click", () => {
    const e = entries.get(selected);
    if (e && navigator.clipboard) navigator.clipboard.writeText(JSON.stringify(e.payload, null, 2));
  });

  function connect() {
    const es = new EventSource("/api/stream");
    es.onopen = () => { $("status").textContent = "live"; $("status").className = "status on"; };
    es.onerror = () => { $("status").textContent = "disconnected — retrying"; $("status").className = "status off"; };
    es.onmessage = (m) => {
      const e = JSON.parse(m.data);
      if (paused) held.push(e); else add(e);
    };
  }
  counts();
  connect();
})();
