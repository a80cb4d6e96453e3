// Browser test of the web console: playwright-core driving Debian's Chromium, headless.
// Run by tests/api/console.rs, which starts pipeline-mgmt and a worker on the real servers and
// passes everything in the environment; screenshots go to $SCREENSHOTS.
"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error("missing environment variable " + name);
  return value;
};
const URL_ = env("CONSOLE_URL");
const NAME = env("PIPELINE");
const SHOTS = env("SCREENSHOTS");
const EVENTS = 50;

function definition(regex) {
  return {
    name: NAME,
    index: NAME,
    topics: { partitions: 1, replicationFactor: 1 },
    stages: [
      { type: "parse", field: "log_message", formats: [], patterns: [{ name: "orders", regex }], onFailure: "error" },
      { type: "hash", target: "event_hash" },
    ],
  };
}

let step = 0;
async function check(title, body) {
  step += 1;
  process.stdout.write(`step ${step}: ${title}\n`);
  await body();
}

async function shot(page, file) {
  await page.screenshot({ path: path.join(SHOTS, file), fullPage: true });
}

/** Reloads until `probe()` is true. */
async function until(page, what, probe, seconds = 90) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
    await page.waitForTimeout(700);
    await page.reload();
  }
}

async function signIn(page, token) {
  await page.goto(URL_ + "/console");
  assert.match(page.url(), /\/console\/sign-in$/);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(URL_ + "/console"), page.click("#sign-in")]);
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.rmSync(path.join(SHOTS, "failure.png"), { force: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "flow-console-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  // Nothing may be fetched from anywhere but the console itself.
  const foreign = [];
  context.on("request", (request) => {
    if (!request.url().startsWith(URL_) && !request.url().startsWith("data:")) foreign.push(request.url());
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30000);
  let id;
  try {
    await check("a wrong token is refused, the editor signs in", async () => {
      await page.goto(URL_ + "/console");
      assert.match(page.url(), /\/console\/sign-in$/);
      await shot(page, "01-sign-in.png");
      await page.fill("#token", "wrong-token");
      await page.click("#sign-in");
      assert.match(await page.textContent("#sign-in-error"), /unknown token/);
      await signIn(page, env("EDITOR_TOKEN"));
      assert.equal(await page.locator("#new-pipeline").count(), 1);
    });

    await check("create a pipeline after a dry run in the editor", async () => {
      await page.click("#new-pipeline");
      await page.waitForURL(URL_ + "/console/new");
      await page.fill("#definition", JSON.stringify(definition(env("BROKEN")), null, 2));
      await page.fill("#events", JSON.stringify([{ log_message: "order 1 shipped" }, { log_message: "order 2 shipped" }]));
      await page.click("#dry-run");
      await page.waitForFunction(() => {
        const s = document.getElementById("dry-run-summary");
        return s && s.textContent === "0 documents, 0 dropped, 2 errors";
      });
      assert.match(await page.textContent("#dry-run-table"), /parse/);
      await shot(page, "02-new-pipeline-dry-run.png");
      await Promise.all([page.waitForURL(/\/console\/pipelines\/[0-9a-f-]{36}$/), page.click("#save")]);
      id = page.url().split("/").pop();
      assert.equal(await page.textContent("#desired"), "running");
    });

    await check("the pipeline is seen running", async () => {
      await until(page, "observed running", async () => (await page.textContent("#observed")) === "running");
      await shot(page, "03-pipeline-running.png");
    });

    await check("failing events land in the dead letters page with their headers", async () => {
      const body = Array.from({ length: EVENTS }, (_, i) => JSON.stringify({ log_message: `order ${i} shipped`, n: i })).join("\n");
      const response = await fetch(`${URL_}/api/v1/pipelines/${id}/events`, {
        method: "POST",
        headers: { Authorization: "Bearer " + env("INGEST_TOKEN"), "Content-Type": "application/x-ndjson" },
        body,
      });
      assert.equal(response.status, 202);
      await page.goto(`${URL_}/console/pipelines/${id}/errors`);
      await until(page, "50 dead letters", async () =>
        (await page.textContent("#letter-count")) === `${EVENTS} dead letters on this page`);
      const first = page.locator("#dead-letters tbody tr").first();
      assert.equal(await first.locator("td.stage").textContent(), "parse");
      await first.locator("td.headers summary").click();
      const headers = await first.locator("ul").textContent();
      for (const h of ["error.stage", "error.reason", "source.topic", "source.offset", "pipeline.name", "failed.at"]) {
        assert.ok(headers.includes(h), h + " in " + headers);
      }
      await shot(page, "04-dead-letters.png");
    });

    await check("the counters show them dead-lettered", async () => {
      await page.goto(`${URL_}/console/pipelines/${id}`);
      await until(page, "dead-lettered 50", async () =>
        (await page.locator("#workers td.dead-lettered").first().textContent()) === String(EVENTS));
      assert.equal(await page.locator("#workers td.indexed").first().textContent(), "0");
      assert.equal(await page.locator("#chart-rates").count(), 1);
      assert.equal(await page.locator("#chart-lag").count(), 1);
    });

    await check("the fix passes a dry run on the dead letters, then is saved", async () => {
      await page.click("#edit");
      await page.waitForURL(`${URL_}/console/pipelines/${id}/edit`);
      await page.fill("#definition", JSON.stringify(definition(env("FIXED")), null, 2));
      await page.click("#dry-run-errors");
      await page.waitForFunction((n) => {
        const s = document.getElementById("dry-run-summary");
        return s && s.textContent === `${n} documents, 0 dropped, 0 errors`;
      }, EVENTS);
      await shot(page, "05-edit-dry-run-from-errors.png");
      await Promise.all([page.waitForURL(`${URL_}/console/pipelines/${id}`), page.click("#save")]);
      assert.equal(await page.textContent("#version"), "2");
      await until(page, "the worker on version 2", async () =>
        (await page.locator("#workers td.worker-version").first().textContent()) === "2");
    });

    await check("replay the dead letters and watch the job", async () => {
      await page.goto(`${URL_}/console/pipelines/${id}/errors`);
      await page.fill("#replay-stage", "parse");
      await page.click("#replay-start");
      await page.waitForFunction(() => {
        const s = document.getElementById("job-state");
        return s && s.textContent !== "running";
      });
      assert.equal(await page.textContent("#job-state"), "succeeded");
      assert.equal(await page.textContent("#job-matched"), String(EVENTS));
      assert.equal(await page.textContent("#job-replayed"), String(EVENTS));
      await shot(page, "06-replay-job.png");
    });

    await check("the counts change: the replayed events are indexed", async () => {
      await page.goto(`${URL_}/console/pipelines/${id}`);
      await until(page, "indexed 50", async () =>
        Number(await page.locator("#workers td.indexed").first().textContent()) >= EVENTS);
      await shot(page, "07-pipeline-after-replay.png");
    });

    await check("a viewer sees no edit controls and cannot change anything", async () => {
      await Promise.all([page.waitForURL(/\/console\/sign-in$/), page.click("#sign-out")]);
      await signIn(page, env("VIEWER_TOKEN"));
      assert.equal(await page.locator("#new-pipeline").count(), 0);
      assert.equal(await page.locator(`#pipelines tr[data-name="${NAME}"]`).count(), 1);
      await shot(page, "08-viewer-pipelines.png");
      await page.goto(`${URL_}/console/pipelines/${id}`);
      for (const control of ["#edit", "#start", "#stop"]) {
        assert.equal(await page.locator(control).count(), 0, control);
      }
      await page.goto(`${URL_}/console/pipelines/${id}/errors`);
      assert.equal(await page.locator("#replay").count(), 0);
      assert.ok((await page.locator("#dead-letters tbody tr.letter").count()) > 0);
      await shot(page, "09-viewer-dead-letters.png");
      const status = await page.evaluate(async (pid) => {
        const r = await fetch(`/console/api/pipelines/${pid}/replay`, {
          method: "POST", headers: { "X-Flow-Console": "1", "Content-Type": "application/json" }, body: "{}",
        });
        return r.status;
      }, id);
      assert.equal(status, 403);
      const response = await page.goto(`${URL_}/console/new`);
      assert.equal(response.status(), 403);
    });

    await check("no request left the console's origin", async () => {
      assert.deepEqual(foreign, []);
    });
    process.stdout.write(`PIPELINE_ID=${id}\n`);
    process.stdout.write(`console browser test: ${step} steps passed, screenshots in ${SHOTS}\n`);
  } catch (err) {
    await shot(page, "failure.png").catch(() => {});
    throw err;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`console browser test failed at step ${step}: ${err.stack || err}\n`);
  process.exit(1);
});
