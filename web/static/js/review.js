/* Review of one violation: evidence (overview, plate close-up, clip with frame
   stepping), plate reading and candidates, plate correction, decision, exports. */
"use strict";

(function () {
  const { t, el, clear, api, ApiError, typeLabel, fmtDateTime, startClock, page } = window.IOC;
  const id = page.event_id;
  const $ = (name) => document.getElementById(name);
  const conn = $("conn");
  let current = null;

  function notify(message, isError) {
    const node = $("rv-notice");
    node.textContent = message;
    node.dataset.kind = isError ? "error" : "ok";
    node.classList.remove("hidden");
  }
  const fail = (err) => notify(t("common.error", { msg: err instanceof ApiError ? err.detail : String(err) }), true);

  function fact(label, value) {
    return [el("dt", { text: label }), el("dd", { text: value === null || value === undefined || value === "" ? "—" : value })];
  }

  function evidenceUrl(item) { return "/api/v1/evidence/" + item.sha256; }

  function showEvidence(items) {
    const byKind = {};
    for (const item of items) if (item.present) byKind[item.kind] = item;
    // Without a plate box the edge sends a close-up of the vehicle instead.
    const closeup = byKind.plate || byKind.vehicle;
    for (const [name, item] of [["rv-overview", byKind.overview], ["rv-plate-img", closeup], ["rv-clip", byKind.clip]]) {
      const node = $(name);
      if (item) node.src = evidenceUrl(item);
      node.closest("figure").classList.toggle("hidden", !item);
    }
  }

  function render(v) {
    current = v;
    $("rv-type").textContent = typeLabel(v.type);
    const facts = $("rv-facts");
    clear(facts);
    const place = [v.camera_name, v.unit_name].filter(Boolean).join(", ");
    const measured = Object.entries((v.payload && v.payload.measurements) || {}).map(([k, x]) => k + ": " + x).join(", ");
    for (const pair of [
      fact(t("review.col.detected"), fmtDateTime(v.detected_at)),
      fact(t("review.place"), place || v.camera),
      fact(t("console.camera"), v.camera + " · " + v.edge),
      fact(t("review.measurements"), measured),
      fact(t("review.state"), t("review.state." + v.state)),
    ]) facts.append(...pair);
    const status = v.deadline_status;
    $("rv-deadline").textContent = status === "closed" ? t("review.deadline.closed")
      : status === "overdue" ? t("review.deadline.overdue_by", { d: window.IOC.fmtDays(v.days_left) })
      : t("review.deadline.left", { d: window.IOC.fmtDays(v.days_left) });
    $("rv-deadline").dataset.status = status;

    $("rv-plate-read").textContent = t("review.camera_read", {
      plate: v.plate_read || t("review.unread"),
      conf: v.plate_confidence === null || v.plate_confidence === undefined ? "—" : Math.round(v.plate_confidence * 100) + "%",
    }) + (v.plate_edited_by ? " · " + t("review.edited_by", { who: v.plate_edited_by }) : "");
    const list = $("rv-candidates");
    clear(list);
    for (const c of v.plate_candidates || []) {
      const text = typeof c === "string" ? c : c.text;
      const conf = typeof c === "object" && c.confidence !== undefined ? " (" + Math.round(c.confidence * 100) + "%)" : "";
      const btn = el("button", { className: "btn small", type: "button", text: text + conf });
      btn.addEventListener("click", () => { $("rv-plate").value = text; });
      list.append(el("li", {}, btn));
    }
    $("rv-plate").value = v.plate || "";

    const m = v.manifest;
    $("rv-integrity").textContent = !m ? t("review.no_manifest")
      : m.verified ? t("review.verified", { hash: m.hash.slice(0, 16) })
      : t("review.not_verified", { problems: (m.problems || []).join(", ") || "?" });
    $("rv-integrity").dataset.ok = m && m.verified ? "yes" : "no";

    const open = v.state === "proposed";
    for (const name of ["rv-plate", "rv-plate-save", "rv-reason", "rv-confirm", "rv-reject"]) $(name).disabled = !open;
    $("rv-decided").textContent = open ? "" : t("review.decided", {
      state: t("review.state." + v.state), who: v.decided_by, at: fmtDateTime(v.decided_at),
    }) + (v.reason ? " — " + v.reason : "");
    for (const [name, suffix] of [["rv-pdf", "report.pdf"], ["rv-zip", "evidence.zip"]]) {
      const link = $(name);
      if (v.state === "confirmed") {
        link.href = "/api/v1/violations/" + id + "/" + suffix;
        link.setAttribute("aria-disabled", "false");
        link.setAttribute("download", "");
      } else {
        link.removeAttribute("href");
        link.setAttribute("aria-disabled", "true");
      }
    }
  }

  async function load() {
    try {
      const v = await api("/api/v1/violations/" + id);
      render(v);
      showEvidence(v.evidence || []);
      document.body.dataset.ready = "1";
      conn.dataset.state = "live";
      conn.textContent = t("conn.live");
    } catch (err) { fail(err); conn.dataset.state = "offline"; }
  }

  async function act(path, json, okMessage) {
    try {
      const updated = await api("/api/v1/violations/" + id + path, { method: "POST", json });
      render({ ...current, ...updated });
      notify(okMessage, false);
    } catch (err) { fail(err); }
  }

  $("rv-plate-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("/plate", { plate: $("rv-plate").value.trim() }, t("review.plate_saved"));
  });
  $("rv-confirm").addEventListener("click", () => act("/decision", { decision: "confirm" }, t("review.confirmed_ok")));
  $("rv-reject").addEventListener("click", () => {
    const reason = $("rv-reason").value.trim();
    if (!reason) { notify(t("review.reason_required"), true); $("rv-reason").focus(); return; }
    act("/decision", { decision: "reject", reason }, t("review.rejected_ok"));
  });

  // Frame stepping: the clip is paused and moved by one frame period.
  const clip = $("rv-clip");
  const fps = () => (current && current.payload && current.payload.clip_fps) || 25;
  const step = (dir) => { clip.pause(); clip.currentTime = Math.max(0, clip.currentTime + dir / fps()); };
  $("rv-prev-frame").addEventListener("click", () => step(-1));
  $("rv-next-frame").addEventListener("click", () => step(1));
  clip.addEventListener("timeupdate", () => { $("rv-clip-time").textContent = clip.currentTime.toFixed(2) + " s"; });

  startClock(document.getElementById("clock-time"), document.getElementById("clock-date"));
  load();
})();
