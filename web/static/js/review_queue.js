/* Review queue (police): filters, most urgent deadline first, plate search over
   confirmed violations. Data only reaches the DOM through IOC.el (textContent). */
"use strict";

(function () {
  const { t, el, clear, api, ApiError, withQuery, typeLabel, fmtDateTime, startClock } = window.IOC;
  const body = document.getElementById("rq-body");
  const empty = document.getElementById("rq-empty");
  const count = document.getElementById("rq-count");
  const notice = document.getElementById("rq-notice");
  const more = document.getElementById("rq-more");
  const moreState = document.getElementById("rq-more-state");
  const heading = document.getElementById("rq-heading");
  const conn = document.getElementById("conn");
  let cursor = null;
  let shown = 0;

  function showError(err) {
    notice.textContent = t("common.error", { msg: err instanceof ApiError ? err.detail : String(err) });
    notice.classList.remove("hidden");
    conn.dataset.state = "offline";
  }

  function deadlineBadge(item) {
    const status = item.deadline_status;
    const days = window.IOC.fmtDays(item.days_left);
    const text = status === "closed" ? t("review.deadline.closed")
      : status === "overdue" ? t("review.deadline.overdue_by", { d: days })
      : t("review.deadline.left", { d: days });
    return el("span", { className: "badge deadline", dataset: { status }, text });
  }

  function row(item) {
    const place = [item.camera_name || item.camera, item.unit_name].filter(Boolean).join(" · ");
    return el("tr", { dataset: { id: item.event_id, status: item.deadline_status } },
      el("td", { text: fmtDateTime(item.detected_at) }),
      el("td", { text: typeLabel(item.type) }),
      el("td", { text: place }),
      el("td", { className: "plate-cell", text: item.plate || t("review.unread") }),
      el("td", {}, deadlineBadge(item)),
      el("td", { text: t("review.state." + item.state) }),
      el("td", {}, el("a", { className: "btn small", href: "/review/" + item.event_id, text: t("review.open") })));
  }

  function render(items, append) {
    if (!append) { clear(body); shown = 0; }
    for (const item of items) body.append(row(item));
    shown += items.length;
    empty.textContent = shown ? "" : t("common.none");
    empty.classList.toggle("hidden", shown > 0);
    count.textContent = String(shown);
    notice.classList.add("hidden");
    conn.dataset.state = "live";
    conn.textContent = t("conn.live");
  }

  function filters() {
    const form = document.getElementById("rq-filters");
    const data = Object.fromEntries(new FormData(form).entries());
    return data;
  }

  async function load(append) {
    try {
      const params = { ...filters(), cursor: append ? cursor : null, limit: 50 };
      const page = await api(withQuery("/api/v1/violations", params));
      cursor = page.next_cursor;
      more.disabled = !cursor;
      moreState.textContent = cursor ? "" : t("review.end");
      heading.textContent = t("review.queue_title");
      render(page.items, append);
      document.body.dataset.ready = "1";
    } catch (err) { showError(err); }
  }

  async function searchPlate(plate) {
    try {
      const items = await api(withQuery("/api/v1/violations/search", { plate }));
      heading.textContent = t("review.search_results", { plate });
      cursor = null; more.disabled = true; moreState.textContent = "";
      render(items, false);
    } catch (err) { showError(err); }
  }

  document.getElementById("rq-filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(false); });
  document.getElementById("rq-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const plate = document.getElementById("rq-plate").value.trim();
    if (plate.length >= 3) searchPlate(plate);
  });
  more.addEventListener("click", () => load(true));
  startClock(document.getElementById("clock-time"), document.getElementById("clock-date"));
  load(false);
  // New proposals arrive all day; refresh the first page while the officer is idle on it.
  setInterval(() => { if (!cursor || shown <= 50) load(false); }, 15000);
})();
