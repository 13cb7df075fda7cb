// custody's web UI in a real browser: Debian's chromium, driven by playwright-core, with
// axe-core checking every page. Started by `cargo test` (tests/e2e/browser.rs) against a
// real `custody serve --demo`; it reads where and as whom from the environment:
//   CUSTODY_URL, CUSTODY_USER, CUSTODY_PASSWORD, CUSTODY_SHOTS (a folder for screenshots).
// Exits non-zero, saying what failed, when the UI does not do what it promises.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const url = process.env.CUSTODY_URL;
const user = process.env.CUSTODY_USER;
const password = process.env.CUSTODY_PASSWORD;
const shots = process.env.CUSTODY_SHOTS ?? "browser-shots";
mkdirSync(shots, { recursive: true });

function check(cond, what) {
  if (!cond) throw new Error(`FAILED: ${what}`);
}

// No serious or critical accessibility violation on the page as it stands.
async function accessible(page, name) {
  await page.evaluate(axeSource); // evaluated by the browser's debugger, not as page script
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(
    bad.length === 0,
    `${name}: accessibility: ${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`).join("; ")}`,
  );
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox"],
});
try {
  // A tablet in landscape.
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  const blocked = [];
  // The refused sign-in answers 401 on purpose; chromium logs any 4xx page as an error.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().includes("status of 401")) blocked.push(m.text());
  });
  page.on("request", (r) => { if (!r.url().startsWith(url)) blocked.push(`external request ${r.url()}`); });

  await page.goto(`${url}/ui`);
  check(page.url().endsWith("/ui/login"), `not signed in, /ui leads to sign-in (at ${page.url()})`);
  await accessible(page, "sign-in");
  await shot(page, "01-sign-in");

  // Keyboard: the cursor starts in the first field, Tab walks the form in order, and the
  // focus is visible.
  const active = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent?.trim());
  check((await active()) === "username", `the cursor starts in User name (got ${await active()})`);
  await page.keyboard.press("Tab");
  check((await active()) === "password", "Tab goes to Password");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  check(outline !== "none", `the focused field shows it (outline ${outline})`);
  await page.keyboard.press("Tab");
  check((await active()) === "Sign in", "then to Sign in");

  // A wrong password says why, next to the form, and keeps the name typed.
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("alert");
  check((await alert.textContent()).includes("user name or password is wrong"), "a wrong password is explained");
  check((await page.getByLabel("User name").inputValue()) === user, "the name typed is kept");
  await accessible(page, "sign-in with an error");
  await shot(page, "02-sign-in-refused");

  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${url}/ui`);
  check(await page.getByRole("heading", { name: "Dashboard" }).isVisible(), "the dashboard opens");
  for (const h of ["On hand", "Open containers", "Wastes awaiting a witness", "Verification"]) {
    check(await page.getByRole("heading", { name: h }).isVisible(), `the dashboard shows ${h}`);
  }
  await accessible(page, "dashboard");
  await shot(page, "03-dashboard");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${url}/ui/login`);
  await page.goto(`${url}/ui`);
  check(page.url().endsWith("/ui/login"), "after signing out, the dashboard needs a sign-in again");

  check(blocked.length === 0, `no console errors or external requests: ${blocked.join("; ")}`);
  console.log("browser: ok");
} finally {
  await browser.close();
}
