// The dashboard's list: rows that update in place (an element keeps its data-id and focus
// whatever happens to it), one tab stop with a roving focus, Gmail-style keys, live updates.
"use strict";

(() => {
  const { $, $$, api, fragment, arrival, bulk } = PN;
  const list = $("#list");
  if (!list) return;
  const view = list.dataset;
  const firstPage = view.offset === "0";
  let current = null; // the row that holds the list's one tab stop
  let lastEventId = null;
  let goPressedAt = 0;
  const sticky = new Set(); // rows read or unread here: they stay even when out of the view

  const rows = () => $$(".note", list).filter((row) => !row.hidden);
  const byId = (id) => document.getElementById(`n-${id}`);
  const showEmpty = () => { $("#empty").hidden = rows().length > 0; };
  const matches = (row) =>
    (view.status === "all" ||
      (view.status === "inbox" ? row.dataset.status !== "archived" : row.dataset.status === view.status)) &&
    (!view.priority || row.dataset.priority === view.priority) &&
    (!view.source || row.dataset.source.toLowerCase() === view.source.toLowerCase());

  function controls(row, tabIndex) {
    for (const control of $$(".select, .actions button", row)) control.tabIndex = tabIndex;
  }
  function setCurrent(row, focus) {
    if (current && current !== row && current.isConnected) { current.tabIndex = -1; controls(current, -1); }
    current = row || null;
    if (!current) return;
    current.tabIndex = 0;
    controls(current, 0);
    if (focus) current.focus();
  }
  function neighbour(row) {
    const visible = rows();
    const index = visible.indexOf(row);
    return visible[index + 1] || visible[index - 1] || null;
  }
  function move(step) {
    const visible = rows();
    if (!visible.length) return;
    if (!list.contains(document.activeElement)) return setCurrent(current || visible[0], true);
    const index = current ? visible.indexOf(current) : -1;
    setCurrent(visible[Math.min(visible.length - 1, Math.max(0, index + step))] || visible[0], true);
  }

  function reveal(row) {
    $(".select", row).hidden = false;
    $(".actions", row).hidden = false;
    controls(row, row === current ? 0 : -1);
  }
  function place(row) {
    const newer = $$(".note", list).find((other) => other.dataset.created < row.dataset.created);
    list.insertBefore(row, newer || null);
    reveal(row);
    if (!current) setCurrent(row, false);
  }
  // Take the fresh fragment's content into the existing element, so focus, selection and
  // the open state stay where they were.
  function adopt(row, fresh) {
    const open = $("details", row).open;
    const hadFocus = row.contains(document.activeElement);
    row.className = fresh.className;
    Object.assign(row.dataset, fresh.dataset);
    row.setAttribute("aria-label", fresh.getAttribute("aria-label"));
    row.replaceChildren(...fresh.childNodes);
    $("details", row).open = open;
    reveal(row);
    if (hadFocus && !row.contains(document.activeElement)) row.focus();
  }
  function removeRow(row) {
    if (row === current) {
      const next = neighbour(row);
      const hadFocus = row.contains(document.activeElement);
      row.remove();
      setCurrent(next, hadFocus);
    } else {
      row.remove();
    }
    showEmpty();
  }
  function hide(hidden, on) {
    for (const row of hidden) {
      if (on && row === current) setCurrent(neighbour(row), row.contains(document.activeElement));
      row.hidden = on;
    }
    if (!on && !current) setCurrent(rows()[0], false);
    showEmpty();
  }

  // Before a change is sent: its echo from the stream may come before the answer.
  function expect(cause, ids) {
    for (const id of ids || []) {
      if (["read", "unread", "undo"].includes(cause)) sticky.add(id);
      else sticky.delete(id);
    }
  }

  // Bring a row up to date. `cause` is what happened: a row read, unread or restored here
  // stays in view even if it no longer matches the filters (reading in the Unread view does
  // not make it vanish, nor does the echo of that change from the stream); one archived here,
  // or changed elsewhere, goes when it no longer matches.
  async function refresh(id, cause, isNew = false) {
    const existing = byId(id);
    if (!existing && !(isNew && firstPage && !view.q) && cause !== "undo") return;
    const fresh = await fragment(`/fragments/notifications/${encodeURIComponent(id)}`);
    const row = byId(id);
    const keep = sticky.has(id);
    if (!fresh || (!matches(fresh) && !(keep && row))) {
      if (row && !row.hidden) removeRow(row);
    } else if (row) {
      adopt(row, fresh);
    } else if (cause !== "undo" || matches(fresh)) {
      place(fresh);
      if (isNew) arrival.highlight(fresh);
    }
    bulk.showSelection();
    showEmpty();
  }

  const refreshUnread = PN.debounced(async () => {
    arrival.showCount((await (await api("GET", "/api/notifications/?status=unread&limit=1")).json()).total);
  });
  function countSoon() {
    refreshUnread();
    bulk.countSoon();
  }

  function toggleOpen(row) {
    const details = $("details", row);
    if (!details.open && row.dataset.status === "unread") markRead(row);
    details.open = !details.open;
  }
  const markRead = (row) => bulk.act("read", [row.dataset.id], { quiet: true }).catch(() => {});
  const target = () => current && !current.hidden ? current : null;
  function single(action) {
    if (bulk.hasSelection()) return bulk.actOnSelection(action === "toggle-read" ? "read" : action).catch(() => {});
    const row = target();
    if (!row) return;
    if (action === "toggle-read") action = row.dataset.status === "unread" ? "read" : "unread";
    bulk.act(action, [row.dataset.id], { quiet: action === "read" || action === "unread" }).catch(() => {});
  }

  const KEYS = {
    j: () => move(1),
    k: () => move(-1),
    o: () => target() && toggleOpen(target()),
    Enter: () => target() && toggleOpen(target()),
    r: () => single("toggle-read"),
    e: () => single("archive"),
    "#": () => single("delete"),
    x: () => target() && bulk.toggle(target().dataset.id),
    "/": () => $("#search").focus(),
    "?": () => $("#help").showModal(),
    z: () => PN.undoLast(),
  };
  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || $("#help").open) return;
    const element = event.target;
    if (element.closest("input:not([type=checkbox]), textarea, select, [contenteditable]")) {
      if (event.key === "Escape" && element.id === "search") {
        event.preventDefault();
        element.blur();
        (target() || list).focus();
      }
      return; // never a shortcut while typing
    }
    if (event.key === "i" && Date.now() - goPressedAt < 1500) { window.location.href = "/"; return; }
    goPressedAt = event.key === "g" ? Date.now() : 0;
    if ((event.key === "Enter" || event.key === " ") && element.closest("button, a, summary")) return;
    const handler = KEYS[event.key];
    if (!handler) return;
    event.preventDefault();
    handler();
  }

  function onClick(event) {
    const row = event.target.closest(".note");
    if (!row) return;
    const button = event.target.closest("button[data-action]");
    if (button) {
      const action = button.dataset.action;
      bulk.act(action, [row.dataset.id], { quiet: action === "read" || action === "unread" }).catch(() => {});
      setCurrent(row, true);
      return;
    }
    const summary = event.target.closest("summary");
    if (summary && !$("details", row).open && row.dataset.status === "unread") markRead(row);
  }

  function connect() {
    const url = "/api/notifications/stream" + (lastEventId ? `?after=${encodeURIComponent(lastEventId)}` : "");
    const source = new EventSource(url);
    // Events are applied in order; body[data-applied] counts them (tests wait on it).
    let applying = Promise.resolve();
    const on = (kind, handle) => source.addEventListener(kind, (event) => {
      if (event.lastEventId) lastEventId = event.lastEventId;
      const data = event.data ? JSON.parse(event.data) : null;
      applying = applying.then(() => handle(data)).catch(() => {}).then(() => {
        document.body.dataset.applied = String(Number(document.body.dataset.applied || 0) + 1);
      });
      countSoon();
    });
    on("ready", () => setLive(true));
    on("notification", (data) => { arrival.arrived(data); return refresh(data.id, "remote", true); });
    on("updated", (data) => { if (data.status === "unread") arrival.arrived(data); return refresh(data.id, "remote"); });
    on("status_change", (data) => refresh(data.id, "remote"));
    on("deleted", (data) => { const row = byId(data.id); if (row) removeRow(row); });
    source.addEventListener("reset", () => window.location.reload());
    source.onerror = () => {
      setLive(false);
      // The browser retries by itself unless the server refused (CLOSED): then start again,
      // resuming from the last event seen.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    };
  }
  function setLive(live) {
    document.body.dataset.live = live ? "on" : "off";
    $("#live").dataset.state = live ? "on" : "off";
    $("#live").textContent = live ? "Live" : "Live updates off — reconnecting…";
  }

  for (const row of rows()) reveal(row);
  setCurrent(rows()[0], false);
  list.addEventListener("focusin", (event) => {
    const row = event.target.closest(".note");
    if (row && row !== current) setCurrent(row, false);
  });
  list.addEventListener("click", onClick);
  document.addEventListener("keydown", onKey);
  $("#help-open").hidden = false;
  $("#help-open").addEventListener("click", () => $("#help").showModal());
  for (const select of $$("#filters select")) select.addEventListener("change", () => $("#filters").requestSubmit());
  bulk.init({ rows, byId, refresh, hide, expect });
  arrival.wireSettings();
  arrival.showCount(Number($("#unread-count").dataset.count));
  setLive(false);
  connect();
})();
