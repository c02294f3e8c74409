/* The meeting page (/meet/{id}): devices, one WebRTC connection to the relay of the
   user's unit, spotlight and grid, roster with chair controls, raise hand, camera
   sharing, and reconnection after a network drop.

   Protocol: docs/conferencing.md (relay signalling) and docs/meetings.md (hub API).
   The page asks the hub for a short-lived join token on every (re)connection, so an
   expired token or a changed right is picked up at once.

   Strings: the shared catalogue (web/i18n.py) has no meeting keys yet, so this page
   keeps its own Vietnamese/English table (TEXT below) and picks the page's language. */
"use strict";

(function () {
  const { el, clear, api, ApiError, page } = window.IOC;
  const LANG = window.IOC.lang === "en" ? "en" : "vi";

  // key -> [Vietnamese, English]
  const TEXT = {
    "prejoin.title": ["Chuẩn bị vào phòng họp", "Get ready to join"],
    "device.camera": ["Camera", "Camera"],
    "device.mic": ["Micrô", "Microphone"],
    "device.none": ["(không có)", "(none)"],
    "device.denied": ["Không dùng được camera/micrô: {msg}. Bạn vẫn có thể vào họp để xem và nghe.",
      "Camera/microphone unavailable: {msg}. You can still join to watch and listen."],
    "device.viewer": ["Bạn tham dự với vai trò người xem: không phát hình và tiếng.",
      "You join as a viewer: your camera and microphone are not sent."],
    "action.join": ["Vào phòng họp", "Join meeting"],
    "action.leave": ["Rời phòng", "Leave"],
    "action.mic_off": ["Tắt micrô", "Mute mic"],
    "action.mic_on": ["Bật micrô", "Unmute mic"],
    "action.cam_off": ["Tắt camera", "Camera off"],
    "action.cam_on": ["Bật camera", "Camera on"],
    "action.raise_hand": ["Giơ tay phát biểu", "Raise hand"],
    "action.lower_hand": ["Hạ tay", "Lower hand"],
    "action.grid_view": ["Xem dạng lưới", "Grid view"],
    "action.spotlight_view": ["Xem người phát biểu", "Speaker view"],
    "action.floor_back": ["Chủ trì lấy lại quyền phát biểu", "Chair takes the floor"],
    "action.end": ["Kết thúc cuộc họp", "End meeting"],
    "action.end_confirm": ["Bấm lần nữa để kết thúc", "Click again to end"],
    "action.give_floor": ["Mời phát biểu", "Give floor"],
    "action.mute": ["Tắt tiếng", "Mute"],
    "action.unmute": ["Bật tiếng", "Unmute"],
    "badge.floor": ["Đang phát biểu", "Has the floor"],
    "role.chair": ["Chủ trì", "Chair"],
    "role.participant": ["Đại biểu", "Participant"],
    "role.viewer": ["Người xem", "Viewer"],
    "role.relay": ["Điểm cầu", "Relay"],
    "you.role": ["Vai trò của bạn: {role}", "Your role: {role}"],
    "you.label": ["Bạn", "You"],
    "roster.title": ["Thành phần tham dự", "Participants"],
    "roster.hand": ["Giơ tay", "Hand raised"],
    "roster.muted": ["Đã tắt tiếng", "Muted"],
    "roster.via": ["qua điểm cầu {unit}", "via relay {unit}"],
    "hands.title": ["Đăng ký phát biểu", "Raised hands"],
    "share.title": ["Chia sẻ camera vào cuộc họp", "Share a camera"],
    "share.source": ["Mã camera hoặc địa chỉ RTSP/MJPEG", "Camera id or RTSP/MJPEG URL"],
    "share.label": ["Tên hiển thị", "Label"],
    "share.start": ["Chia sẻ", "Share"],
    "share.stop": ["Dừng", "Stop"],
    "share.failed": ["Không chia sẻ được: {msg}", "Could not share: {msg}"],
    "share.state.connecting": ["đang kết nối", "connecting"],
    "share.state.live": ["đang phát", "live"],
    "share.state.retrying": ["đang thử lại", "retrying"],
    "share.state.stopped": ["đã dừng", "stopped"],
    "status.connecting": ["Đang kết nối…", "Connecting…"],
    "status.live": ["Đã kết nối", "Connected"],
    "status.reconnecting": ["Mất kết nối — thử lại sau {s} giây", "Connection lost — retrying in {s} s"],
    "banner.ended": ["Cuộc họp đã kết thúc.", "The meeting has ended."],
    "banner.left": ["Bạn đã rời phòng họp.", "You left the meeting."],
    "banner.replaced": ["Bạn đã vào cuộc họp này ở một cửa sổ khác.", "You joined this meeting in another window."],
    "banner.forbidden": ["Đơn vị của bạn không được mời tham dự cuộc họp này.", "Your unit is not invited to this meeting."],
    "banner.muted": ["Chủ trì đã tắt micrô của bạn.", "The chair muted your microphone."],
    "banner.unmuted": ["Chủ trì đã bật lại micrô của bạn.", "The chair unmuted your microphone."],
    "banner.error": ["Lỗi: {msg}", "Error: {msg}"],
  };
  function tr(key, params) {
    const pair = TEXT[key];
    let text = pair ? pair[LANG === "en" ? 1 : 0] : key;
    if (params) text = text.replace(/\{(\w+)\}/g, (m, n) => (n in params ? String(params[n]) : m));
    return text;
  }
  const $ = (id) => document.getElementById(id);
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = tr(node.dataset.t);

  const MEETING = page.meeting || {};
  const UNITS = page.units || {};
  const YOU = page.you || {};
  const SELECTORS = ["spotlight", "chair", "auto:0", "auto:1", "auto:2", "auto:3", "auto:4", "auto:5", "auto:6"];
  const unitName = (code) => UNITS[code] || code || "";

  // One id per browser tab, kept across reloads and reconnects: the relay replaces the
  // old seat of the same id instead of showing the user twice.
  let endpoint = sessionStorage.getItem("ioc-meet-endpoint");
  if (!endpoint || !/^[A-Za-z0-9_-]{1,40}$/.test(endpoint)) {
    endpoint = "w" + Math.random().toString(36).slice(2, 12);
    sessionStorage.setItem("ioc-meet-endpoint", endpoint);
  }

  const S = {
    local: null, // MediaStream of own camera + mic
    pub: !!YOU.pub,
    ws: null,
    pc: null,
    you: null,
    room: null,
    slots: [],
    slotStreams: [],
    connects: 0,
    phase: "prejoin", // prejoin | connecting | live | reconnecting | ended | left
    delay: 1000,
    retryTimer: null,
    pingTimer: null,
    lastMessageAt: 0,
    disconnectedSince: 0,
    micOn: true,
    camOn: true,
    hand: false,
    layout: "spotlight",
    endArmed: false,
  };

  // ---------------------------------------------------------------- status & banner
  function setConn(state, text) {
    const node = $("conn");
    if (!node) return;
    node.dataset.state = state;
    node.textContent = text;
  }
  function banner(text, kind) {
    const node = $("banner");
    node.textContent = text;
    node.className = "banner " + (kind || "info");
    if (!text) node.classList.add("hidden");
  }

  // ---------------------------------------------------------------- devices
  async function openDevices(cameraId, micId) {
    if (!S.pub) return null;
    const constraints = {
      video: cameraId ? { deviceId: { exact: cameraId }, width: { ideal: 640 }, height: { ideal: 360 } } : { width: { ideal: 640 }, height: { ideal: 360 } },
      audio: micId ? { deviceId: { exact: micId } } : true,
    };
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    if (S.local) for (const track of S.local.getTracks()) track.stop();
    S.local = stream;
    $("preview").srcObject = stream;
    return stream;
  }

  async function fillDeviceLists() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select, kind, current) => {
      clear(select);
      const list = devices.filter((d) => d.kind === kind);
      if (!list.length) select.append(el("option", { value: "", text: tr("device.none") }));
      list.forEach((d, i) => {
        const option = el("option", { value: d.deviceId, text: d.label || kind + " " + (i + 1) });
        if (d.deviceId === current) option.selected = true;
        select.append(option);
      });
    };
    const tracks = S.local ? S.local.getTracks() : [];
    const setting = (kind) => { const t = tracks.find((x) => x.kind === kind); return t ? t.getSettings().deviceId : ""; };
    fill($("camera-select"), "videoinput", setting("video"));
    fill($("mic-select"), "audioinput", setting("audio"));
  }

  async function prepareDevices() {
    $("you-role").textContent = YOU.role ? tr("you.role", { role: tr("role." + YOU.role) }) : "";
    if (!YOU.invited) {
      banner(tr("banner.forbidden"), "error");
      $("join-btn").disabled = true;
      return;
    }
    if (!S.pub) {
      $("device-note").textContent = tr("device.viewer");
      $("camera-select").disabled = true;
      $("mic-select").disabled = true;
      return;
    }
    try {
      await openDevices();
      await fillDeviceLists();
    } catch (err) {
      $("device-note").textContent = tr("device.denied", { msg: err.message || err.name });
      S.pub = false;
    }
    const reopen = async () => {
      try { await openDevices($("camera-select").value, $("mic-select").value); } catch (err) {
        $("device-note").textContent = tr("device.denied", { msg: err.message || err.name });
      }
    };
    $("camera-select").addEventListener("change", reopen);
    $("mic-select").addEventListener("change", reopen);
  }

  // ---------------------------------------------------------------- connection
  async function connect() {
    S.retryTimer = null;
    if (S.phase === "ended" || S.phase === "left") return;
    S.phase = S.connects ? "reconnecting" : "connecting";
    setConn("connecting", tr("status.connecting"));
    let grant;
    try {
      grant = await api("/api/v1/meetings/" + encodeURIComponent(MEETING.id) + "/join-token", { method: "POST", json: { endpoint } });
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) return stop("forbidden");
      if (err instanceof ApiError && err.status === 409) return stop("ended");
      return retry(err.message);
    }
    let ws;
    try {
      ws = new WebSocket(grant.relay_url);
    } catch (err) {
      return retry(err.message);
    }
    S.ws = ws;
    S.lastMessageAt = Date.now();
    ws.onopen = () => ws.send(JSON.stringify({ type: "join", token: grant.token }));
    ws.onmessage = (event) => {
      if (S.ws !== ws) return;
      S.lastMessageAt = Date.now();
      let msg;
      try { msg = JSON.parse(event.data); } catch (_) { return; }
      onMessage(msg, ws).catch((err) => { console.error(err); ws.close(); });
    };
    ws.onclose = (event) => {
      if (S.ws !== ws) return;
      if (event.code === 4000) return stop("ended");
      if (event.code === 4409) return stop("replaced");
      retry("socket closed (" + event.code + ")");
    };
  }

  function retry(reason) {
    teardown();
    if (S.phase === "ended" || S.phase === "left" || S.retryTimer) return;
    S.phase = "reconnecting";
    const seconds = Math.round(S.delay / 1000);
    setConn("offline", tr("status.reconnecting", { s: seconds }));
    console.info("meeting: reconnecting in", seconds, "s:", reason);
    S.retryTimer = setTimeout(connect, S.delay);
    S.delay = Math.min(S.delay * 2, 10000);
  }

  function teardown() {
    const ws = S.ws, pc = S.pc;
    S.ws = null;
    S.pc = null;
    if (ws && ws.readyState <= 1) { try { ws.close(); } catch (_) { /* closing anyway */ } }
    // Closing the connection leaves the local camera and mic running: the next one sends them again.
    if (pc) pc.close();
    S.disconnectedSince = 0;
  }

  function stop(reason) {
    teardown();
    if (S.retryTimer) clearTimeout(S.retryTimer);
    S.retryTimer = null;
    S.phase = reason === "left" ? "left" : "ended";
    const key = { ended: "banner.ended", left: "banner.left", replaced: "banner.replaced", forbidden: "banner.forbidden" }[reason];
    banner(tr(key || "banner.ended"), reason === "forbidden" || reason === "replaced" ? "error" : "info");
    setConn("offline", tr(key || "banner.ended"));
    if (reason !== "replaced" && S.local) for (const track of S.local.getTracks()) track.stop();
    $("controls").classList.add("hidden");
    $("meet").dataset.state = S.phase;
  }

  async function onMessage(msg, ws) {
    switch (msg.type) {
      case "joined":
        S.you = msg.you;
        S.room = msg.room;
        await negotiate(ws, Math.min(SELECTORS.length, msg.max_slots || SELECTORS.length));
        break;
      case "answer":
        await S.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
        S.slots = msg.slots || [];
        bindSlots();
        S.connects += 1;
        S.delay = 1000;
        S.phase = "live";
        $("meet").dataset.state = "live";
        setConn("live", tr("status.live"));
        banner("");
        render();
        break;
      case "slots":
        S.slots = msg.slots || [];
        bindSlots();
        render();
        break;
      case "state":
        S.room = msg.room;
        render();
        break;
      case "muted":
        setMic(!msg.muted, false);
        banner(tr(msg.muted ? "banner.muted" : "banner.unmuted"), "info");
        break;
      case "ended":
        stop("ended");
        break;
      case "error":
        if (msg.code === "replaced") return stop("replaced");
        if (msg.code === "room_ended") return stop("ended");
        banner(tr("banner.error", { msg: msg.message || msg.code }), "error");
        break;
      default:
        break; // pong and anything newer than this page
    }
  }

  async function negotiate(ws, slotCount) {
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
    S.pc = pc;
    if (S.pub && S.local) {
      const audio = S.local.getAudioTracks()[0];
      const video = S.local.getVideoTracks()[0];
      if (audio) pc.addTransceiver(audio, { direction: "sendonly", streams: [S.local] });
      if (video) pc.addTransceiver(video, { direction: "sendonly", streams: [S.local] });
    }
    for (let i = 0; i < slotCount; i++) {
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    pc.onconnectionstatechange = () => {
      if (S.pc !== pc) return;
      if (pc.connectionState === "failed") retry("media connection failed");
      else if (pc.connectionState === "disconnected") S.disconnectedSince = S.disconnectedSince || Date.now();
      else S.disconnectedSince = 0;
    };
    await pc.setLocalDescription(await pc.createOffer());
    // The relay takes no trickled candidates: send the offer once gathering is done.
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const timer = setTimeout(resolve, 3000);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
    if (S.pc !== pc) return;
    ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp, slots: SELECTORS.slice(0, slotCount) }));
  }

  // Every slot gets one MediaStream (its video + audio receiver tracks), kept for the
  // life of the connection: re-pointing a slot on the relay needs no change here.
  function bindSlots() {
    if (!S.pc) return;
    const byMid = new Map(S.pc.getTransceivers().map((t) => [t.mid, t]));
    S.slotStreams = S.slots.map((slot, i) => {
      const old = S.slotStreams[i];
      const mids = slot.mids || {};
      const tracks = ["video", "audio"].map((k) => byMid.get(mids[k])).filter(Boolean).map((t) => t.receiver.track);
      if (old && tracks.every((t) => old.getTracks().includes(t))) return old;
      return new MediaStream(tracks);
    });
  }

  // Watchdog: a dead network often closes nothing; ping and give up on silence.
  function watchdog() {
    if (S.phase !== "live" || !S.ws) return;
    const now = Date.now();
    if (now - S.lastMessageAt > 15000) return retry("no answer from the relay for 15 s");
    if (S.disconnectedSince && now - S.disconnectedSince > 5000) return retry("media disconnected for 5 s");
    if (S.ws.readyState === 1) S.ws.send(JSON.stringify({ type: "ping" }));
  }

  function send(msg) {
    if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify(msg));
  }

  // ---------------------------------------------------------------- rendering
  function participant(id) {
    return ((S.room && S.room.participants) || []).find((p) => p.id === id) || null;
  }

  function attach(video, stream, muted) {
    if (video.srcObject !== stream) video.srcObject = stream;
    video.muted = !!muted;
    if (video.paused) video.play().catch(() => { /* autoplay refused until a click; the join click allows it */ });
  }

  function label(tile, who) {
    tile.querySelector(".tile-name").textContent = who ? who.name : "";
    tile.querySelector(".tile-unit").textContent = who ? unitName(who.unit) : "";
  }

  function tileFor(key) {
    let tile = document.querySelector('#grid .tile[data-key="' + key + '"]');
    if (!tile) {
      tile = el("div", { className: "tile", dataset: { key } },
        el("video", { className: "tile-video" }),
        el("div", { className: "tile-label" }, el("strong", { className: "tile-name" }), el("span", { className: "tile-unit" })),
        el("div", { className: "tile-icons" }));
      const video = tile.querySelector("video");
      video.autoplay = true;
      video.playsInline = true;
      $("grid").append(tile);
    }
    return tile;
  }

  function render() {
    if (S.phase === "prejoin") return;
    $("prejoin").classList.add("hidden");
    $("spotlight").classList.toggle("hidden", S.layout !== "spotlight");
    $("grid").classList.remove("hidden");
    $("grid").dataset.layout = S.layout;
    $("controls").classList.remove("hidden");
    const room = S.room || {};
    const me = S.you ? S.you.id : null;
    const shown = new Set();
    const keep = new Set();

    // Slot 0 is the spotlight; the others fill the grid, each participant once.
    S.slots.forEach((slot, i) => {
      const stream = S.slotStreams[i];
      const who = slot.participant ? participant(slot.participant) || { name: slot.name, unit: slot.unit } : null;
      const spotlightSlot = i === 0 && S.layout === "spotlight";
      if (spotlightSlot) {
        const tile = $("spotlight-tile");
        tile.dataset.participant = slot.participant || "";
        label(tile, who);
        attach($("spotlight-video"), stream, !slot.participant || slot.participant === me);
        if (slot.participant) shown.add(slot.participant);
        return;
      }
      if (!slot.participant || slot.participant === me || shown.has(slot.participant)) return;
      shown.add(slot.participant);
      const key = "slot-" + i;
      keep.add(key);
      const tile = tileFor(key);
      tile.dataset.slot = String(i);
      tile.dataset.participant = slot.participant;
      tile.classList.toggle("floor", slot.participant === room.spotlight);
      label(tile, who);
      attach(tile.querySelector("video"), stream, false);
      icons(tile, slot.participant, room);
    });

    if (S.pub && S.local) {
      keep.add("self");
      const tile = tileFor("self");
      tile.classList.add("self");
      label(tile, { name: tr("you.label"), unit: page.user ? page.user.unit : "" });
      attach(tile.querySelector("video"), S.local, true);
      icons(tile, me, room);
    }
    for (const tile of document.querySelectorAll("#grid .tile")) {
      if (!keep.has(tile.dataset.key)) tile.remove();
    }
    renderRoster(room, me);
    renderControls(room, me);
  }

  function icons(tile, id, room) {
    const box = tile.querySelector(".tile-icons");
    clear(box);
    if ((room.hands || []).includes(id)) box.append(el("span", { className: "icon hand", title: tr("roster.hand"), text: "✋" }));
    if ((room.muted || []).includes(id)) box.append(el("span", { className: "icon muted", title: tr("roster.muted"), text: "🔇" }));
  }

  function renderRoster(room, me) {
    const list = $("roster");
    clear(list);
    const people = (room.participants || []).filter((p) => p.role !== "relay");
    const chair = S.you && S.you.role === "chair";
    for (const p of people) {
      const meta = [tr("role." + p.role), unitName(p.unit)];
      const item = el("li", { className: "person" + (p.id === room.spotlight ? " floor" : ""), dataset: { participant: p.id } },
        el("div", { className: "person-main" },
          el("strong", { text: p.id === me ? p.name + " (" + tr("you.label") + ")" : p.name }),
          el("small", { text: meta.filter(Boolean).join(" · ") })),
        el("span", { className: "person-icons" },
          (room.hands || []).includes(p.id) ? el("span", { title: tr("roster.hand"), text: "✋" }) : null,
          (room.muted || []).includes(p.id) ? el("span", { title: tr("roster.muted"), text: "🔇" }) : null));
      if (chair && p.id !== me && p.pub) {
        const isMuted = (room.muted || []).includes(p.id);
        const floor = el("button", { className: "btn small", type: "button", text: tr("action.give_floor"), dataset: { action: "floor" } });
        floor.addEventListener("click", () => send({ type: "spotlight", participant: p.id }));
        const mute = el("button", { className: "btn small", type: "button", text: tr(isMuted ? "action.unmute" : "action.mute"), dataset: { action: "mute" } });
        mute.addEventListener("click", () => send({ type: "mute", participant: p.id, muted: !isMuted }));
        item.append(el("div", { className: "person-actions" }, floor, mute));
      }
      list.append(item);
    }
    $("roster-count").textContent = String(people.length);
    const hands = $("hands");
    clear(hands);
    for (const id of room.hands || []) {
      const p = participant(id);
      hands.append(el("li", { text: p ? p.name + " · " + unitName(p.unit) : id }));
    }
    $("hands-panel").classList.toggle("hidden", !(room.hands || []).length);
  }

  function renderControls(room, me) {
    const chair = S.you && S.you.role === "chair";
    for (const node of document.querySelectorAll(".chair-only")) node.classList.toggle("hidden", !chair);
    S.hand = (room.hands || []).includes(me);
    $("hand-btn").textContent = tr(S.hand ? "action.lower_hand" : "action.raise_hand");
    $("hand-btn").classList.toggle("hidden", !S.you || S.you.role === "viewer");
    $("mic-btn").classList.toggle("hidden", !S.pub || !S.local);
    $("cam-btn").classList.toggle("hidden", !S.pub || !S.local);
    $("layout-btn").textContent = tr(S.layout === "spotlight" ? "action.grid_view" : "action.spotlight_view");
  }

  function setMic(on, tell) {
    S.micOn = on;
    if (S.local) for (const t of S.local.getAudioTracks()) t.enabled = on;
    $("mic-btn").textContent = tr(on ? "action.mic_off" : "action.mic_on");
    if (tell && S.you) send({ type: "mute", participant: S.you.id, muted: !on });
  }

  // ---------------------------------------------------------------- camera sharing
  async function loadShares() {
    if (!YOU.may_share) return;
    let body;
    try { body = await api("/api/v1/meetings/" + encodeURIComponent(MEETING.id) + "/shares"); } catch (_) { return; }
    const list = $("shares");
    clear(list);
    for (const share of body.items || []) {
      const stopBtn = el("button", { className: "btn small", type: "button", text: tr("share.stop") });
      stopBtn.addEventListener("click", async () => {
        try {
          await api("/api/v1/meetings/" + encodeURIComponent(MEETING.id) + "/shares/" + encodeURIComponent(share.key), { method: "DELETE" });
        } catch (err) { banner(tr("share.failed", { msg: err.message }), "error"); }
        loadShares();
      });
      list.append(el("li", {}, el("span", { text: share.label + " · " + tr("share.state." + share.state) }), stopBtn));
    }
  }

  function setupShare() {
    if (!YOU.may_share) return;
    $("share-panel").classList.remove("hidden");
    $("share-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const source = $("share-source").value.trim();
      const labelText = $("share-label").value.trim();
      if (!source) return;
      const json = /^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? { url: source } : { camera_id: source };
      if (labelText) json.label = labelText;
      try {
        await api("/api/v1/meetings/" + encodeURIComponent(MEETING.id) + "/share-camera", { method: "POST", json });
        $("share-source").value = "";
        $("share-label").value = "";
      } catch (err) {
        banner(tr("share.failed", { msg: err.message }), "error");
      }
      loadShares();
    });
    loadShares();
    setInterval(loadShares, 5000);
  }

  // ---------------------------------------------------------------- buttons
  $("join-btn").addEventListener("click", () => {
    $("join-btn").disabled = true;
    S.phase = "connecting";
    $("meet").dataset.state = "connecting";
    connect();
  });
  $("leave-btn").addEventListener("click", () => {
    send({ type: "leave" });
    stop("left");
  });
  $("mic-btn").addEventListener("click", () => setMic(!S.micOn, true));
  $("cam-btn").addEventListener("click", () => {
    S.camOn = !S.camOn;
    if (S.local) for (const t of S.local.getVideoTracks()) t.enabled = S.camOn;
    $("cam-btn").textContent = tr(S.camOn ? "action.cam_off" : "action.cam_on");
  });
  $("hand-btn").addEventListener("click", () => send({ type: "raise_hand", raised: !S.hand }));
  $("layout-btn").addEventListener("click", () => { S.layout = S.layout === "spotlight" ? "grid" : "spotlight"; render(); });
  $("floor-btn").addEventListener("click", () => send({ type: "spotlight", participant: null }));
  $("end-btn").addEventListener("click", async () => {
    // Two clicks, no modal dialog: walls and kiosks run without anyone to answer one.
    if (!S.endArmed) {
      S.endArmed = true;
      $("end-btn").textContent = tr("action.end_confirm");
      setTimeout(() => { S.endArmed = false; $("end-btn").textContent = tr("action.end"); }, 4000);
      return;
    }
    send({ type: "end" });
    try { await api("/api/v1/meetings/" + encodeURIComponent(MEETING.id) + "/end", { method: "POST" }); } catch (_) { /* the relay ends it anyway */ }
    stop("ended");
  });
  window.addEventListener("online", () => { if (S.phase === "reconnecting" && S.retryTimer) { clearTimeout(S.retryTimer); S.retryTimer = null; S.delay = 1000; connect(); } });
  window.addEventListener("beforeunload", () => send({ type: "leave" }));

  // For support and tests: a read-only summary of the page's connection.
  window.IOCMeet = {
    state: () => ({
      phase: S.phase,
      connects: S.connects,
      you: S.you,
      room: S.room,
      slots: S.slots,
      pc: S.pc ? S.pc.connectionState : null,
      publishing: !!(S.pub && S.local),
    }),
  };

  setInterval(watchdog, 5000);
  window.IOC.startClock($("clock-time"), $("clock-date"));
  if (MEETING.state === "ended") stop("ended");
  else prepareDevices().then(setupShare);
})();
