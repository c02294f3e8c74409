/* IOC live event stream over WS /ws/events.

   - Resumes by itself: on every (re)connect it asks for `since=<last event id>`, so the
     hub replays what was missed from the database before going live (no gap).
   - Never shows an event twice: ids seen recently are remembered (the replay and the
     live stream can overlap at the seam).
   - Backs off exponentially with jitter (0.5 s … 30 s) so a hub restart is not met by
     every wall at the same instant.
   - A watchdog closes a connection that has been silent for longer than the heartbeat
     timeout: half-open TCP connections (a cable pulled, a NAT timeout) never fire
     `onclose` on their own.

   Usage:
     const stream = new IOC.LiveStream({
       params: {types: "traffic.,security."},
       onEvent: (ev) => ..., onControl: (msg) => ..., onState: (state, info) => ...,
     });
     stream.start(lastIdFromInitialFetch);
*/
"use strict";

(function () {
  // Messages of these types are the hub's control messages, not stored events
  // (stored events can also be of the `system.` family, e.g. system.edge_offline).
  const CONTROL = new Set([
    "system.heartbeat", "system.lagged", "system.camera_status", "system.acknowledged",
    "system.violation_decided",
  ]);

  class LiveStream {
    constructor(options) {
      this.params = options.params || {};
      this.onEvent = options.onEvent || (() => {});
      this.onControl = options.onControl || (() => {});
      this.onState = options.onState || (() => {});
      // Called after every reconnect (not the first connect): the replay brings back
      // missed events, not missed acknowledgements, so pages refresh those themselves.
      this.onReconnect = options.onReconnect || (() => {});
      // Called once, when the first connection opens.
      this.onFirstOpen = options.onFirstOpen || (() => {});
      this.everOpened = false;
      this.heartbeatTimeoutMs = options.heartbeatTimeoutMs || 45000;
      this.minDelayMs = options.minDelayMs || 500;
      this.maxDelayMs = options.maxDelayMs || 30000;
      this.lastId = null;
      this.ws = null;
      this.attempt = 0;
      this.stopped = true;
      this.seen = new Set();
      this.seenOrder = [];
      this.watchdog = null;
      this.retryTimer = null;
      this.countdownTimer = null;
      this.connectedAt = 0;
      this.received = 0;
    }

    /** Open the stream, resuming after `sinceId` (the newest id already on the page). */
    start(sinceId) {
      if (sinceId) { this.lastId = sinceId; this.remember(sinceId); }
      this.stopped = false;
      this._connect();
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.watchdog);
      clearTimeout(this.retryTimer);
      clearInterval(this.countdownTimer);
      if (this.ws) this.ws.close(1000, "page closed");
    }

    /** Mark ids as already shown (e.g. after a refetch), so the stream will not repeat them. */
    remember(id) {
      if (!id || this.seen.has(id)) return;
      this.seen.add(id);
      this.seenOrder.push(id);
      if (this.seenOrder.length > 5000) this.seen.delete(this.seenOrder.shift());
    }

    /** Move the resume point (after a refetch that is newer than the stream). */
    resumeFrom(id) { if (id) { this.lastId = id; this.remember(id); } }

    url() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const q = new URLSearchParams();
      for (const [key, value] of Object.entries(this.params)) {
        if (value !== undefined && value !== null && value !== "") q.set(key, String(value));
      }
      if (this.lastId) q.set("since", this.lastId);
      const s = q.toString();
      return proto + "//" + location.host + "/ws/events" + (s ? "?" + s : "");
    }

    _connect() {
      clearInterval(this.countdownTimer);
      this.onState("connecting", { attempt: this.attempt });
      let ws;
      try {
        ws = new WebSocket(this.url());
      } catch (err) {
        this._scheduleRetry();
        return;
      }
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.connectedAt = Date.now();
        this.onState("live", {});
        this._arm();
        if (this.everOpened) this.onReconnect();
        else this.onFirstOpen();
        this.everOpened = true;
      };
      ws.onmessage = (msg) => {
        this._arm();
        let data;
        try { data = JSON.parse(msg.data); } catch (_) { return; }
        if (!data || typeof data !== "object") return;
        // A connection that delivers is healthy: only now forget earlier failures,
        // so a hub that accepts and immediately drops does not reset the backoff.
        this.attempt = 0;
        if (CONTROL.has(data.type) || !data.id || data.seq === undefined) {
          if (data.type === "system.lagged") this.onState("lagged", data);
          this.onControl(data);
          if (data.type === "system.lagged") this.onState("live", {});
          return;
        }
        if (this.seen.has(data.id)) return;
        this.remember(data.id);
        this.lastId = data.id;
        this.received += 1;
        this.onEvent(data);
      };
      ws.onclose = (ev) => {
        clearTimeout(this.watchdog);
        if (this.ws !== ws) return;
        this.ws = null;
        if (this.stopped) return;
        if (ev.code === 4401 || ev.code === 1008) {
          // The hub refused our session (expired or revoked): log in again.
          location.assign(window.IOC.loginUrl());
          return;
        }
        if (!opened) {
          // Refused before the handshake finished (the browser only sees 1006): if the
          // session is gone, the API answers 401 and api() sends us to the login page.
          window.IOC.api("/api/v1/auth/me").catch(() => {});
        }
        this._scheduleRetry();
      };
      ws.onerror = () => { /* onclose follows and schedules the retry */ };
    }

    _arm() {
      clearTimeout(this.watchdog);
      this.watchdog = setTimeout(() => {
        if (this.ws) this.ws.close(4000, "heartbeat timeout");
      }, this.heartbeatTimeoutMs);
    }

    _scheduleRetry() {
      const base = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.attempt);
      const delay = Math.round(base * (0.5 + Math.random() * 0.5));
      this.attempt += 1;
      const until = Date.now() + delay;
      const report = () => this.onState("offline", { seconds: Math.max(0, Math.ceil((until - Date.now()) / 1000)) });
      report();
      this.countdownTimer = setInterval(report, 1000);
      this.retryTimer = setTimeout(() => this._connect(), delay);
    }
  }

  /** Show a stream state in the top bar's connection pill. */
  function showConnState(node, state, info) {
    if (!node) return;
    node.dataset.state = state;
    const t = window.IOC.t;
    node.textContent = state === "live" ? t("conn.live")
      : state === "offline" ? t("conn.offline", { s: info && info.seconds !== undefined ? info.seconds : "…" })
      : state === "lagged" ? t("conn.lagged") : t("conn.connecting");
  }

  window.IOC.LiveStream = LiveStream;
  window.IOC.showConnState = showConnState;
})();
