// Acting on many: the selection (checkboxes, `x`, "select all N matching"), the bulk bar,
// "Mark all read" for the current view, and undo for every one of them. Every action goes
// through POST /api/notifications/bulk (or read-all), whose answer lists each changed row's
// status before, which is what undo sends back. Deletes are held for a few seconds instead:
// undo just shows the rows again; nothing was sent.
"use strict";

PN.bulk = (() => {
  const { $, $$, api, undoable } = PN;
  const selected = new Set();
  let allMatching = false;
  let inbox = null; // the list's handle, from inbox.js
  const PAST = { read: "marked read", unread: "marked unread", archive: "archived", delete: "deleted" };
  const BACK = { unread: "unread", read: "read", archived: "archive" };

  const filterQuery = () => {
    const { status, priority, source, q } = $("#list").dataset;
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries({ status, priority, source, q })) if (value) params.set(name, value);
    return params.toString();
  };
  const plural = (n) => `${n} notification${n === 1 ? "" : "s"}`;

  async function send(action, ids) {
    const url = "/api/notifications/bulk" + (ids ? "" : `?${filterQuery()}`);
    return (await api("POST", url, ids ? { action, ids } : { action })).json();
  }

  // `shown`: the ids that were rows on this page when the action ran; only they come back
  // into view (an undo of "all 10,000 matching" fetches no 10,000 fragments).
  async function restore(changed, shown) {
    const groups = {};
    for (const { id, previous } of changed) (groups[BACK[previous]] ||= []).push(id);
    for (const [action, ids] of Object.entries(groups)) {
      inbox.expect("undo", ids);
      for (let start = 0; start < ids.length; start += 1000) await send(action, ids.slice(start, start + 1000));
    }
    await Promise.all(shown.map((id) => inbox.refresh(id, "undo")));
    countSoon();
  }
  const onPage = (changed) => changed.map(({ id }) => id).filter((id) => inbox.byId(id));

  function remove(ids) {
    const rows = ids ? ids.map(inbox.byId).filter(Boolean) : inbox.rows();
    inbox.hide(rows, true);
    const count = ids ? ids.length : Number($("#list").dataset.total);
    undoable(`${plural(count)} deleted.`, {
      undo: () => inbox.hide(rows, false),
      commit: () => send("delete", ids).then(() => rows.forEach((row) => row.remove()), () => inbox.hide(rows, false)),
    });
  }

  // Act on the given ids (null: everything matching the view) and offer to undo it.
  async function act(action, ids, { quiet = false } = {}) {
    if (action === "delete") return remove(ids);
    inbox.expect(action, ids);
    const answer = await send(action, ids);
    const shown = onPage(answer.changed);
    await Promise.all(shown.map((id) => inbox.refresh(id, action)));
    if (answer.updated && !quiet) undoable(`${plural(answer.updated)} ${PAST[action]}.`, { undo: () => restore(answer.changed, shown) });
    countSoon();
  }

  async function markAllRead() {
    const button = $("#mark-all-read");
    button.disabled = true;
    try {
      const answer = await (await api("POST", `/api/notifications/read-all?${filterQuery()}`)).json();
      const shown = onPage(answer.changed);
      await Promise.all(shown.map((id) => inbox.refresh(id, "read")));
      undoable(`${plural(answer.updated)} marked read.`, { undo: () => restore(answer.changed, shown) });
    } finally {
      countSoon();
    }
  }

  // "Mark all read" says how many it will change: the unread ones matching this view.
  async function refreshViewCount() {
    const { status } = $("#list").dataset;
    let count = 0;
    if (["inbox", "unread", "all"].includes(status)) {
      const params = new URLSearchParams(filterQuery());
      params.set("status", "unread");
      params.set("limit", "1");
      count = (await (await api("GET", `/api/notifications/?${params}`)).json()).total;
    }
    showViewCount(count);
  }
  function showViewCount(count) {
    const button = $("#mark-all-read");
    button.dataset.count = String(count);
    button.textContent = count ? `Mark ${count} read` : "All read";
    button.title = count ? `Mark the ${plural(count)} unread in this view read` : "Nothing unread in this view";
    button.disabled = count === 0;
  }
  const countSoon = PN.debounced(refreshViewCount);

  function showSelection() {
    const rows = inbox.rows();
    for (const row of rows) {
      const on = selected.has(row.dataset.id);
      row.classList.toggle("selected", on);
      $(".select", row).checked = on;
    }
    const total = Number($("#list").dataset.total);
    const pageAll = rows.length > 0 && rows.every((row) => selected.has(row.dataset.id));
    $("#select-page").checked = pageAll;
    $("#select-page").indeterminate = selected.size > 0 && !pageAll;
    $("#selection").hidden = selected.size === 0;
    $("#selection-text").textContent = allMatching ? `All ${total} matching selected` : `${selected.size} selected`;
    const more = $("#select-matching");
    more.hidden = !pageAll || allMatching || total <= rows.length;
    more.textContent = `Select all ${total} matching`;
  }

  function toggle(id, on = !selected.has(id)) {
    allMatching = false;
    if (on) selected.add(id); else selected.delete(id);
    showSelection();
  }
  function clear() {
    selected.clear();
    allMatching = false;
    showSelection();
  }
  const hasSelection = () => selected.size > 0;
  // `r`, `e`, `#` and the bulk buttons act on the selection when there is one.
  function actOnSelection(action) {
    const ids = allMatching ? null : [...selected];
    clear();
    return act(action, ids);
  }

  function init(handle) {
    inbox = handle;
    $("#bulk").hidden = false;
    showViewCount(Number($("#mark-all-read").dataset.count));
    $("#mark-all-read").addEventListener("click", () => markAllRead().catch(() => {}));
    $("#select-page").addEventListener("change", (event) => {
      allMatching = false;
      for (const row of inbox.rows()) if (event.target.checked) selected.add(row.dataset.id); else selected.delete(row.dataset.id);
      showSelection();
    });
    $("#select-matching").addEventListener("click", () => { allMatching = true; showSelection(); });
    for (const button of $$("[data-bulk]")) {
      button.addEventListener("click", () => actOnSelection(button.dataset.bulk).catch(() => {}));
    }
    $("#list").addEventListener("change", (event) => {
      if (event.target.matches(".select")) toggle(event.target.closest(".note").dataset.id, event.target.checked);
    });
  }

  return { init, act, toggle, clear, hasSelection, actOnSelection, countSoon, showSelection };
})();
