/* IOC pages: shared helpers (translation, safe DOM building, time formatting,
   API calls, clock, alert sound). Plain ES2020, no dependencies.

   Safety rule for every page: data from the server or the user only ever reaches
   the DOM through textContent / setAttribute on known attribute names (see el()),
   never through HTML parsing, so an event payload cannot inject markup. */
"use strict";

(function () {
  const readJson = (id) => {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent || "{}") : {};
  };
  const I18N = readJson("ioc-i18n");
  const PAGE = readJson("ioc-page");
  const TZ = PAGE.timezone || "Asia/Ho_Chi_Minh";
  const LOCALE = PAGE.lang === "en" ? "en-GB" : "vi-VN";

  /** Translate `key`, filling {name} placeholders from `params`; unknown keys show the key. */
  function t(key, params) {
    let text = Object.prototype.hasOwnProperty.call(I18N, key) ? I18N[key] : key;
    if (params) {
      text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
    }
    return text;
  }
  const has = (key) => Object.prototype.hasOwnProperty.call(I18N, key);

  /** "traffic.wrong_way" → its label; unknown sub-types fall back to "Family · sub_type". */
  function typeLabel(type) {
    const code = String(type || "");
    if (has("type." + code)) return t("type." + code);
    const dot = code.indexOf(".");
    const family = dot > 0 ? code.slice(0, dot) : code;
    if (has("type." + family)) {
      const rest = dot > 0 ? code.slice(dot + 1).replace(/[._]/g, " ") : "";
      return rest ? t("type." + family) + " · " + rest : t("type." + family);
    }
    return code;
  }
  const severityLabel = (sev) => (has("severity." + sev) ? t("severity." + sev) : String(sev || ""));
  const SEVERITIES = new Set(["info", "warning", "critical"]);
  const severityOf = (sev) => (SEVERITIES.has(sev) ? sev : "info");

  // Attributes el() may set. Anything else is refused, so no caller can set an
  // event handler attribute or a javascript: URL from data by mistake.
  const SAFE_ATTRS = new Set(["id", "title", "alt", "role", "type", "value", "name", "for", "href",
    "src", "colspan", "aria-label", "aria-live", "hidden", "disabled", "loading", "decoding", "maxlength", "placeholder"]);

  /** Build an element: el("li", {className: "ev", dataset: {id}, text: "..."}, child, "text", ...). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (SAFE_ATTRS.has(key)) {
        if ((key === "href" || key === "src") && !/^(\/|https?:)/.test(String(value))) continue;
        node.setAttribute(key, value === true ? "" : String(value));
      } else throw new Error("el(): attribute not allowed: " + key);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const clear = (node) => { while (node.firstChild) node.removeChild(node.firstChild); };

  const fmtCache = {};
  function formatter(kind) {
    if (!fmtCache[kind]) {
      const options = {
        time: { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false },
        short: { hour: "2-digit", minute: "2-digit", hour12: false },
        datetime: { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false },
        date: { weekday: "long", year: "numeric", month: "2-digit", day: "2-digit" },
        day: { day: "2-digit", month: "2-digit", year: "numeric" },
        parts: { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false },
      }[kind];
      fmtCache[kind] = new Intl.DateTimeFormat(kind === "parts" ? "en-US" : LOCALE, { timeZone: TZ, ...options });
    }
    return fmtCache[kind];
  }
  const toDate = (value) => (value instanceof Date ? value : new Date(value));
  const valid = (d) => !Number.isNaN(d.getTime());
  const fmtTime = (v) => { const d = toDate(v); return valid(d) ? formatter("time").format(d) : ""; };
  const fmtDateTime = (v) => { const d = toDate(v); return valid(d) ? formatter("datetime").format(d) : ""; };
  const fmtShort = (v) => { const d = toDate(v); return valid(d) ? formatter("short").format(d) : ""; };
  const fmtDay = (v) => { const d = toDate(v); return valid(d) ? formatter("day").format(d) : ""; };

  /** Offset (ms) of the centre's time zone from UTC at instant `date`. */
  function zoneOffset(date) {
    const p = {};
    for (const part of formatter("parts").formatToParts(date)) p[part.type] = part.value;
    const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
    return asUtc - Math.floor(date.getTime() / 1000) * 1000;
  }
  /** Midnight today in the centre's time zone, as a Date. */
  function dayStart(now) {
    const d = now || new Date();
    const offset = zoneOffset(d);
    const local = new Date(d.getTime() + offset);
    return new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate()) - offset);
  }
  /** A datetime-local input value ("2026-11-24T08:30"), read in the centre's zone, as ISO UTC. */
  function zonedInputToIso(value) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value || "");
    if (!m) return null;
    const guess = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
    return new Date(guess - zoneOffset(new Date(guess))).toISOString();
  }

  const relFormat = new Intl.RelativeTimeFormat(LOCALE, { numeric: "auto", style: "short" });
  /** "5 giây trước" / "5 sec. ago" for a past instant. */
  function fmtAgo(value, now) {
    const d = toDate(value);
    if (!valid(d)) return "";
    const sec = Math.round(((now || Date.now()) - d.getTime()) / 1000);
    if (sec < 60) return relFormat.format(-Math.max(sec, 0), "second");
    if (sec < 3600) return relFormat.format(-Math.round(sec / 60), "minute");
    if (sec < 86400) return relFormat.format(-Math.round(sec / 3600), "hour");
    return relFormat.format(-Math.round(sec / 86400), "day");
  }
  const fmtNumber = (n, digits) => new Intl.NumberFormat(LOCALE, { maximumFractionDigits: digits ?? 1 }).format(n);
  /** A number of days as people say it: "10", "3", "1,5" (never "10.0"). */
  const fmtDays = (d) => { const a = Math.abs(Number(d) || 0); return fmtNumber(a, a >= 2 ? 0 : 1); };
  // Units of measure that KPI feeds send in Vietnamese (the demo's, and the usual ones).
  const UOM_KEYS = { "hồ sơ": "uom.applications", "phản ánh": "uom.reports", "lượt": "uom.visits", "người": "uom.people" };
  const uomLabel = (uom) => (UOM_KEYS[String(uom).toLowerCase()] ? t(UOM_KEYS[String(uom).toLowerCase()]) : String(uom));

  class ApiError extends Error {
    constructor(status, detail) {
      super(typeof detail === "string" ? detail : JSON.stringify(detail));
      this.status = status;
      this.detail = detail;
    }
  }

  function loginUrl() {
    return "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  /** Call the hub's JSON API with the session cookie; a 401 sends the browser to the login page. */
  async function api(path, options) {
    const opts = { credentials: "same-origin", headers: { Accept: "application/json" }, ...(options || {}) };
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers = { ...opts.headers, "Content-Type": "application/json" };
      delete opts.json;
    }
    const response = await fetch(path, opts);
    if (response.status === 401 && !(options && options.noRedirect)) {
      location.assign(loginUrl());
      throw new ApiError(401, "not logged in");
    }
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = text; }
    if (!response.ok) throw new ApiError(response.status, body && body.detail !== undefined ? body.detail : body);
    return body;
  }

  /** Build "path?a=1&b=2" leaving out empty values. */
  function withQuery(path, params) {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(params || {})) {
      if (value === undefined || value === null || value === "") continue;
      q.append(key, String(value));
    }
    const s = q.toString();
    return s ? path + "?" + s : path;
  }

  /** Tick a clock in the centre's time zone into two elements. */
  function startClock(timeEl, dateEl) {
    const tick = () => {
      const now = new Date();
      if (timeEl) timeEl.textContent = fmtTime(now);
      if (dateEl) dateEl.textContent = formatter("date").format(now);
    };
    tick();
    return setInterval(tick, 1000);
  }

  /** Alert sounds made with WebAudio (no sound files). Browsers only allow sound after a
      user gesture, so `unlock()` runs from a click; walls in kiosk mode can start Chromium
      with --autoplay-policy=no-user-gesture-required and never need the click. */
  class Beeper {
    constructor() {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      this.ctx = Ctx ? new Ctx() : null;
      this.lastAt = 0;
    }
    get ready() { return !!this.ctx && this.ctx.state === "running"; }
    async unlock() { if (this.ctx && this.ctx.state !== "running") await this.ctx.resume(); return this.ready; }
    /** Two-tone alarm, three times; at most one alarm every two seconds so a burst stays bearable. */
    alarm() {
      if (!this.ready) return false;
      const now = this.ctx.currentTime;
      if (now - this.lastAt < 2) return false;
      this.lastAt = now;
      for (let i = 0; i < 3; i++) {
        this._tone(now + i * 0.36, 880, 0.16);
        this._tone(now + i * 0.36 + 0.17, 660, 0.16);
      }
      return true;
    }
    _tone(at, freq, dur) {
      const osc = this.ctx.createOscillator();
      const gain = this.ctx.createGain();
      osc.type = "square";
      osc.frequency.setValueAtTime(freq, at);
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + dur);
      osc.connect(gain).connect(this.ctx.destination);
      osc.start(at);
      osc.stop(at + dur + 0.02);
    }
  }

  // Payload keys worth a glance on the wall, in this order; others follow.
  const PAYLOAD_ORDER = ["plate", "class", "speed_kmh", "speed", "count", "zone", "line", "direction", "lane", "track", "message"];
  /** Up to `limit` [key, text] pairs from an event payload, plate first, values shortened. */
  function payloadPairs(payload, limit) {
    if (!payload || typeof payload !== "object") return [];
    const keys = Object.keys(payload);
    keys.sort((a, b) => {
      const ia = PAYLOAD_ORDER.indexOf(a), ib = PAYLOAD_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    const out = [];
    for (const key of keys) {
      let value = payload[key];
      if (value === null || value === undefined || value === "") continue;
      if (typeof value === "object") value = JSON.stringify(value);
      value = String(value);
      if (key === "class" && has("class." + value)) value = t("class." + value);  // road users by name
      if (value.length > 60) value = value.slice(0, 57) + "…";
      out.push([key, value]);
      if (out.length >= (limit || 6)) break;
    }
    return out;
  }

  /* ---------- events in human words (issue 10) ---------- */

  const classLabel = (value) => (has("class." + value) ? t("class." + value) : String(value).replace(/_/g, " "));
  const shortText = (value, n) => { const s = String(value); return s.length > n ? s.slice(0, n - 1) + "…" : s; };

  /** Counts such as {"away": {"car": 77}, "towards": {"motorbike": 5}} or {"car": 3}: per class, summed. */
  function countsText(counts) {
    const per = new Map();
    const walk = (obj, depth) => {
      if (!obj || typeof obj !== "object" || depth > 2) return;
      for (const [key, value] of Object.entries(obj)) {
        if (typeof value === "number") per.set(key, (per.get(key) || 0) + value);
        else walk(value, depth + 1);
      }
    };
    walk(counts, 0);
    return [...per].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, n]) => classLabel(k) + " " + fmtNumber(n, 0)).join(" · ");
  }

  /** What an operator reads on a card: labelled facts from the payload, never raw keys,
      coordinates, frame counters or file paths. Returns [[kind, label, text], ...];
      kind "plate" is drawn as a plate. Everything else stays in the details fold. */
  function eventFacts(ev, limit) {
    const p = (ev && ev.payload && typeof ev.payload === "object") ? ev.payload : {};
    const out = [];
    const add = (kind, label, text) => { if (text !== "" && text !== null && text !== undefined) out.push([kind, label, shortText(text, 48)]); };
    if (typeof p.plate === "string" && p.plate) add("plate", t("fact.plate"), p.plate);
    else if (String(ev.type || "").startsWith("traffic.") && p.class) add("note", "", t("fact.plate_unread"));
    if (p.class) add("fact", t("fact.class"), classLabel(p.class));
    const speed = p.speed_kmh ?? p.speed;
    if (typeof speed === "number") add("fact", t("fact.speed"), fmtNumber(speed, 0) + " km/h");
    if (typeof p.limit_kmh === "number") add("fact", t("fact.limit"), fmtNumber(p.limit_kmh, 0) + " km/h");
    for (const key of ["zone", "line", "lane"]) if (typeof p[key] === "string") add("fact", t("fact." + key), p[key]);
    if (typeof p.count === "number") add("fact", t("fact.count"), fmtNumber(p.count, 0));
    if (p.counts && typeof p.counts === "object") add("fact", t("fact.count"), countsText(p.counts));
    if (typeof p.dwell_s === "number") add("fact", t("fact.dwell"), fmtNumber(p.dwell_s, 0) + " s");
    if (typeof p.message === "string" && !/[\/\\]/.test(p.message)) add("fact", "", p.message);
    return out.slice(0, limit || 6);
  }

  /** A closed "details" fold with the raw payload, for whoever needs the internals. */
  function eventDetails(ev) {
    const payload = ev && ev.payload && typeof ev.payload === "object" ? ev.payload : {};
    if (!Object.keys(payload).length) return null;
    return el("details", { className: "ev-raw" }, el("summary", { text: t("fact.details") }),
      el("pre", { text: JSON.stringify(payload, null, 1) }));
  }

  /** Overview evidence of an event (through the scoped, audited evidence endpoint), or null. */
  function overviewUrl(ev) {
    const role = PAGE.user && PAGE.user.role;
    if (!["admin", "operator", "police"].includes(role) || !Array.isArray(ev.evidence)) return null;
    const item = ev.evidence.find((e) => e && e.kind === "overview" && /^[0-9a-f]{64}$/.test(e.sha256 || "")
      && /^image\//.test(e.mime || "image/jpeg"));
    return item ? "/api/v1/evidence/" + item.sha256 : null;
  }

  /** code -> name of the units the user may see (GET /api/v1/units). */
  async function loadUnitNames() {
    const names = new Map();
    try {
      for (const u of (await api("/api/v1/units")) || []) if (u && u.code) names.set(u.code, u.name || u.code);
    } catch (err) { console.warn("units", err); }
    return names;
  }

  /* ---------- alarm workflow: acknowledge / assign / resolve ---------- */

  const CAN_ACT = ["admin", "operator", "police"].includes(PAGE.user && PAGE.user.role);
  const isAlarm = (ev) => ev && (ev.severity === "warning" || ev.severity === "critical");

  /** The alarm state an event shows, from its `alarm` view or its ack. */
  function alarmState(ev) {
    if (ev.alarm && ev.alarm.state) return ev.alarm.state;
    return ev.ack_by ? "acknowledged" : "new";
  }

  /** One line saying where the alarm stands ("Giao cho: x", "Đã xử lý: y — note"). */
  function alarmBadge(ev) {
    const st = alarmState(ev);
    const a = ev.alarm || {};
    if (st === "resolved") return t("alarm.resolved_by", { by: a.resolved_by || "—" }) + (a.note ? " — " + shortText(a.note, 80) : "");
    if (st === "assigned") return t("alarm.assigned_to", { who: a.assignee || "—" });
    if (st === "acknowledged") return t("alarm.acked_by", { by: ev.ack_by || a.by || "—" });
    return "";
  }

  /** Buttons (roles admin, operator, police; warning/critical only) acting on `ids()`,
      the events a card stands for. `onDone(update)` gets {ack_by} or {alarm}. */
  function alarmActions(ev, ids, onDone, onError) {
    if (!CAN_ACT || !isAlarm(ev)) return null;
    const box = el("div", { className: "alarm-actions" });
    const st = alarmState(ev);
    const each = async (suffix, json) => {
      let last = null;
      for (const id of ids()) {
        last = await api("/api/v1/events/" + encodeURIComponent(id) + suffix, { method: "POST", json });
      }
      return last;
    };
    const guard = (fn) => async () => {
      box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try { await fn(); } catch (err) { if (onError) onError(err); box.querySelectorAll("button").forEach((b) => { b.disabled = false; }); }
    };
    if (st === "resolved") return null;
    if (st === "new") {
      box.append(el("button", { className: "btn small", type: "button", text: t("alarm.ack"), dataset: { action: "ack", ack: ev.id } }));
      box.lastChild.addEventListener("click", guard(async () => { const r = await each("/ack"); onDone({ ack_by: r.by }); }));
    }
    const assign = el("button", { className: "btn small", type: "button", text: t("alarm.assign"), dataset: { action: "assign" } });
    assign.addEventListener("click", guard(async () => {
      const people = await api("/api/v1/events/" + encodeURIComponent(ev.id) + "/assignees");
      const select = el("select", { className: "input small", name: "assignee", "aria-label": t("alarm.assign") },
        ...people.map((u) => el("option", { value: u.username, text: u.username + " · " + (u.unit_name || u.unit) })));
      const ok = el("button", { className: "btn small primary", type: "button", text: t("alarm.assign_ok"), dataset: { action: "assign-ok" } });
      ok.addEventListener("click", guard(async () => { const r = await each("/assign", { assignee: select.value }); onDone({ alarm: r.alarm }); }));
      clear(box);
      box.append(select, ok);
    }));
    const resolve = el("button", { className: "btn small", type: "button", text: t("alarm.resolve"), dataset: { action: "resolve" } });
    resolve.addEventListener("click", () => {
      const note = el("input", { className: "input small", name: "note", "aria-label": t("alarm.note"), type: "text" });
      note.setAttribute("maxlength", "2000");
      note.setAttribute("placeholder", t("alarm.note"));
      const ok = el("button", { className: "btn small primary", type: "button", text: t("alarm.resolve_ok"), dataset: { action: "resolve-ok" } });
      ok.addEventListener("click", guard(async () => {
        const text = note.value.trim();
        if (!text) { note.focus(); throw new Error(t("alarm.note_needed")); }
        const r = await each("/resolve", { note: text });
        onDone({ alarm: r.alarm, ack_by: r.alarm.resolved_by });
      }));
      clear(box);
      box.append(note, ok);
      note.focus();
    });
    box.append(assign, resolve);
    return box;
  }

  window.IOC = {
    t, has, typeLabel, severityLabel, severityOf, el, clear, api, ApiError, withQuery, loginUrl,
    fmtTime, fmtShort, fmtDateTime, fmtDay, fmtAgo, fmtNumber, fmtDays, uomLabel, dayStart, zonedInputToIso, startClock,
    Beeper, payloadPairs, eventFacts, eventDetails, overviewUrl, loadUnitNames, classLabel,
    alarmState, alarmBadge, alarmActions, isAlarm, canAct: CAN_ACT, page: PAGE, lang: PAGE.lang || "vi",
  };
})();
