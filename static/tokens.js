// The tokens page: create (shown once, with its QR code, a ready curl command and a button
// that sends a test notification with it), and revoke.
"use strict";

(() => {
  const { $, api, fragment } = PN;
  const form = $("#token-form");
  if (!form) return;
  const rows = $("#token-rows");
  const panel = $("#new-token");
  const error = $("#token-error");
  const serverUrl = panel.dataset.serverUrl.replace(/\/+$/, "");
  for (const button of rows.querySelectorAll("[data-revoke]")) button.hidden = false;

  const curlCommand = (token) =>
    `curl -H "Authorization: Bearer ${token}" \\\n` +
    `  -H "Content-Type: application/json" \\\n` +
    `  -d '{"title": "Hello from curl", "priority": "high"}' \\\n` +
    `  ${serverUrl}/api/notifications/`;

  function isLoopback(url) {
    try {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
      return host === "localhost" || host.endsWith(".localhost") || host === "::1" || host.startsWith("127.");
    } catch (_) { return false; }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const data = new FormData(form);
    const body = { name: data.get("name"), device_type: data.get("device_type"), scope: data.get("scope") };
    if (data.get("expires_in_days")) body.expires_in_days = Number(data.get("expires_in_days"));
    try {
      const created = await (await api("POST", "/api/tokens/", body)).json();
      $("#new-token-value").textContent = created.token;
      $("#new-token-curl").textContent = curlCommand(created.token);
      $("#new-token-qr").src = created.qr_url;
      $("#loopback-warning").hidden = !isLoopback(serverUrl);
      $("#test-result").textContent = "";
      panel.hidden = false;
      panel.scrollIntoView({ block: "nearest" });
      const row = await fragment(`/fragments/tokens/${encodeURIComponent(created.id)}`);
      if (row) { row.querySelector("[data-revoke]").hidden = false; rows.prepend(row); }
      $("#no-tokens").hidden = true;
      form.reset();
    } catch (problem) {
      error.textContent = problem.message;
      error.hidden = false;
    }
  });

  async function copy(button, text, node) {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (_) {
      window.getSelection().selectAllChildren(node);
      button.textContent = "Press Ctrl+C";
    }
  }
  $("#copy-token").addEventListener("click", (event) => copy(event.target, $("#new-token-value").textContent, $("#new-token-value")));
  $("#copy-curl").addEventListener("click", (event) => copy(event.target, $("#new-token-curl").textContent, $("#new-token-curl")));

  $("#send-test").addEventListener("click", async (event) => {
    const result = $("#test-result");
    event.target.disabled = true;
    try {
      const token = $("#new-token-value").textContent;
      const body = { title: "Test notification", message: "Sent from the Tokens page: this token works.", source: "priority-notify" };
      await api("POST", "/api/notifications/", body, { Authorization: `Bearer ${token}` });
      result.textContent = "Sent: it is in your inbox.";
    } catch (problem) {
      result.textContent = `Not sent: ${problem.message}`;
    } finally {
      event.target.disabled = false;
    }
  });

  $("#new-token-done").addEventListener("click", () => {
    panel.hidden = true;
    for (const id of ["#new-token-value", "#new-token-curl", "#test-result"]) $(id).textContent = "";
    $("#new-token-qr").removeAttribute("src");
    $("#copy-token").textContent = "Copy";
    $("#copy-curl").textContent = "Copy command";
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
})();
