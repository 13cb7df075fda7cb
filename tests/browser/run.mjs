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

  // The pharmacist opens a vial, gives 35 mg (the mL shown as typed), and wastes the rest
  // with a nurse witnessing at the same screen.
  const vial = process.env.CUSTODY_VIAL;
  const vial2 = process.env.CUSTODY_VIAL2;
  const witness = process.env.CUSTODY_WITNESS;
  const witnessPassword = process.env.CUSTODY_WITNESS_PASSWORD;
  await page.getByRole("link", { name: "Containers" }).click();
  await accessible(page, "containers");
  await shot(page, "04-containers");
  await page.getByRole("link", { name: vial, exact: true }).click();
  await page.getByRole("button", { name: "Open…" }).click();
  check((await page.locator(".statement").textContent()).includes(`opened container ${vial}`), "the opening states what is signed");
  await page.getByLabel(/Password of/).fill(password);
  await page.getByRole("button", { name: "Sign", exact: true }).click();
  check(await page.getByRole("heading", { name: "Container opened" }).isVisible(), "the container is opened");
  await page.getByRole("link", { name: "Continue" }).click();

  await page.getByLabel("Patient (MRN)").fill("MRN-4711");
  await page.getByLabel("Ordered by").fill("Dr. Amelia Park, MD");
  await page.getByLabel("Prescriber's DEA number").fill("AP5836727");
  await page.getByLabel("Dose (mg)").pressSequentially("35");
  check((await page.locator("#dose-ml").textContent()).includes("35 mg = 3.5 mL"), "the dose shows its volume");
  await accessible(page, "container");
  await shot(page, "05-dose-form");
  await page.getByRole("button", { name: "Review and sign…" }).first().click();
  const statement = await page.locator(".statement").textContent();
  check(statement.includes("gave 35 mg (3.5 mL)") && statement.includes("MRN-4711"), `the dose states what is signed: ${statement}`);
  check((await page.getByRole("dialog").count()) === 1, "the signature is a dialog");
  await accessible(page, "sign the dose");
  await shot(page, "06-dose-sign");
  // A wrong password writes nothing and says why.
  await page.getByLabel(/Password of/).fill("not my password");
  await page.getByRole("button", { name: "Sign", exact: true }).click();
  check((await page.getByRole("alert").textContent()).includes("password is wrong"), "a wrong signature password is explained");
  await shot(page, "07-dose-refused");
  await page.getByLabel(/Password of/).fill(password);
  await page.getByRole("button", { name: "Sign", exact: true }).click();
  check(await page.getByRole("heading", { name: "Dose recorded" }).isVisible(), "the dose is recorded");
  await accessible(page, "dose recorded");
  await shot(page, "08-dose-recorded");
  await page.getByRole("link", { name: "Continue" }).click();

  await page.getByLabel("Reason").fill("remainder of single-patient vial");
  await page.getByLabel(/^Witness/).fill(witness);
  await page.getByRole("button", { name: "Review and sign…" }).nth(1).click();
  const statements = await page.locator(".statement").allTextContents();
  check(statements.length === 2 && statements[1].includes("witnessed the waste of 165 mg (16.5 mL)"), `the witness reads what they sign: ${statements}`);
  await accessible(page, "sign the waste");
  await shot(page, "09-waste-sign");
  await page.locator("#password").fill(password);
  await page.locator("#witness_password").fill(witnessPassword);
  await page.getByRole("button", { name: "Sign", exact: true }).click();
  check(await page.getByRole("heading", { name: "Waste recorded" }).isVisible(), "the waste is recorded with its witness");
  await shot(page, "10-waste-recorded");

  // Another vial's waste goes to the queue, and the nurse witnesses it from there.
  await page.goto(`${url}/ui/containers/${vial2}`);
  await page.getByRole("button", { name: "Open…" }).click();
  await page.getByLabel(/Password of/).fill(password);
  await page.getByRole("button", { name: "Sign", exact: true }).click();
  await page.goto(`${url}/ui/containers/${vial2}`);
  await page.getByLabel("Reason").fill("drawn up, not given");
  await page.getByRole("button", { name: "Review and sign…" }).nth(1).click();
  await page.getByLabel(/Password of/).fill(password);
  await page.getByRole("button", { name: "Sign", exact: true }).click();
  check(await page.getByRole("heading", { name: "Waste sent to the awaiting-witness queue" }).isVisible(), "the waste waits for a witness");
  await shot(page, "11-waste-queued");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${url}/ui/login`);
  await page.getByLabel("User name").fill(witness);
  await page.getByLabel("Password").fill(witnessPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${url}/ui`);
  await page.getByRole("link", { name: "Awaiting a witness" }).click();
  await accessible(page, "queue");
  await shot(page, "12-queue");
  await page.getByRole("button", { name: `Witness the waste from ${vial2}` }).click();
  await page.getByLabel(/Password of/).fill(witnessPassword);
  await page.getByRole("button", { name: "Sign", exact: true }).click();
  check(await page.getByRole("heading", { name: "Waste witnessed" }).isVisible(), "the nurse witnessed it from the queue");
  await page.getByRole("link", { name: "Continue" }).click();
  check((await page.locator("main").textContent()).includes("None: every waste has its witness"), "the queue is empty");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${url}/ui/login`);
  await page.goto(`${url}/ui`);
  check(page.url().endsWith("/ui/login"), "after signing out, the dashboard needs a sign-in again");

  check(blocked.length === 0, `no console errors or external requests: ${blocked.join("; ")}`);
  console.log("browser: ok");
} finally {
  await browser.close();
}
