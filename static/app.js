// priority-notify: live updates and actions on top of server-rendered pages.
// No framework and no inline script (the Content-Security-Policy allows only this file).
// Markup always comes from the server (/fragments/…), so there is one renderer and every
// value in it has been escaped there.
"use strict";

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
      throw new Error(detail);
    }
    return response;
  }

  async function fragment(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(response.statusText);
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    return template.content.firstElementChild;
  }

  function relativeTime(iso) {
    const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "min"]]) {
      if (seconds >= size) return `${Math.floor(seconds / size)} ${unit} ago`;
    }
    return "just now";
  }

  function refreshTimes() {
    for (const time of $$(".note time[datetime]")) time.textContent = relativeTime(time.dateTime);
  }

  function reveal(root) {
    for (const element of $$(".actions, [data-revoke]", root)) element.hidden = false;
  }

  // --- dashboard ---------------------------------------------------------------------------

  function dashboard() {
    const list = $("#list");
    if (!list) return;
    const filters = list.dataset;
    const firstPage = filters.offset === "0";
    const liveBadge = $("#live");
    const toast = $("#toast");
    const alertsToggle = $("#desktop-alerts");
    let lastEventId = null;
    let pendingDelete = null;
    let countTimer = null;

    reveal(list);
    $("#bulk").hidden = false;
    const form = $("#filters");
    for (const select of $$("select", form)) select.addEventListener("change", () => form.requestSubmit());

    const matches = (note) =>
      (filters.status === "all" ||
        (filters.status === "inbox" ? note.dataset.status !== "archived" : note.dataset.status === filters.status)) &&
      (!filters.priority || note.dataset.priority === filters.priority) &&
      (!filters.source || note.dataset.source === filters.source);

    const showEmpty = () => { $("#empty").hidden = list.querySelector(".note") !== null; };
    const byId = (id) => document.getElementById(`n-${id}`);

    function place(note) {
      const newer = $$(".note", list).find((other) => other.dataset.created < note.dataset.created);
      list.insertBefore(note, newer || null);
    }

    async function show(id, isNew) {
      const existing = byId(id);
      if (!existing && !(isNew && firstPage)) return;
      const note = await fragment(`/fragments/notifications/${encodeURIComponent(id)}`);
      const current = byId(id);
      if (!note || !matches(note)) {
        if (current) current.remove();
      } else {
        reveal(note);
        if (current) {
          note.querySelector("details").open = current.querySelector("details").open;
          current.replaceWith(note);
        } else {
          place(note);
        }
      }
      showEmpty();
    }

    function remove(id) {
      const note = byId(id);
      if (note) note.remove();
      showEmpty();
    }

    async function refreshCount() {
      const response = await api("GET", "/api/notifications/?status=unread&limit=1");
      const unread = (await response.json()).total;
      const badge = $("#unread-count");
      badge.dataset.count = String(unread);
      badge.textContent = `${unread} unread`;
      badge.setAttribute("aria-label", `${unread} unread`);
      document.title = (unread ? `(${unread}) ` : "") + "Notifications · priority-notify";
    }
    const countSoon = () => {
      clearTimeout(countTimer);
      countTimer = setTimeout(() => refreshCount().catch(() => {}), 150);
    };

    function setLive(on) {
      document.body.dataset.live = on ? "on" : "off";
      liveBadge.dataset.state = on ? "on" : "off";
      liveBadge.textContent = on ? "Live" : "Live updates off — reconnecting…";
    }

    function desktopAlert(data) {
      if (!alertsToggle.checked || !("Notification" in window) || Notification.permission !== "granted") return;
      if (data.priority !== "high" && data.priority !== "critical") return;
      if (!document.hidden) return;
      new Notification(`${data.priority === "critical" ? "‼ " : ""}${data.title}`, { body: data.message || "", tag: data.id });
    }

    function connect() {
      const url = "/api/notifications/stream" + (lastEventId ? `?after=${encodeURIComponent(lastEventId)}` : "");
      const source = new EventSource(url);
      const track = (event) => { if (event.lastEventId) lastEventId = event.lastEventId; };
      source.addEventListener("ready", (event) => { track(event); setLive(true); countSoon(); });
      source.addEventListener("notification", (event) => {
        track(event);
        const data = JSON.parse(event.data);
        show(data.id, true).catch(() => {});
        desktopAlert(data);
        countSoon();
      });
      source.addEventListener("updated", (event) => {
        track(event);
        const data = JSON.parse(event.data);
        show(data.id, false).catch(() => {});
        if (data.status === "unread") desktopAlert(data);
        countSoon();
      });
      source.addEventListener("status_change", (event) => {
        track(event);
        show(JSON.parse(event.data).id, false).catch(() => {});
        countSoon();
      });
      source.addEventListener("deleted", (event) => {
        track(event);
        remove(JSON.parse(event.data).id);
        countSoon();
      });
      source.addEventListener("reset", () => window.location.reload());
      source.onerror = () => {
        setLive(false);
        // The browser retries by itself unless the server refused (readyState CLOSED); then
        // start again ourselves, resuming from the last event seen.
        if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
      };
    }

    function finishDelete() {
      if (!pendingDelete) return;
      const { id, timer } = pendingDelete;
      clearTimeout(timer);
      pendingDelete = null;
      toast.hidden = true;
      api("DELETE", `/api/notifications/${encodeURIComponent(id)}`)
        .then(() => remove(id))
        .catch(() => { const note = byId(id); if (note) note.hidden = false; });
    }

    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const note = button.closest(".note");
      const id = note.dataset.id;
      const action = button.dataset.action;
      if (action === "delete") {
        finishDelete();
        note.hidden = true;
        showEmpty();
        $("#toast-text").textContent = "Notification deleted.";
        toast.hidden = false;
        pendingDelete = { id, timer: setTimeout(finishDelete, 5000) };
        return;
      }
      const status = action === "archive" ? "archived" : action;
      button.disabled = true;
      api("PATCH", `/api/notifications/${encodeURIComponent(id)}`, { status })
        .then(() => show(id, false))
        .catch(() => { button.disabled = false; });
    });

    $("#toast-undo").addEventListener("click", () => {
      if (!pendingDelete) return;
      clearTimeout(pendingDelete.timer);
      const note = byId(pendingDelete.id);
      if (note) note.hidden = false;
      pendingDelete = null;
      toast.hidden = true;
      showEmpty();
    });
    window.addEventListener("pagehide", finishDelete);

    $("#mark-all-read").addEventListener("click", (event) => {
      event.target.disabled = true;
      api("POST", "/api/notifications/read-all")
        .finally(() => { event.target.disabled = false; countSoon(); });
    });

    alertsToggle.checked = localStorage.getItem("pnotify.desktopAlerts") === "on";
    alertsToggle.addEventListener("change", async () => {
      if (alertsToggle.checked && "Notification" in window && Notification.permission !== "granted") {
        alertsToggle.checked = (await Notification.requestPermission()) === "granted";
      }
      localStorage.setItem("pnotify.desktopAlerts", alertsToggle.checked ? "on" : "off");
    });

    setLive(false);
    connect();
    setInterval(refreshTimes, 30000);
  }

  // --- tokens --------------------------------------------------------------------------------

  function tokens() {
    const form = $("#token-form");
    if (!form) return;
    const rows = $("#token-rows");
    const panel = $("#new-token");
    const error = $("#token-error");
    reveal(rows);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      const data = new FormData(form);
      const body = { name: data.get("name"), device_type: data.get("device_type"), scope: data.get("scope") };
      if (data.get("expires_in_days")) body.expires_in_days = Number(data.get("expires_in_days"));
      try {
        const created = await (await api("POST", "/api/tokens/", body)).json();
        $("#new-token-value").textContent = created.token;
        $("#new-token-qr").src = created.qr_url;
        panel.hidden = false;
        panel.scrollIntoView({ block: "nearest" });
        const row = await fragment(`/fragments/tokens/${encodeURIComponent(created.id)}`);
        if (row) { reveal(row); rows.prepend(row); }
        $("#no-tokens").hidden = true;
        form.reset();
      } catch (problem) {
        error.textContent = problem.message;
        error.hidden = false;
      }
    });

    $("#copy-token").addEventListener("click", async (event) => {
      const value = $("#new-token-value").textContent;
      try {
        await navigator.clipboard.writeText(value);
        event.target.textContent = "Copied";
      } catch (_) {
        window.getSelection().selectAllChildren($("#new-token-value"));
        event.target.textContent = "Press Ctrl+C";
      }
    });

    $("#new-token-done").addEventListener("click", () => {
      panel.hidden = true;
      $("#new-token-value").textContent = "";
      $("#new-token-qr").removeAttribute("src");
      $("#copy-token").textContent = "Copy";
    });

    rows.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-revoke]");
      if (!button) return;
      const row = button.closest("tr");
      const name = row.querySelector("td").firstChild.textContent.trim();
      if (!window.confirm(`Revoke “${name}”? Devices using it stop working at once.`)) return;
      button.disabled = true;
      try {
        await api("DELETE", `/api/tokens/${encodeURIComponent(button.dataset.revoke)}`);
        row.remove();
        $("#no-tokens").hidden = rows.querySelector("tr") !== null;
      } catch (_) {
        button.disabled = false;
      }
    });
  }

  dashboard();
  tokens();
})();
