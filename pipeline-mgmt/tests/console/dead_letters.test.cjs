// Browser test of the console's dead-letter page with long records: playwright-core driving
// Debian's Chromium, headless. Run by tests/api/console_dead_letters.rs, which starts
// pipeline-mgmt, produces the dead letters and passes everything in the environment. Prints one
// METRICS= line of JSON for the Rust side to check; screenshots go to $SCREENSHOTS.
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
const ID = env("PIPELINE_ID");
const SHOTS = env("SCREENSHOTS");

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "flow-console-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30000);
  try {
    await page.goto(URL_ + "/console");
    await page.fill("#token", env("VIEWER_TOKEN"));
    await Promise.all([page.waitForURL(URL_ + "/console"), page.click("#sign-in")]);

    await page.goto(`${URL_}/console/pipelines/${ID}/errors`);
    const size = () => page.evaluate(() => ({
      width: document.documentElement.scrollWidth,
      height: document.documentElement.scrollHeight,
    }));
    const first = await size();
    const rows = await page.locator("#dead-letters tbody tr.letter").count();
    const options = await page.locator("#stage-filter option").evaluateAll((os) => os.map((o) => o.value));
    await page.screenshot({ path: path.join(SHOTS, "dead-letters-50-long.png"), fullPage: true });

    // One value opens in full and closes again.
    const details = page.locator("#dead-letters tbody tr.letter td.value details").first();
    await details.locator("summary").click();
    const opened = await details.evaluate((d) => d.open && d.querySelector("pre").textContent.length);
    await page.screenshot({ path: path.join(SHOTS, "dead-letters-one-open.png"), fullPage: true });

    // Older, then Newer, back to the first page.
    await Promise.all([page.waitForURL(/after=/), page.click("#older")]);
    const olderRows = await page.locator("#dead-letters tbody tr.letter").count();
    await Promise.all([page.waitForURL(/\/errors$/), page.click("#newer")]);
    const backRows = await page.locator("#dead-letters tbody tr.letter").count();

    // The stage filter: a stage with no dead letters shows none.
    await page.selectOption("#stage-filter", "hash");
    await Promise.all([page.waitForURL(/stage=hash/), page.click("form.inline button")]);
    const filtered = await page.textContent("#letter-count");

    const metrics = { ...first, rows, options, opened, olderRows, backRows, filtered };
    process.stdout.write(`METRICS=${JSON.stringify(metrics)}\n`);
  } catch (err) {
    await page.screenshot({ path: path.join(SHOTS, "dead-letters-failure.png"), fullPage: true }).catch(() => {});
    throw err;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`dead-letter page browser test failed: ${err.stack || err}\n`);
  process.exit(1);
});
