// What a new notification does besides appearing: the unread count in the title and the
// favicon, a brief highlight of the new row, an optional sound for critical ones (off by
// default, remembered), and optional desktop alerts for high and critical ones.
"use strict";

PN.arrival = (() => {
  const { $, setting } = PN;
  let baseIcon = null;
  let audio = null;

  function faviconFor(count) {
    const label = count > 99 ? "99+" : String(count);
    const size = label.length > 2 ? 26 : 30;
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">' +
      '<rect x="4" y="4" width="56" height="56" rx="14" fill="#2457c5"/>' +
      '<path d="M32 14c-8 0-13 6-13 14v9l-5 7h36l-5-7v-9c0-8-5-14-13-14zm-6 34a6 6 0 0 0 12 0z" fill="#fff"/>' +
      '<circle cx="44" cy="20" r="20" fill="#d93025"/>' +
      `<text x="44" y="${20 + size / 3}" font-family="Arial,sans-serif" font-size="${size}" font-weight="700" ` +
      `text-anchor="middle" fill="#fff">${label}</text></svg>`;
    return "data:image/svg+xml," + encodeURIComponent(svg);
  }

  function showCount(unread) {
    const icon = $('link[rel="icon"]');
    if (baseIcon === null) baseIcon = icon.href;
    icon.href = unread > 0 ? faviconFor(unread) : baseIcon;
    icon.dataset.count = String(unread);
    const badge = $("#unread-count");
    badge.dataset.count = String(unread);
    badge.textContent = `${unread} unread`;
    badge.setAttribute("aria-label", `${unread} unread`);
    document.title = (unread ? `(${unread}) ` : "") + "Notifications · priority-notify";
  }

  function highlight(row) {
    row.classList.add("arrived");
    row.addEventListener("animationend", () => row.classList.remove("arrived"), { once: true });
  }

  function chime() {
    // A short two-tone beep made on the spot: no sound file to fetch.
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [offset, pitch] of [[0, 880], [0.18, 660]]) {
      const tone = audio.createOscillator();
      const volume = audio.createGain();
      tone.frequency.value = pitch;
      volume.gain.setValueAtTime(0.2, now + offset);
      volume.gain.exponentialRampToValueAtTime(0.001, now + offset + 0.16);
      tone.connect(volume).connect(audio.destination);
      tone.start(now + offset);
      tone.stop(now + offset + 0.17);
    }
    document.body.dataset.chimes = String(Number(document.body.dataset.chimes || 0) + 1);
  }

  function desktopAlert(data) {
    if (!$("#desktop-alerts").checked || !("Notification" in window) || Notification.permission !== "granted") return;
    if ((data.priority !== "high" && data.priority !== "critical") || !document.hidden) return;
    new Notification(`${data.priority === "critical" ? "‼ " : ""}${data.title}`, { body: data.message || "", tag: data.id });
  }

  function arrived(data) {
    if (data.priority === "critical" && $("#critical-sound").checked) chime();
    desktopAlert(data);
  }

  function wireSettings() {
    const alerts = $("#desktop-alerts");
    alerts.checked = setting.get("desktopAlerts") === "on";
    alerts.addEventListener("change", async () => {
      if (alerts.checked && "Notification" in window && Notification.permission !== "granted") {
        alerts.checked = (await Notification.requestPermission()) === "granted";
      }
      setting.set("desktopAlerts", alerts.checked ? "on" : "off");
    });
    const sound = $("#critical-sound");
    sound.checked = setting.get("criticalSound") === "on";
    sound.addEventListener("change", () => {
      setting.set("criticalSound", sound.checked ? "on" : "off");
      if (sound.checked) chime(); // a sample, and a user gesture lets the page play sound
    });
  }

  return { showCount, highlight, arrived, wireSettings };
})();
