/* IOC login page: posts JSON to /api/v1/auth/login (which sets the session cookie),
   then goes to `next` — only a same-site path, so the page cannot be used to bounce
   a user to another site after login. */
"use strict";

(function () {
  const { t, page } = window.IOC;
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const submit = document.getElementById("login-submit");

  /** The page to open after login: a local path ("/wall/1"), never "//evil" or "https://…". */
  function safeNext(value) {
    if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//") || value.includes("\\")) return "/wall/1";
    return value;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const username = form.username.value.trim();
    const password = form.password.value;
    if (!username || !password) {
      error.textContent = t("login.failed");
      return;
    }
    submit.disabled = true;
    submit.textContent = t("login.busy");
    try {
      const response = await fetch("/api/v1/auth/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username, password }),
      });
      if (response.ok) {
        location.assign(safeNext(page.next));
        return;
      }
      error.textContent = response.status === 401 || response.status === 403 ? t("login.failed")
        : response.status === 429 ? t("login.rate_limited")
        : t("login.error", { status: response.status });
    } catch (err) {
      error.textContent = t("common.error", { msg: String(err.message || err) });
    }
    submit.disabled = false;
    submit.textContent = t("login.submit");
  });
})();
