/* IOC video wall (/wall/{display}): live feed, today's counters, camera tiles, KPIs,
   and slots for violations and running meetings when those features are installed.

   Start-up order matters for "no gap, no duplicate": the page first fetches the
   newest events, then opens the stream with since=<newest id>, so whatever arrived
   in between is replayed by the hub. */
"use strict";

(function () {
  const { t, el, clear, api, withQuery, typeLabel, severityLabel, severityOf, fmtTime, fmtAgo,
    fmtDay, fmtShort, fmtNumber, dayStart, startClock, Beeper, LiveStream, showConnState, page,
    eventFacts, eventDetails, overviewUrl, loadUnitNames, alarmBadge, alarmActions } = window.IOC;

  const FEED_MAX = 60;
  const $ = (id) => document.getElementById(id);
  const state = {
    day: dayStart(),
    counters: new Map(),     // type -> count today
    counterNodes: new Map(), // type -> <li>
    feedNodes: new Map(),    // event id -> its card ({node, ids, ...}); repeats share one
    cameras: new Map(),      // camera id -> {data, node, parts}
    stream: null,
    beeper: new Beeper(),
    alarmTimer: null,
    lagged: 0,               // system.lagged notices received (shown in devtools, used by tests)
  };
  // Filters of this display, from the page URL (?types=traffic.,security.&cameras=..&unit=..).
  const filters = page.filters || {};
  const typePrefixes = (filters.types || "").split(",").filter(Boolean);
  const wantsType = (type) => !typePrefixes.length || typePrefixes.some((p) => String(type).startsWith(p));
  // GET /api/v1/events names the camera list `camera`; the websocket names it `cameras`.
  const eventQuery = { types: filters.types, camera: filters.cameras, unit: filters.unit };
  window.IOC.wall = state; // for debugging from the devtools console

  /* ---------------- feed ---------------- */

  // Repeats: the same thing (camera, type, plate, zone/line/lane) within GROUP_MIN
  // minutes joins the open card of the first one, with a count, instead of a new card.
  const GROUP_MIN = Math.max(1, Math.min(120, Number(page.group_minutes) || 10));
  // A card stands for at most this many events: acting on it posts once per event.
  const GROUP_MAX = 100;
  const groupKey = (ev) => {
    const p = ev.payload || {};
    return [ev.camera, ev.type, p.plate || "", p.zone || "", p.line || "", p.lane || ""].map(String).join("|");
  };
  state.cards = new Map();   // group key -> open card (only one open per key)
  state.unitNames = new Map();

  function cameraName(id) {
    const cam = state.cameras.get(id);
    return (cam && cam.data.name) || id || "";
  }

  function renderCard(card) {
    const ev = card.ev;
    const { node, parts } = card;
    const sev = severityOf(ev.severity);
    node.dataset.id = ev.id;          // the newest event of the card
    node.dataset.severity = sev;
    node.dataset.count = String(card.ids.length);
    node.dataset.state = card.unacked.size ? (card.alarm && card.alarm.state === "assigned" ? "assigned" : "new")
      : (card.alarm && card.alarm.state) || "acknowledged";
    if (card.alarm && card.alarm.state === "resolved") node.dataset.state = "resolved";
    parts.time.textContent = fmtTime(ev.ts);
    const span = Math.max(1, Math.round((new Date(ev.ts) - new Date(card.firstTs)) / 60000));
    parts.count.textContent = card.ids.length > 1 ? t("wall.repeats", { n: card.ids.length, min: span }) : "";
    parts.where.textContent = [cameraName(ev.camera), state.unitNames.get(ev.unit) || ev.unit].filter(Boolean).join(" · ");
    clear(parts.detail);
    parts.detail.append(el("span", { className: "sev", dataset: { severity: sev }, text: severityLabel(sev) }));
    for (const [kind, label, text] of eventFacts(ev, 4)) {
      if (kind === "plate") parts.detail.append(el("span", { className: "plate", text, title: label }));
      else if (kind === "note") parts.detail.append(el("span", { className: "muted", text }));
      else parts.detail.append(el("span", { className: "fact" }, label ? el("span", { className: "muted", text: label + ": " }) : null, text));
    }
    // A snapshot only when the event has overview evidence: no empty <img> otherwise.
    const thumb = overviewUrl(ev);
    node.classList.toggle("has-thumb", !!thumb);
    if (thumb && !parts.thumb) {
      parts.thumb = el("img", { className: "ev-thumb", alt: t("fact.snapshot"), loading: "lazy", decoding: "async" });
      parts.thumb.addEventListener("error", () => { parts.thumb.classList.add("hidden"); node.classList.remove("has-thumb"); });
      node.insertBefore(parts.thumb, parts.alarm);
    }
    if (thumb && parts.thumb.getAttribute("src") !== thumb) parts.thumb.setAttribute("src", thumb);
    if (!thumb && parts.thumb) { parts.thumb.remove(); parts.thumb = null; }
    clear(parts.alarm);
    const view = { ...ev, ack_by: card.unacked.size ? null : (card.ackBy || ev.ack_by), alarm: card.alarm };
    const badge = card.unacked.size && !(card.alarm && card.alarm.state === "assigned") ? "" : alarmBadge(view);
    if (badge) parts.alarm.append(el("span", { className: "ack-badge", text: "✓ " + badge }));
    const actions = alarmActions(view, () => card.ids, (update) => {
      if (update.ack_by) for (const id of card.ids) ackCard(id, update.ack_by);
      if (update.alarm) { card.alarm = update.alarm; renderCard(card); }
    }, (err) => {
      parts.alarm.append(el("span", { className: "alarm-error", text: t("alarm.failed", { status: err.status || err.message }) }));
    });
    if (actions) parts.alarm.append(actions);
    const raw = eventDetails(ev);
    if (parts.raw) parts.raw.remove();
    parts.raw = raw;
    if (raw) node.append(raw);
  }

  function newCard(ev) {
    const parts = {
      type: el("span", { text: typeLabel(ev.type), title: ev.type }),
      count: el("span", { className: "ev-count" }),
      time: el("div", { className: "ev-time" }),
      where: el("div", { className: "ev-where" }),
      detail: el("div", { className: "ev-detail" }),
      thumb: null,
      alarm: el("div", { className: "ev-alarm" }),
      raw: null,
    };
    const node = el("li", { className: "ev", dataset: { type: ev.type, camera: ev.camera || "" } },
      el("div", { className: "ev-type" }, parts.type, parts.count), parts.time, parts.where, parts.detail,
      parts.alarm);
    return { key: groupKey(ev), node, parts, ev, ids: [], unacked: new Set(), firstTs: ev.ts, alarm: ev.alarm || null, ackBy: null };
  }

  /** Mark event `id` acknowledged on its card (the card shows acknowledged once all are). */
  function ackCard(id, by) {
    const card = state.feedNodes.get(id);
    if (!card) return;
    card.unacked.delete(id);
    card.ackBy = by || card.ackBy;
    if (!card.unacked.size && state.cards.get(card.key) === card) state.cards.delete(card.key); // closed to repeats
    card.node.classList.toggle("acknowledged", !card.unacked.size);
    renderCard(card);
  }

  function removeCard(card) {
    for (const id of card.ids) state.feedNodes.delete(id);
    if (state.cards.get(card.key) === card) state.cards.delete(card.key);
    card.node.remove();
  }

  function placeCard(card) {
    const feed = $("feed");
    const ts = String(card.ev.ts);
    card.node.dataset.ts = ts;
    // Newest first, even when a replay delivers an older event late.
    let before = feed.firstChild;
    while (before && (before === card.node || (before.dataset.ts && before.dataset.ts > ts))) before = before.nextSibling;
    if (card.node.nextSibling !== before || card.node.parentNode !== feed) feed.insertBefore(card.node, before);
  }

  /** Add an event to the feed; returns "new" (a card of its own), "repeat" (joined an
      open card) or "" (already shown). */
  function addToFeed(ev, fresh) {
    if (!ev || !ev.id || state.feedNodes.has(ev.id)) return "";
    const key = groupKey(ev);
    let card = state.cards.get(key);
    const acked = !!ev.ack_by || (ev.alarm && ev.alarm.state === "resolved");
    const near = card && Math.abs(new Date(ev.ts) - new Date(card.ev.ts)) <= GROUP_MIN * 60000;
    let result = "repeat";
    if (!card || !near || card.ids.length >= GROUP_MAX || acked || (ev.alarm && ev.alarm.state !== "new")) {
      card = newCard(ev);
      result = "new";
      if (!acked) state.cards.set(key, card);
    }
    card.ids.push(ev.id);
    if (!acked) card.unacked.add(ev.id);
    else card.ackBy = ev.ack_by;
    if (ev.alarm && ev.alarm.state !== "new") card.alarm = ev.alarm;
    if (String(ev.ts) >= String(card.ev.ts)) card.ev = ev;
    if (String(ev.ts) < String(card.firstTs)) card.firstTs = ev.ts;
    state.feedNodes.set(ev.id, card);
    card.node.classList.toggle("acknowledged", !card.unacked.size);
    renderCard(card);
    placeCard(card);
    if (fresh) {
      card.node.classList.remove("fresh");
      void card.node.offsetWidth; // restart the animation
      card.node.classList.add("fresh");
    }
    const feed = $("feed");
    while (feed.children.length > FEED_MAX) {
      const last = feed.lastChild;
      const old = [...new Set(state.feedNodes.values())].find((c) => c.node === last);
      if (old) removeCard(old); else last.remove();
    }
    $("feed-empty").classList.toggle("hidden", feed.children.length > 0);
    return result;
  }

  /* ---------------- counters ---------------- */

  function renderCounters() {
    const list = $("counters");
    const rows = [...state.counters.entries()].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    let total = 0;
    const wanted = new Set();
    rows.forEach(([type, count], index) => {
      total += count;
      wanted.add(type);
      let node = state.counterNodes.get(type);
      if (!node) {
        node = el("li", { className: "counter", dataset: { type } },
          el("span", { className: "counter-label" }, typeLabel(type), el("small", { text: type })),
          el("span", { className: "counter-value", text: "0" }));
        state.counterNodes.set(type, node);
      }
      const value = node.querySelector(".counter-value");
      if (value.textContent !== String(count)) {
        value.textContent = String(count);
        node.classList.remove("bump");
        void node.offsetWidth; // restart the animation
        node.classList.add("bump");
      }
      if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
    });
    for (const [type, node] of state.counterNodes) {
      if (!wanted.has(type)) { node.remove(); state.counterNodes.delete(type); }
    }
    $("counter-total").textContent = String(total);
    $("counters-empty").classList.toggle("hidden", rows.length > 0);
    $("counters-date").textContent = fmtDay(state.day);
  }

  /** Counts per type from GET /api/v1/stats, whichever of the usual shapes it uses. */
  function countsByType(stats) {
    const out = new Map();
    const src = stats && (stats.by_type || stats.types || stats.per_type || stats);
    if (Array.isArray(src)) {
      for (const row of src) if (row && row.type) out.set(String(row.type), Number(row.count) || 0);
    } else if (src && typeof src === "object") {
      for (const [type, count] of Object.entries(src)) {
        if (typeof count === "number" && /^[a-z]+\./.test(type)) out.set(type, count);
      }
    }
    return out;
  }

  async function loadCounters() {
    state.day = dayStart();
    const stats = await api(withQuery("/api/v1/stats", { since: state.day.toISOString(), unit: filters.unit }));
    state.counters = new Map([...countsByType(stats)].filter(([type]) => wantsType(type)));
    renderCounters();
  }

  function countEvent(ev) {
    const ts = new Date(ev.ts);
    if (Number.isNaN(ts.getTime()) || ts < state.day) return;
    state.counters.set(ev.type, (state.counters.get(ev.type) || 0) + 1);
    renderCounters();
  }

  /* ---------------- cameras ---------------- */

  function cameraTile(cam) {
    const parts = {
      img: el("img", { className: "cam-img hidden", alt: "", decoding: "async" }),
      note: el("span", { className: "cam-note" }),
      placeholder: null,
      name: el("span", { className: "cam-name" }),
      status: el("span", { className: "cam-status" }),
      seen: el("span", { className: "cam-seen" }),
      fps: el("span", { className: "cam-fps" }),
      detector: el("span", { className: "cam-detector" }),
    };
    const node = el("div", { className: "cam", dataset: { camera: cam.id } },
      parts.placeholder = el("div", { className: "cam-placeholder" }, el("span", { className: "cam-icon", text: "◉" }), parts.note),
      parts.img,
      el("div", { className: "cam-top" }, parts.name, parts.status),
      parts.detector,
      el("div", { className: "cam-bottom" }, parts.seen, parts.fps));
    parts.img.addEventListener("error", () => {
      // No preview (no edge preview, or the edge is unreachable): show the placeholder
      // and try again later rather than hammering the proxy.
      parts.img.classList.add("hidden");
      parts.img.removeAttribute("src");
      parts.previewRetryAt = Date.now() + 60000;
      parts.note.textContent = t("camera.note.no_preview");
    });
    parts.img.addEventListener("load", () => parts.img.classList.remove("hidden"));
    return { node, parts, data: {} };
  }

  function renderCamera(entry) {
    const cam = entry.data;
    const { parts, node } = entry;
    const status = cam.enabled === false ? "disabled"
      : cam.status === "online" || cam.status === "offline" ? cam.status : "unknown";
    node.dataset.status = status;
    parts.name.textContent = cam.name || cam.id;
    parts.name.title = [cam.id, cam.unit].filter(Boolean).join(" · ");
    parts.status.textContent = t("camera." + status);
    // Say why a tile has no picture instead of leaving a dead placeholder.
    parts.note.textContent = status === "disabled" ? t("camera.note.disabled")
      : status === "offline" ? t("camera.note.offline")
      : status === "online" ? t(parts.previewRetryAt ? "camera.note.no_preview" : "camera.note.connecting")
      : t("camera.note.unknown");
    parts.seen.textContent = t("camera.last_seen", { when: cam.last_seen ? fmtAgo(cam.last_seen) : t("camera.never") });
    const stats = cam.stats || {};
    const fps = cam.fps ?? stats.fps;
    parts.fps.textContent = typeof fps === "number" ? t("camera.fps", { fps: fmtNumber(fps, 1) }) : "";
    const detector = cam.detector || stats.detector || {};
    const kind = typeof detector === "string" ? detector : detector.kind;
    parts.detector.dataset.kind = kind || "";
    parts.detector.textContent = kind === "yolox" || kind === "motion" ? t("camera.detector." + kind) : (kind || "");
    const wantPreview = status === "online" && (parts.previewRetryAt === undefined || Date.now() > parts.previewRetryAt);
    if (wantPreview && !parts.img.getAttribute("src") && previewCount() < MAX_PREVIEWS) {
      parts.img.setAttribute("src", "/api/v1/cameras/" + encodeURIComponent(cam.id) + "/preview.mjpg");
    } else if (status !== "online" && parts.img.getAttribute("src")) {
      parts.img.removeAttribute("src");
      parts.img.classList.add("hidden");
    }
  }

  // An MJPEG preview holds one HTTP/1.1 connection open for good, and browsers allow
  // six per host: more than four previews would starve the wall's own API calls.
  const MAX_PREVIEWS = page.max_previews || 4;
  function previewCount() {
    let n = 0;
    for (const entry of state.cameras.values()) if (entry.parts.img.getAttribute("src")) n += 1;
    return n;
  }

  function upsertCamera(cam) {
    if (!cam || !cam.id) return;
    let entry = state.cameras.get(cam.id);
    if (!entry) {
      entry = cameraTile(cam);
      state.cameras.set(cam.id, entry);
      $("cameras").append(entry.node);
    }
    entry.data = { ...entry.data, ...cam };
    renderCamera(entry);
    renderMarkers();
  }

  function renderCameraSummary() {
    const all = state.cameras.size;
    const on = [...state.cameras.values()].filter((c) => c.data.status === "online").length;
    $("cameras-summary").textContent = all ? t("wall.cameras_summary", { on, all }) : "";
    $("cameras").dataset.layout = all <= 6 ? "2" : all <= 12 ? "3" : "4";
    const empty = $("cameras-empty");
    empty.textContent = t("wall.no_cameras");
    empty.classList.toggle("hidden", all > 0);
  }

  async function loadCameras() {
    const body = await api("/api/v1/cameras");
    const list = Array.isArray(body) ? body : (body && (body.items || body.cameras)) || [];
    for (const cam of list) upsertCamera(cam);
    renderCameraSummary();
  }

  /** system.camera_status: either one camera or an edge heartbeat with many. */
  function onCameraStatus(msg) {
    const base = {};
    if (msg.detector) base.detector = msg.detector;
    if (msg.ts) base.last_seen = msg.ts;
    const cams = Array.isArray(msg.cameras) ? msg.cameras : [msg.camera && typeof msg.camera === "object" ? msg.camera : msg];
    for (const cam of cams) {
      const id = cam.id || cam.camera;
      if (!id || typeof id !== "string") continue;
      const update = { ...base, ...cam, id };
      delete update.type;
      if (cam.last_seen) update.last_seen = cam.last_seen;
      upsertCamera(update);
    }
    renderCameraSummary();
  }

  /* ---------------- map ---------------- */

  // SVG is built with createElementNS and a fixed list of attributes: like el(), no
  // data ever reaches an attribute that could run script.
  const SVG_NS = "http://www.w3.org/2000/svg";
  const SVG_ATTRS = new Set(["viewBox", "d", "cx", "cy", "r", "preserveAspectRatio", "role", "aria-label"]);
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === "className") node.setAttribute("class", value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "title") node.append(Object.assign(document.createElementNS(SVG_NS, "title"), { textContent: String(value) }));
      else if (SVG_ATTRS.has(key)) node.setAttribute(key, String(value));
      else throw new Error("svg(): attribute not allowed: " + key);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  const ALARM_WINDOW_MS = 10 * 60 * 1000; // a marker pulses for 10 min after an open alarm
  const mapState = { outline: null, project: null, layer: null, markers: new Map(), alarms: new Map() };

  /** Equirectangular projection fitted to the bounding box, x scaled by cos(latitude). */
  function projection(bbox, width) {
    const [x0, y0, x1, y1] = bbox;
    const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
    const scale = width / Math.max((x1 - x0) * k, 1e-6);
    const height = Math.max((y1 - y0) * scale, 1);
    return { width, height, xy: (lon, lat) => [(lon - x0) * k * scale, (y1 - lat) * scale] };
  }

  /** The province's box; when the cameras all sit in a small part of it (a city's
      cameras in a merged province), their neighbourhood instead, so markers do not pile
      up in one dot. The outline is clipped by the SVG then. */
  function viewBox(bbox) {
    let [x0, y0, x1, y1] = bbox;
    const cams = [...state.cameras.values()].map((c) => c.data).filter((c) => typeof c.lat === "number" && typeof c.lon === "number");
    if (cams.length) {
      let [cx0, cy0, cx1, cy1] = [Infinity, Infinity, -Infinity, -Infinity];
      for (const c of cams) { cx0 = Math.min(cx0, c.lon); cx1 = Math.max(cx1, c.lon); cy0 = Math.min(cy0, c.lat); cy1 = Math.max(cy1, c.lat); }
      const span = Math.max(cx1 - cx0, cy1 - cy0, 0.05) * 1.6;
      if (span < Math.max(x1 - x0, y1 - y0) * 0.5) {
        const mx = (cx0 + cx1) / 2, my = (cy0 + cy1) / 2;
        [x0, y0, x1, y1] = [mx - span, my - span * 0.6, mx + span, my + span * 0.6];
      }
    }
    const pad = Math.max(x1 - x0, y1 - y0) * 0.03;
    return [x0 - pad, y0 - pad, x1 + pad, y1 + pad];
  }

  async function loadMap() {
    const body = await api("/api/v1/map/outline");
    const box = $("map");
    clear(box);
    if (!body || !body.bbox || !body.provinces.length) {
      box.append(el("div", { className: "empty", id: "map-empty", text: t("map.no_outline") }));
      mapState.outline = null;
      return;
    }
    const project = projection(viewBox(body.view || body.bbox), 1000);
    const f = (n) => n.toFixed(1);
    const root = svg("svg", { className: "map-svg", viewBox: `0 0 1000 ${f(project.height)}`,
      preserveAspectRatio: "xMidYMid meet", role: "img", "aria-label": t("wall.map") });
    for (const province of body.provinces) {
      const d = province.rings.map((ring) => "M" + ring.map(([lon, lat]) => project.xy(lon, lat).map(f).join(" ")).join("L") + "Z").join("");
      root.append(svg("path", { className: "map-province", d, dataset: { unit: province.unit }, title: province.name }));
    }
    mapState.layer = svg("g", {});
    root.append(mapState.layer);
    box.append(root);
    mapState.outline = body;
    mapState.project = project;
    mapState.markers.clear();
    $("map-meta").textContent = body.provinces.map((p) => p.name).join(", ");
    renderMarkers();
  }

  function markerState(cam) {
    if (cam.enabled === false) return "disabled";
    const alarm = mapState.alarms.get(cam.id);
    if (alarm && Date.now() - alarm.at < ALARM_WINDOW_MS) return "alarm";
    return cam.status === "online" || cam.status === "offline" ? cam.status : "unknown";
  }

  function renderMarkers() {
    if (!mapState.project) return;
    let missing = 0;
    for (const [id, entry] of state.cameras) {
      const cam = entry.data;
      if (typeof cam.lat !== "number" || typeof cam.lon !== "number") { missing += 1; continue; }
      let node = mapState.markers.get(id);
      const [x, y] = mapState.project.xy(cam.lon, cam.lat);
      if (!node) {
        node = svg("circle", { className: "map-marker", r: 16, dataset: { camera: id }, title: cam.name || id });
        node.addEventListener("click", () => focusCamera(id));
        mapState.markers.set(id, node);
        mapState.layer.append(node);
      }
      node.setAttribute("cx", x.toFixed(1));
      node.setAttribute("cy", y.toFixed(1));
      const st = markerState(cam);
      node.dataset.state = st;
      const alarm = mapState.alarms.get(id);
      node.dataset.severity = st === "alarm" && alarm ? alarm.severity : "";
    }
    if (missing) $("map-meta").textContent = t("map.no_position", { n: missing });
  }

  /** A new warning/critical event makes its camera's marker pulse; resolved or
      acknowledged everywhere, it calms down. */
  function mapAlarm(ev) {
    if (!ev.camera || (ev.severity !== "critical" && ev.severity !== "warning")) return;
    const at = new Date(ev.ts).getTime();
    if (Number.isNaN(at) || Date.now() - at > ALARM_WINDOW_MS) return;
    const prev = mapState.alarms.get(ev.camera);
    const severity = prev && prev.severity === "critical" ? "critical" : ev.severity;
    mapState.alarms.set(ev.camera, { at: Math.max(at, prev ? prev.at : 0), severity, ids: new Set([...(prev ? prev.ids : []), ev.id]) });
    renderMarkers();
  }

  function mapClear(eventId) {
    for (const [camera, alarm] of mapState.alarms) {
      alarm.ids.delete(eventId);
      if (!alarm.ids.size) mapState.alarms.delete(camera);
    }
    renderMarkers();
  }

  let focusTimer = null;
  /** Click on a marker: that camera's tile (and its events in the feed) stand out. */
  function focusCamera(id) {
    const entry = state.cameras.get(id);
    document.querySelectorAll(".cam.focused, .ev.focused, .map-marker.focused").forEach((n) => n.classList.remove("focused"));
    if (!entry) return;
    entry.node.classList.add("focused");
    entry.node.scrollIntoView({ block: "nearest" });
    const marker = mapState.markers.get(id);
    if (marker) marker.classList.add("focused");
    for (const card of state.feedNodes.values()) if (card.node.dataset.camera === id) card.node.classList.add("focused");
    state.focused = id;
    showCameraEvents(id).catch((err) => console.warn("camera events", err));
    clearTimeout(focusTimer);
    focusTimer = setTimeout(() => {
      document.querySelectorAll(".focused").forEach((n) => n.classList.remove("focused"));
      state.focused = null;
      $("map-camera").classList.add("hidden");
    }, 15000);
  }

  /** Under the map: the clicked camera's name, state and its last five events. */
  async function showCameraEvents(id) {
    const box = $("map-camera");
    const entry = state.cameras.get(id);
    const body = await api(withQuery("/api/v1/events", { camera: id, limit: 5 }));
    if (state.focused !== id) return;
    clear(box);
    const cam = entry ? entry.data : { id };
    const st = markerState(cam);
    box.append(el("div", { className: "map-camera-head" },
      el("strong", { text: cam.name || id }),
      el("span", { className: "map-camera-state", dataset: { state: st }, text: t(st === "alarm" ? "map.alarm" : "camera." + st) })));
    const items = (body && body.items) || [];
    const list = el("ul", { className: "map-camera-events" });
    for (const ev of items) {
      const facts = eventFacts(ev, 2).map(([, label, text]) => (label ? label + ": " : "") + text).join(" · ");
      list.append(el("li", { dataset: { id: ev.id, severity: severityOf(ev.severity) } },
        el("span", { className: "ev-time", text: fmtTime(ev.ts) }), " ", typeLabel(ev.type),
        facts ? el("small", { text: " — " + facts }) : null));
    }
    if (!items.length) list.append(el("li", { className: "empty", text: t("wall.no_events") }));
    box.append(list);
    box.classList.remove("hidden");
  }

  /* ---------------- KPIs ---------------- */

  function kpiLabel(series) {
    return window.IOC.has("kpi." + series) ? t("kpi." + series) : series;
  }

  async function loadKpis() {
    const body = await api("/api/v1/metrics/latest");
    const rows = ((body && body.items) || []).filter((row) => row && row.series);
    // The API gives the newest sample per (series, unit); name the unit when a series has several.
    const units = new Map();
    for (const row of rows) units.set(row.series, (units.get(row.series) || 0) + 1);
    rows.sort((a, b) => a.series.localeCompare(b.series) || String(a.unit).localeCompare(String(b.unit)));
    const box = $("kpis");
    clear(box);
    for (const row of rows) {
      const value = typeof row.value === "number" ? fmtNumber(row.value, 1) : String(row.value);
      const label = kpiLabel(row.series) + (units.get(row.series) > 1 && row.unit ? " · " + row.unit : "");
      box.append(el("div", { className: "kpi", dataset: { series: row.series } },
        el("div", { className: "kpi-label", text: label, title: row.series }),
        el("div", { className: "kpi-value" }, value, row.uom ? el("span", { className: "kpi-unit", text: window.IOC.uomLabel(row.uom) }) : null),
        el("div", { className: "kpi-when", text: t("kpi.updated", { when: fmtAgo(row.ts) }) })));
    }
    const empty = $("kpis-empty");
    empty.textContent = t("wall.no_kpi");
    empty.classList.toggle("hidden", rows.length > 0);
  }

  /* ---------------- optional panels (later features) ---------------- */

  /** GET a JSON document, or null when the feature is not installed (404/405/501) or fails. */
  async function optional(path) {
    try { return await api(path); } catch (err) { return null; }
  }

  async function loadViolations() {
    // {proposed, overdue, confirmed, rejected}: open ones now, decided ones today.
    const stats = await optional("/api/v1/violations/stats");
    const panel = $("violations-panel");
    if (!stats || typeof stats !== "object") { panel.classList.add("hidden"); return; }
    const box = $("violations");
    clear(box);
    const cells = [["proposed", "warning"], ["overdue", "bad"], ["confirmed", "ok"], ["rejected", ""]];
    for (const [key, cls] of cells) {
      const n = Number(stats[key]) || 0;
      box.append(el("div", { className: "stat " + cls, dataset: { status: key } },
        el("div", { className: "stat-value", text: String(n) }),
        el("div", { className: "stat-label", text: t("violations." + key) })));
    }
    panel.classList.remove("hidden");
  }

  // New traffic events may open violations (the hub proposes them on ingest); refresh
  // the counts once a burst has settled rather than once per event.
  let violationsTimer = null;
  function violationsSoon() {
    clearTimeout(violationsTimer);
    violationsTimer = setTimeout(() => loadViolations().catch(console.warn), 1500);
  }

  async function loadMeetings() {
    const body = await optional(withQuery("/api/v1/meetings", { state: "running" }));
    const panel = $("meetings-panel");
    if (!body) { panel.classList.add("hidden"); return; }
    const items = Array.isArray(body) ? body : body.items || [];
    const list = $("meetings");
    clear(list);
    for (const m of items.slice(0, 6)) {
      const bits = [m.unit_name || m.unit];
      if (typeof m.participants === "number") bits.push(t("wall.participants", { n: m.participants }));
      if (m.started_at) bits.push(t("wall.since", { when: fmtShort(m.started_at) }));
      list.append(el("li", { dataset: { meeting: String(m.id || "") } }, String(m.title || m.id || ""),
        el("small", { text: bits.filter(Boolean).join(" · ") })));
    }
    if (!items.length) list.append(el("li", { className: "empty", text: t("wall.no_meetings") }));
    $("meetings-count").textContent = items.length ? String(items.length) : "";
    panel.classList.remove("hidden");
  }

  /* ---------------- events: initial page and live stream ---------------- */

  async function loadRecentEvents() {
    const body = await api(withQuery("/api/v1/events", { limit: 40, ...eventQuery }));
    const items = (body && body.items) || [];
    // The API answers newest first; add oldest first so each insert lands on top.
    for (const ev of items.slice().reverse()) {
      if (!wantsType(ev.type)) continue;
      if (addToFeed(ev, false) && !ev.ack_by) mapAlarm(ev);
    }
    return items.length ? items[0].id : null;
  }

  function onEvent(ev) {
    if (!wantsType(ev.type)) return;
    const added = addToFeed(ev, true);
    if (!added) return;
    countEvent(ev);
    if (!ev.ack_by) mapAlarm(ev);
    // Sound and the red bar only for a new critical card: a repeat joins its card quietly.
    if (ev.severity === "critical" && added === "new") {
      state.alarms = (state.alarms || 0) + 1;
      state.beeper.alarm();
      document.body.classList.remove("alarm");
      void document.body.offsetWidth; // restart the animation for a second alarm
      document.body.classList.add("alarm");
      clearTimeout(state.alarmTimer);
      state.alarmTimer = setTimeout(() => document.body.classList.remove("alarm"), 4200);
    }
    if (String(ev.type).startsWith("traffic.")) violationsSoon();
    if (ev.camera && state.cameras.has(ev.camera) && ev.type === "camera.offline") upsertCamera({ id: ev.camera, status: "offline" });
    if (ev.camera && state.cameras.has(ev.camera) && ev.type === "camera.online") upsertCamera({ id: ev.camera, status: "online" });
  }

  /** Mark acknowledgements made while the wall was disconnected. */
  async function refreshAcks() {
    const body = await api(withQuery("/api/v1/events", { limit: FEED_MAX, acknowledged: "true", ...eventQuery }));
    for (const ev of (body && body.items) || []) {
      if (ev.ack_by) ackCard(ev.id, ev.ack_by);
      const card = state.feedNodes.get(ev.id);
      if (card && ev.alarm && ev.alarm.state !== "new" && ev.alarm.state !== "acknowledged") { card.alarm = ev.alarm; renderCard(card); }
    }
  }

  async function resync() {
    // Told we lagged: the hub skipped events for us. Rebuild counters and the feed
    // from the database, then resume the stream after the newest event we now show.
    try {
      await loadCounters();
      const newest = await loadRecentEvents();
      for (const id of state.feedNodes.keys()) state.stream.remember(id);
      if (newest) state.stream.resumeFrom(newest);
    } catch (err) {
      console.warn("resync failed", err);
    }
  }

  function onControl(msg) {
    switch (msg.type) {
      case "system.acknowledged": {
        ackCard(msg.id, msg.by);
        mapClear(msg.id);
        break;
      }
      case "system.alarm": {
        const card = state.feedNodes.get(msg.id);
        if (card) {
          card.alarm = { ...msg };
          if (msg.state === "resolved") { ackCard(msg.id, msg.resolved_by); mapClear(msg.id); }
          renderCard(card);
        }
        break;
      }
      case "system.camera_status": onCameraStatus(msg); break;
      case "system.lagged": state.lagged += 1; resync(); break;
      case "system.violation_decided": loadViolations(); break;
      default: break; // heartbeats only feed the watchdog
    }
  }

  function every(ms, fn) {
    setInterval(() => { fn().catch((err) => console.warn(err)); }, ms);
  }

  async function main() {
    startClock($("clock-time"), $("clock-date"));
    const sound = $("sound-btn");
    if (!state.beeper.ready) {
      sound.classList.remove("hidden");
      sound.addEventListener("click", async () => {
        if (await state.beeper.unlock()) sound.classList.add("hidden");
      });
    }
    renderCounters();
    // Each panel fails on its own: a missing endpoint leaves that panel saying so.
    const unavailable = (id) => (err) => {
      console.warn(id, err);
      const node = $(id);
      if (node) { node.textContent = t("common.unavailable"); node.classList.remove("hidden"); }
    };
    const loads = [
      loadCounters().catch(unavailable("counters-empty")),
      loadKpis().catch(unavailable("kpis-empty")),
      loadViolations(),
      loadMeetings(),
    ];
    state.unitNames = await loadUnitNames();
    await loadCameras().catch(unavailable("cameras-empty")); // first, so the feed can name cameras
    loads.push(loadMap().catch(unavailable("map-empty"))); // fitted to the cameras
    let newest = null;
    try { newest = await loadRecentEvents(); } catch (err) { unavailable("feed-empty")(err); }
    await Promise.all(loads);

    state.stream = new LiveStream({
      params: filters,
      onEvent,
      onControl,
      onState: (s, info) => showConnState($("conn"), s, info),
      onReconnect: () => refreshAcks().catch((err) => console.warn("acks", err)),
      // With no event to resume from, an event stored between the first fetch and the
      // socket opening would be missed: fetch once more now that the stream is live.
      onFirstOpen: () => { if (!newest) loadRecentEvents().catch((err) => console.warn("events", err)); },
    });
    for (const id of state.feedNodes.keys()) state.stream.remember(id);
    state.stream.start(newest);

    // Slow-changing panels refresh on timers; live messages keep the rest current.
    every(30000, loadCameras);
    every(60000, loadKpis);
    every(30000, loadViolations);
    every(30000, loadMeetings);
    setInterval(() => {
      for (const entry of state.cameras.values()) renderCamera(entry); // "last seen" ages
      if (dayStart().getTime() !== state.day.getTime()) loadCounters().catch(console.warn); // midnight
    }, 10000);
    document.body.dataset.ready = "1";
  }

  main().catch((err) => {
    console.error(err);
    document.body.dataset.ready = "error";
  });
})();
