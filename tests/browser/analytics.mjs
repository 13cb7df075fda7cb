// The analytics page in Debian's chromium: signed in as an auditor on the demo clinic, the
// page's charts are there (server-drawn SVG, no script), each labelled by its title and
// described by its sentence, with its numbers in a table; axe finds nothing serious. Started
// by tests/e2e/browser.rs. Reads CUSTODY_URL, CUSTODY_USER, CUSTODY_PASSWORD, CUSTODY_FROM,
// CUSTODY_TO, CUSTODY_CONTAINER, CUSTODY_SHOTS. Prints `chart ID: NAME` per chart and
// `analytics: ok`.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const env = process.env;
const url = env.CUSTODY_URL;
const shots = env.CUSTODY_SHOTS ?? "analytics-shots";
mkdirSync(shots, { recursive: true });

function check(cond, what) {
  if (!cond) throw new Error(`FAILED: ${what}`);
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.setDefaultTimeout(60000);
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(url)) external.push(r.url()); });
  await page.goto(`${url}/ui/login`);
  await page.getByLabel("User name").fill(env.CUSTODY_USER);
  await page.getByLabel("Password").fill(env.CUSTODY_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${url}/ui`);
  await page.getByRole("link", { name: "Analytics" }).first().click();
  await page.getByRole("heading", { name: "Diversion analytics", exact: true }).waitFor();
  await page.getByLabel("First day").fill(env.CUSTODY_FROM);
  await page.getByLabel("Last day").fill(env.CUSTODY_TO);
  await page.getByLabel("Container timeline").fill(env.CUSTODY_CONTAINER);
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForURL(/from=/);

  const charts = await page.locator("svg.chart").evaluateAll((svgs) => svgs.map((s) => {
    const ids = (s.getAttribute("aria-labelledby") ?? "").split(/\s+/).filter(Boolean);
    const named = ids.map((id) => document.getElementById(id)?.textContent ?? "");
    const box = s.getBoundingClientRect();
    return {
      id: s.id,
      role: s.getAttribute("role"),
      title: s.querySelector("title")?.textContent ?? "",
      desc: s.querySelector("desc")?.textContent ?? "",
      named,
      marks: s.querySelectorAll("rect, polyline, circle").length,
      visible: box.width > 100 && box.height > 100,
      table: s.closest("figure")?.querySelectorAll("details table tbody tr").length ?? 0,
    };
  }));
  for (const want of ["chart-waste-ratio-nurse", "chart-doses-by-hour", "chart-on-hand-", `chart-timeline-${env.CUSTODY_CONTAINER}`]) {
    check(charts.some((c) => c.id.startsWith(want)), `a chart ${want} is on the page (${charts.map((c) => c.id).join(", ")})`);
  }
  for (const c of charts) {
    check(c.role === "img", `${c.id}: role img`);
    check(c.title.length > 5 && c.named[0] === c.title, `${c.id}: labelled by its title`);
    check(c.desc.length > 20 && c.named[1] === c.desc, `${c.id}: described by its sentence`);
    check(c.marks > 3, `${c.id}: draws something (${c.marks} marks)`);
    check(c.visible, `${c.id}: visible`);
    check(c.table > 0, `${c.id}: its numbers in a table`);
    console.log(`chart ${c.id}: ${c.title} — ${c.desc}`);
  }
  // The accessible name chromium computes is the title.
  const name = await page.getByRole("img", { name: /Doses by hour of day/ }).count();
  check(name === 1, "the doses chart is found by its accessible name");
  const tiers = await page.locator("#tiers tbody tr[data-tier=review]").evaluateAll((rows) => rows.map((r) => r.dataset.user));
  check(tiers.length === 1, `one person at review: ${tiers.join(", ")}`);
  console.log(`review ${tiers.join(",")}`);

  await page.evaluate(axeSource);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `accessibility: ${bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`).join("; ")}`);
  await page.screenshot({ path: `${shots}/analytics.png`, fullPage: true });
  check(external.length === 0, `no request leaves the server: ${external.join(", ")}`);
  console.log("analytics: ok");
} catch (e) {
  console.error(e.message);
  process.exitCode = 1;
} finally {
  await browser.close();
}
