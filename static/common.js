// priority-notify: what every page's scripts share (window.PN). No framework and no inline
// script (the Content-Security-Policy allows only these files). Markup always comes from the
// server (/fragments/…), so there is one renderer and every value in it was escaped there.
"use strict";

window.PN = (() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  async function api(method, url, body, headers = {}) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
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
    for (const time of $$("time[datetime]")) {
      if (Date.parse(time.dateTime) <= Date.now()) time.textContent = relativeTime(time.dateTime);
    }
  }

  // `run` once, `ms` after the last of a burst of calls (a burst of live events → one fetch).
  function debounced(run, ms = 150) {
    let timer = null;
    return () => {
      clearTimeout(timer);
      timer = setTimeout(() => Promise.resolve().then(run).catch(() => {}), ms);
    };
  }

  const setting = {
    get: (name) => { try { return localStorage.getItem(`pnotify.${name}`); } catch (_) { return null; } },
    set: (name, value) => { try { localStorage.setItem(`pnotify.${name}`, value); } catch (_) { /* private mode */ } },
  };

  // One toast at a time: a message and, for a few seconds, a way to undo. A new toast first
  // settles the previous one (its commit runs), so nothing is left half-done.
  let pending = null;
  // Ends the toast, running its `commit` or its `undo` (whichever `outcome` names).
  function end(outcome) {
    if (!pending) return;
    const ended = pending;
    clearTimeout(ended.timer);
    pending = null;
    $("#toast").hidden = true;
    if (ended[outcome]) ended[outcome]();
  }
  const settle = () => end("commit");
  function undoable(text, { undo, commit, seconds = 6 }) {
    settle();
    $("#toast-text").textContent = text;
    $("#toast-undo").hidden = !undo;
    $("#toast").hidden = false;
    pending = { undo, commit, timer: setTimeout(settle, seconds * 1000) };
  }
  const undoLast = () => end("undo");
  document.addEventListener("DOMContentLoaded", () => {
    const button = $("#toast-undo");
    if (button) button.addEventListener("click", undoLast);
    window.addEventListener("pagehide", settle);
    setInterval(refreshTimes, 30000);
  });

  return { $, $$, api, debounced, fragment, relativeTime, setting, undoable, settle, undoLast };
})();
