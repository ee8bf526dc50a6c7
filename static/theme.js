// The light/dark/system choice, remembered in this browser. Loaded in <head> without `defer`
// so the stored theme applies before the first paint (no flash of the other one).
"use strict";

(() => {
  const KEY = "pnotify.theme";
  const root = document.documentElement;
  const apply = (theme) => {
    if (theme === "light" || theme === "dark") root.dataset.theme = theme;
    else delete root.dataset.theme;
  };
  const stored = () => { try { return localStorage.getItem(KEY) || "system"; } catch (_) { return "system"; } };
  apply(stored());

  document.addEventListener("DOMContentLoaded", () => {
    const choice = document.getElementById("theme-choice");
    if (!choice) return;
    choice.value = stored();
    choice.closest("label").hidden = false;
    choice.addEventListener("change", () => {
      try { localStorage.setItem(KEY, choice.value); } catch (_) { /* private mode: this page only */ }
      apply(choice.value);
    });
  });
})();
