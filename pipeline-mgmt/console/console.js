// flow-stream console: the few things a page does in place. Every change goes through the REST
// API at /console/api/…, which the server forwards with the signed-in token.
"use strict";

async function api(method, path, body, headers) {
  const init = { method, headers: Object.assign({ "X-Flow-Console": "1" }, headers || {}) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch("/console/api/" + path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!response.ok) {
    let line = (data && data.detail) || response.statusText;
    if (data && Array.isArray(data.errors) && data.errors.length) {
      line += " (" + data.errors.map((e) => (e.field ? e.field + ": " : "") + e.message).join("; ") + ")";
    }
    throw new Error(response.status + " " + line);
  }
  return { data, response };
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function parseJson(id) {
  const text = document.getElementById(id).value;
  try { return JSON.parse(text); } catch (e) { throw new Error(id + " is not valid JSON: " + e.message); }
}

function showResults(results) {
  const pane = document.getElementById("dry-run-results");
  pane.textContent = "";
  const counts = { document: 0, dropped: 0, error: 0 };
  const table = el("table", { id: "dry-run-table" });
  table.appendChild(el("thead")).appendChild(el("tr")).append(el("th", {}, "#"), el("th", {}, "Result"), el("th", {}, "Detail"));
  const tbody = table.appendChild(el("tbody"));
  results.forEach((r, i) => {
    let kind, detail;
    if (r.document) { kind = "document"; detail = JSON.stringify(r.document); }
    else if (r.dropped) { kind = "dropped"; detail = ""; }
    else { kind = "error"; detail = r.error.stage + ": " + r.error.reason; }
    counts[kind] += 1;
    const row = tbody.appendChild(el("tr", { class: "result-" + kind }));
    row.append(el("td", {}, String(i)), el("td", { class: "outcome" }, kind), el("td", {}, detail));
  });
  pane.appendChild(el("p", { id: "dry-run-summary" },
    counts.document + " documents, " + counts.dropped + " dropped, " + counts.error + " errors"));
  pane.appendChild(table);
}

function setupEditor() {
  const editor = document.getElementById("editor");
  if (!editor) return;
  const pipeline = editor.dataset.pipeline;
  const message = document.getElementById("save-message");
  const pane = document.getElementById("dry-run-results");
  let timer = null;
  // Only the latest dry run may fill the pane: an older, slower answer is dropped.
  let latest = 0;
  async function dryRun(fromErrors) {
    clearTimeout(timer);
    const mine = ++latest;
    try {
      const definition = parseJson("definition");
      let answer;
      if (fromErrors) {
        answer = await api("POST", "pipelines/" + pipeline + "/dry-run", { definition, fromErrors: { limit: 50 } });
      } else {
        answer = await api("POST", "dry-run", { definition, events: parseJson("events") });
      }
      if (mine === latest) showResults(answer.data.results);
    } catch (e) {
      if (mine !== latest) return;
      pane.textContent = "";
      pane.appendChild(el("p", { class: "error", id: "dry-run-error" }, e.message));
    }
  }
  document.getElementById("dry-run").addEventListener("click", () => dryRun(false));
  const fromErrors = document.getElementById("dry-run-errors");
  if (fromErrors) fromErrors.addEventListener("click", () => dryRun(true));
  ["definition", "events"].forEach((id) => document.getElementById(id).addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => dryRun(false), 600);
  }));
  document.getElementById("save").addEventListener("click", async () => {
    message.textContent = "";
    try {
      const definition = parseJson("definition");
      const answer = pipeline
        ? await api("PUT", "pipelines/" + pipeline, definition, { "If-Match": '"' + editor.dataset.version + '"' })
        : await api("POST", "pipelines", definition);
      window.location.assign("/console/pipelines/" + answer.data.id);
    } catch (e) {
      message.textContent = e.message;
    }
  });
}

function setupStateButtons() {
  document.querySelectorAll("[data-state-change]").forEach((button) => {
    button.addEventListener("click", async () => {
      try {
        await api("PATCH", "pipelines/" + button.dataset.pipeline + "/state", { state: button.dataset.stateChange });
        window.location.reload();
      } catch (e) {
        document.getElementById("action-message").textContent = e.message;
      }
    });
  });
}

function showJob(job) {
  const box = document.getElementById("job");
  box.textContent = "";
  box.dataset.state = job.state;
  box.append(
    el("strong", { id: "job-state" }, job.state),
    document.createTextNode(" — matched "), el("span", { id: "job-matched" }, String(job.matched)),
    document.createTextNode(", replayed "), el("span", { id: "job-replayed" }, String(job.replayed)),
    document.createTextNode(", failed "), el("span", { id: "job-failed" }, String(job.failed)));
}

function setupReplay() {
  const form = document.getElementById("replay");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const filter = {};
    const stage = document.getElementById("replay-stage").value.trim();
    const reason = document.getElementById("replay-reason").value.trim();
    if (stage) filter.stage = stage;
    if (reason) filter.reason = reason;
    try {
      const started = await api("POST", "pipelines/" + form.dataset.pipeline + "/replay", filter);
      let job = started.data;
      showJob(job);
      const path = "pipelines/" + form.dataset.pipeline + "/replays/" + job.id;
      while (job.state === "running") {
        await new Promise((r) => setTimeout(r, 500));
        job = (await api("GET", path)).data;
        showJob(job);
      }
    } catch (e) {
      document.getElementById("job").textContent = e.message;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupEditor();
  setupStateButtons();
  setupReplay();
});
