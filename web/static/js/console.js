/* IOC operator console (/console): search events, load more with the API's cursor,
   acknowledge, and see new events arrive live on top (when they match the filters).

   Query parameter names of GET /api/v1/events live in QUERY below, in one place. */
"use strict";

(function () {
  const { t, el, clear, api, withQuery, typeLabel, severityLabel, severityOf, fmtDateTime,
    zonedInputToIso, startClock, LiveStream, showConnState, page,
    eventFacts, eventDetails, loadUnitNames, alarmBadge, alarmActions, isAlarm } = window.IOC;

  const $ = (id) => document.getElementById(id);
  const PAGE_SIZE = 50;
  // form field -> API query parameter of GET /api/v1/events
  const QUERY = { type: "types", camera: "camera", unit: "unit", from: "since", to: "until", q: "q" };
  const rows = new Map(); // event id -> <tr>
  const cameraNames = new Map(); // camera id -> name, from /api/v1/cameras
  let unitNames = new Map();     // unit code -> name, from /api/v1/units
  const events = new Map();      // event id -> the event as listed (for the alarm cell)
  let cursor = null;
  let current = {};       // filters of the list on screen
  let loading = false;
  let stream = null;

  function readFilters() {
    const f = $("filters");
    const out = {};
    for (const name of ["type", "camera", "unit", "q"]) {
      const v = f[name].value.trim();
      if (v) out[name] = v;
    }
    const from = zonedInputToIso(f.from.value);
    const to = zonedInputToIso(f.to.value);
    if (from) out.from = from;
    if (to) out.to = to;
    return out;
  }

  function queryFor(filters) {
    const q = { limit: PAGE_SIZE };
    for (const [key, value] of Object.entries(filters)) q[QUERY[key] || key] = value;
    return q;
  }

  /** Does a live event belong in the list under the current filters? The server
      checks the unit subtree; here an exact unit match is the safe approximation. */
  function matches(ev) {
    const list = (v) => String(v || "").split(",").map((x) => x.trim()).filter(Boolean);
    if (current.type && !list(current.type).some((p) => String(ev.type).startsWith(p))) return false;
    if (current.camera && !list(current.camera).includes(ev.camera)) return false;
    if (current.unit && ev.unit !== current.unit) return false;
    if (current.from && String(ev.ts) < current.from) return false;
    if (current.to) return false; // a closed time range never grows
    if (current.q && !JSON.stringify(ev.payload || {}).toLowerCase().includes(current.q.toLowerCase())) return false;
    return true;
  }

  function ackCell(ev) {
    const cell = el("td", { className: "status" });
    fillStatus(cell, ev);
    return cell;
  }

  /** The status cell: where the alarm stands and, for warning/critical events, the
      acknowledge / assign / resolve actions (info events keep a plain acknowledge). */
  function fillStatus(cell, ev) {
    clear(cell);
    const badge = isAlarm(ev) ? alarmBadge(ev) : (ev.ack_by ? t("console.acked", { by: ev.ack_by }) : "");
    if (badge) cell.append(el("span", { className: "ack-badge", text: "✓ " + badge }));
    if (isAlarm(ev)) {
      const actions = alarmActions(ev, () => [ev.id], (update) => {
        if (update.ack_by) ev.ack_by = ev.ack_by || update.ack_by;
        if (update.alarm) ev.alarm = update.alarm;
        refreshRow(ev.id);
      }, (err) => showNotice(t("alarm.failed", { status: err.status || err.message })));
      if (actions) cell.append(actions);
      return;
    }
    if (ev.ack_by) return;
    const button = el("button", { className: "btn small", type: "button", text: t("console.ack") });
    button.dataset.ack = ev.id;
    button.addEventListener("click", () => acknowledge(ev.id, button));
    cell.append(button);
  }

  function refreshRow(id) {
    const tr = rows.get(id);
    const ev = events.get(id);
    if (!tr || !ev) return;
    tr.classList.toggle("acknowledged", !!ev.ack_by);
    tr.dataset.state = isAlarm(ev) ? (ev.alarm && ev.alarm.state) || (ev.ack_by ? "acknowledged" : "new") : "";
    fillStatus(tr.querySelector("td.status"), ev);
  }

  function row(ev) {
    const sev = severityOf(ev.severity);
    events.set(ev.id, ev);
    const details = el("div", { className: "details" });
    for (const [kind, label, text] of eventFacts(ev, 6)) {
      if (kind === "plate") details.append(el("span", { className: "plate", text, title: label }));
      else if (kind === "note") details.append(el("span", { className: "kv", text }));
      else details.append(el("span", { className: "kv" }, label ? label + ": " : "", el("b", { text })));
    }
    if (Array.isArray(ev.evidence) && ev.evidence.length) {
      for (const item of ev.evidence.slice(0, 3)) {
        if (item && /^[0-9a-f]{64}$/.test(item.sha256 || "")) {
          const kind = window.IOC.has("evidence." + item.kind) ? t("evidence." + item.kind) : t("evidence.file");
          details.append(el("a", { href: "/api/v1/evidence/" + item.sha256, text: "[" + kind + "]" }));
        }
      }
    }
    const raw = eventDetails(ev);
    const tr = el("tr", { dataset: { id: ev.id, severity: sev } },
      el("td", { className: "mono", text: fmtDateTime(ev.ts) }),
      el("td", {}, el("span", { className: "sev", dataset: { severity: sev }, text: severityLabel(sev) })),
      el("td", {}, typeLabel(ev.type), el("span", { className: "type-code", text: ev.type })),
      el("td", { text: cameraNames.get(ev.camera) || ev.camera || "", title: ev.camera }),
      el("td", { text: unitNames.get(ev.unit) || ev.unit_name || ev.unit || "", title: ev.unit }),
      el("td", {}, details, raw ? Object.assign(raw, { className: "raw-fold" }) : null),
      ackCell(ev));
    if (ev.ack_by) tr.classList.add("acknowledged");
    if (isAlarm(ev)) tr.dataset.state = (ev.alarm && ev.alarm.state) || (ev.ack_by ? "acknowledged" : "new");
    return tr;
  }

  function showNotice(text) {
    const n = $("notice");
    n.textContent = text || "";
    n.classList.toggle("hidden", !text);
  }

  function updateCounts() {
    $("results-count").textContent = t("console.results", { n: rows.size });
    const empty = $("events-empty");
    empty.textContent = t("common.none");
    empty.classList.toggle("hidden", rows.size > 0);
    $("load-more").disabled = !cursor || loading;
    $("more-state").textContent = cursor ? "" : rows.size ? t("console.no_more") : "";
  }

  async function search(append) {
    if (loading) return;
    loading = true;
    $("load-more").disabled = true;
    try {
      const q = queryFor(current);
      if (append && cursor) q.cursor = cursor;
      const body = await api(withQuery("/api/v1/events", q));
      if (!append) { clear($("events-body")); rows.clear(); }
      for (const ev of (body && body.items) || []) {
        if (rows.has(ev.id)) continue;
        const tr = row(ev);
        rows.set(ev.id, tr);
        $("events-body").append(tr);
        if (stream) stream.remember(ev.id);
      }
      cursor = (body && body.next_cursor) || null;
      showNotice("");
    } catch (err) {
      showNotice(t("common.error", { msg: err.message || String(err) }));
    } finally {
      loading = false;
      updateCounts();
    }
  }

  async function acknowledge(id, button) {
    button.disabled = true;
    try {
      const body = await api("/api/v1/events/" + encodeURIComponent(id) + "/ack", { method: "POST" });
      markAcknowledged(id, (body && body.by) || page.user.username);
    } catch (err) {
      button.disabled = false;
      showNotice(t("console.ack_failed", { status: err.status || err.message }));
    }
  }

  function markAcknowledged(id, by) {
    const ev = events.get(id);
    if (!ev || ev.ack_by) return;
    ev.ack_by = by || "—";
    refreshRow(id);
  }

  /** Mark acknowledgements made elsewhere while this console was disconnected. */
  async function refreshAcks() {
    const body = await api(withQuery("/api/v1/events", { ...queryFor(current), acknowledged: "true", limit: 200 }));
    for (const ev of (body && body.items) || []) {
      if (ev.ack_by) markAcknowledged(ev.id, ev.ack_by);
      const shown = events.get(ev.id);
      if (shown && ev.alarm && ev.alarm.state !== (shown.alarm && shown.alarm.state)) { shown.alarm = ev.alarm; refreshRow(ev.id); }
    }
  }

  function onEvent(ev) {
    if (rows.has(ev.id) || !matches(ev)) return;
    const tr = row(ev);
    tr.classList.add("fresh");
    rows.set(ev.id, tr);
    $("events-body").prepend(tr);
    updateCounts();
  }

  function onControl(msg) {
    if (msg.type === "system.acknowledged") markAcknowledged(msg.id, msg.by);
    else if (msg.type === "system.alarm" && events.has(msg.id)) {
      const ev = events.get(msg.id);
      ev.alarm = { ...msg };
      if (msg.state === "resolved") ev.ack_by = ev.ack_by || msg.resolved_by;
      refreshRow(msg.id);
    }
    else if (msg.type === "system.lagged") search(false);
  }

  async function loadCameraOptions() {
    try {
      const body = await api("/api/v1/cameras");
      const list = Array.isArray(body) ? body : (body && body.items) || [];
      const box = $("camera-options");
      for (const cam of list) {
        cameraNames.set(cam.id, cam.name || cam.id);
        box.append(el("option", { value: cam.id, text: cam.name || cam.id }));
      }
    } catch (err) { /* the datalist is a convenience */ }
  }

  async function main() {
    startClock($("clock-time"), $("clock-date"));
    $("filters").addEventListener("submit", (e) => { e.preventDefault(); current = readFilters(); cursor = null; search(false); });
    $("filters").addEventListener("reset", () => setTimeout(() => { current = {}; cursor = null; search(false); }, 0));
    $("load-more").addEventListener("click", () => search(true));
    unitNames = await loadUnitNames();
    await loadCameraOptions(); // first, so rows can name their cameras
    await search(false);
    const newest = rows.size ? rows.keys().next().value : null;
    stream = new LiveStream({
      onEvent, onControl, onState: (s, info) => showConnState($("conn"), s, info),
      onReconnect: () => refreshAcks().catch((err) => console.warn("acks", err)),
      onFirstOpen: () => { if (!newest) search(false); },
    });
    for (const id of rows.keys()) stream.remember(id);
    stream.start(newest);
    document.body.dataset.ready = "1";
  }

  main().catch((err) => { console.error(err); document.body.dataset.ready = "error"; });
})();
