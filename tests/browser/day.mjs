// The nurse's day on the demo clinic, in Debian's chromium: a ketamine dose with the rest
// wasted before a witness, a Spravato session, and a dose worked out by weight — each from
// the dashboard, with every click, typed field and password counted against the targets the
// issue set. Started by tests/e2e/browser.rs against `custody serve` on a copy of the demo
// clinic (time zone America/Chicago). It reads from the environment:
//   CUSTODY_URL; CUSTODY_NURSE, CUSTODY_NURSE_PASSWORD; CUSTODY_WITNESS,
//   CUSTODY_WITNESS_PASSWORD; CUSTODY_PHARMACIST, CUSTODY_PHARMACIST_PASSWORD; CUSTODY_SHOTS
//   (a folder for screenshots).
// It prints one `task …` line per task and `day: ok`, and exits non-zero saying what failed.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const url = process.env.CUSTODY_URL;
const nurse = { user: process.env.CUSTODY_NURSE, password: process.env.CUSTODY_NURSE_PASSWORD };
const witness = { user: process.env.CUSTODY_WITNESS, password: process.env.CUSTODY_WITNESS_PASSWORD };
const pharmacist = { user: process.env.CUSTODY_PHARMACIST, password: process.env.CUSTODY_PHARMACIST_PASSWORD };
const shots = process.env.CUSTODY_SHOTS ?? "day-shots";
mkdirSync(shots, { recursive: true });

const KETAMINE = "42023-0113-10";
const SPRAVATO = "50458-0028-02";

function check(cond, what) {
  if (!cond) throw new Error(`FAILED: ${what}`);
}

async function accessible(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `${name}: accessibility: ${bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`).join("; ")}`);
}

// What a person does, counted: a click, a field typed or chosen, a password typed.
let tally;
const begin = () => { tally = { clicks: 0, fields: 0, passwords: 0 }; };
const click = async (locator) => { tally.clicks += 1; await locator.click(); };
const type = async (locator, value) => { tally.fields += 1; await locator.fill(value); };
const choose = async (locator, value) => { tally.fields += 1; await locator.selectOption(value); };
const sign = async (locator, value) => { tally.passwords += 1; await locator.fill(value); };
function report(task, targets) {
  const t = tally;
  console.log(`task ${task}: ${t.clicks} clicks, ${t.fields} fields, ${t.passwords} passwords (target ≤ ${targets.clicks} clicks, ≤ ${targets.fields} fields, ${targets.passwords} passwords)`);
  check(t.clicks <= targets.clicks, `${task}: ${t.clicks} clicks > ${targets.clicks}`);
  check(t.fields <= targets.fields, `${task}: ${t.fields} fields > ${targets.fields}`);
  check(t.passwords === targets.passwords, `${task}: ${t.passwords} passwords, not ${targets.passwords}`);
}

let current = null;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
try {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  // A debug build on a loaded machine can take a while to answer a review of six entries.
  page.setDefaultTimeout(60000);
  current = page;
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of (401|403|409|422)/.test(m.text())) errors.push(m.text());
  });
  page.on("request", (r) => { if (!r.url().startsWith(url)) errors.push(`external request ${r.url()}`); });
  const main = () => page.locator("main").textContent();
  const dialog = page.locator("dialog.sign");
  const modal = () => dialog.evaluate((d) => d.open && d.matches(":modal"));
  const recorded = (title) => page.getByRole("heading", { name: title, exact: true }).waitFor({ timeout: 15000 })
    .catch(() => { throw new Error(`FAILED: "${title}" was not shown`); });

  await page.goto(`${url}/ui/login`);
  await page.getByLabel("User name").fill(nurse.user);
  await page.getByLabel("Password").fill(nurse.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${url}/ui`);

  // ---- 35 mg of ketamine, the rest wasted before a witness at the screen ----
  begin();
  await click(page.getByRole("link", { name: "Give a dose" }));
  await page.getByRole("heading", { name: "Give a dose", exact: true }).waitFor();
  await accessible(page, "the dose form");
  await type(page.getByLabel("Patient (MRN or name)"), "MRN-100001");
  await choose(page.getByLabel("Product"), KETAMINE);
  await type(page.getByLabel("Dose (mg)", { exact: true }), "35");
  check((await page.locator("#dose_mg-hint").textContent()).includes("35 mg = 3.5 mL"), "the dose shows its volume as typed");
  await click(page.getByLabel(/Waste what is left/));
  await type(page.getByLabel("Witness (user name)"), witness.user);
  await click(page.getByRole("button", { name: "Review and sign…" }));
  await dialog.waitFor();
  check(await modal(), "the signature is a modal dialog");
  const statements = await dialog.locator(".statement").allTextContents();
  check(statements.length === 2, `two people sign: ${statements}`);
  const [mine, theirs] = statements;
  for (const part of ["gave 35 mg (3.5 mL)", "Ketamine HCl injection 10 mg/mL", "to patient MRN-100001 (Jordan Lee", "as ordered by", "remainder of single-patient vial"]) {
    check(mine.includes(part), `the nurse's statement names "${part}": ${mine}`);
  }
  // custody proposes an open vial first (the demo keeps one open), else it opens a sealed one:
  // either way the statement names the container and what is left after the dose, exactly.
  const rest = mine.match(/wasted the rest, (\d+(?:\.\d+)? mg \(\d+(?:\.\d+)? mL\))/);
  check(rest !== null, `the nurse's statement names the rest it wastes: ${mine}`);
  check(/(opened|from container) C\d+-\d+/.test(mine), `the nurse's statement names the vial: ${mine}`);
  for (const part of [`witnessed the waste of ${rest[1]}`, "Ketamine HCl injection 10 mg/mL", "patient MRN-100001", "remainder of single-patient vial"]) {
    check(theirs.includes(part), `the witness's statement names "${part}": ${theirs}`);
  }
  check((await page.locator("#prescriber").inputValue()).length > 0, "the patient's last prescriber is offered again");
  // The focus stays in the dialog.
  for (let i = 0; i < 6; i += 1) await page.keyboard.press("Tab");
  check(await dialog.evaluate((d) => d.contains(document.activeElement)), "Tab keeps the focus inside the dialog");
  await accessible(page, "the dose dialog");
  await page.screenshot({ path: `${shots}/dose-sign.png`, fullPage: true });
  await sign(dialog.locator("#password"), nurse.password);
  await sign(dialog.locator("#witness_password"), witness.password);
  await click(dialog.getByRole("button", { name: "Sign", exact: true }));
  await recorded("Dose recorded, the rest wasted");
  const seqs = (await main()).match(/Recorded as entries ([\d, ]+) of the ledger/)?.[1];
  check(seqs !== undefined, "the page names the entries");
  console.log(`entries ${seqs.replace(/\s+/g, "")}`);
  await page.screenshot({ path: `${shots}/dose-recorded.png`, fullPage: true });
  report("ketamine 35 mg + waste of the rest with a witness at the screen", { clicks: 5, fields: 6, passwords: 2 });

  // ---- Spravato 84 mg: three devices of one lot, opened and given, one password ----
  await page.goto(`${url}/ui`);
  begin();
  await click(page.getByRole("link", { name: "Give a dose" }));
  await type(page.getByLabel("Patient (MRN or name)"), "MRN-100011");
  await choose(page.getByLabel("Product"), SPRAVATO);
  await type(page.getByLabel("Dose (mg)", { exact: true }), "84");
  await click(page.getByRole("button", { name: "Review and sign…" }));
  await dialog.waitFor();
  const spravato = await dialog.locator(".statement").textContent();
  check(spravato.includes("gave 84 mg (3 units)") && spravato.includes("intranasal"), `the Spravato statement: ${spravato}`);
  check((spravato.match(/C\d+-\d+/g) ?? []).length >= 3, `three devices are named: ${spravato}`);
  check(!spravato.includes("beyond use"), `a single-use device gets no beyond-use date: ${spravato}`);
  await sign(dialog.locator("#password"), nurse.password);
  await click(dialog.getByRole("button", { name: "Sign", exact: true }));
  await recorded("Dose recorded");
  report("Spravato 84 mg for a registered patient", { clicks: 4, fields: 3, passwords: 1 });

  // ---- a dose by weight: 0.5 mg/kg for 70.4 kg, exactly 35.2 mg = 3.52 mL ----
  await page.goto(`${url}/ui/dose`);
  // Leaving the patient's field asks for their last prescriber; the answer fills the form
  // above "Work it out by weight". Wait for it before clicking there: a click whose target
  // moves between aim and press lands on something else.
  const summaryTop = () => page.locator("details.by-weight summary").evaluate((e) => e.getBoundingClientRect().top);
  const before = await summaryTop();
  await page.getByLabel("Patient (MRN or name)").fill("Avery Brooks");
  await page.getByLabel("Patient (MRN or name)").press("Tab");
  await page.getByLabel("Product").selectOption(KETAMINE);
  await page.waitForFunction(() => document.querySelector("#patient-hint")?.textContent.startsWith("Last ordered by"));
  const deaHint = await page.locator("#prescriber_dea-hint").textContent();
  check(deaHint === "Looks right.", `the offered DEA number is checked as filled: ${deaHint}`);
  const after = await summaryTop();
  check(after === before, `the offer moves nothing below it (the by-weight line from ${before} to ${after} px)`);
  await page.getByText("Work it out by weight (mg/kg)").click();
  check(await page.locator("details.by-weight").evaluate((d) => d.open), "the by-weight part opens");
  await page.getByLabel("Dose (mg/kg)").fill("0.5");
  await page.getByLabel("Weight (kg)").fill("70.4");
  const live = await page.locator("#by-weight").textContent();
  check(live.includes("0.5 mg/kg × 70.4 kg = 35.2 mg = 3.52 mL, exact"), `the arithmetic shows as typed: ${live}`);
  for (const width of [390, 768, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    check(scroll <= inner, `the dose form at ${width} px: no sideways scroll (${scroll} px wide)`);
    await accessible(page, `the dose form at ${width} px`);
    await page.screenshot({ path: `${shots}/session-${width}.png`, fullPage: true });
  }
  await page.setViewportSize({ width: 1024, height: 768 });
  await page.getByRole("button", { name: "Review and sign…" }).click();
  await dialog.waitFor();
  const weighed = await dialog.locator(".statement").textContent();
  check(weighed.includes("gave 35.2 mg (3.52 mL) (0.5 mg/kg × 70.4 kg = 35.2 mg = 3.52 mL, exact)"), `the statement states the arithmetic: ${weighed}`);
  check(weighed.includes("MRN-100002 (Avery Brooks"), `a patient found by name: ${weighed}`);
  check((await page.locator("#dose_mg-hint").textContent()).includes("35.2 mg = 3.52 mL, exact"), "Review shows the result beside the dose");
  // Esc cancels: the dialog closes, the reviewed form stays as typed. The page shows the
  // dialog open before its script makes it modal, and only a modal dialog takes Esc: wait
  // for that, or a busy machine presses Esc on a dialog that cannot take it yet.
  await page.waitForFunction(() => document.querySelector("dialog.sign")?.matches(":modal"));
  await page.keyboard.press("Escape");
  check(!(await dialog.evaluate((d) => d.open)), "Esc closes the dialog");
  check((await page.getByLabel("Weight (kg)").inputValue()) === "70.4", "the form stays as typed");
  await page.getByRole("button", { name: "Review and sign…" }).click();
  await dialog.waitFor();
  for (const width of [390, 768, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: `${shots}/session-sign-${width}.png`, fullPage: true });
  }
  await page.setViewportSize({ width: 1024, height: 768 });
  await dialog.locator("#password").fill(nurse.password);
  await dialog.getByRole("button", { name: "Sign", exact: true }).click();
  await recorded("Dose recorded");
  console.log("task dose by weight (0.5 mg/kg, 70.4 kg): shows 35.2 mg = 3.52 mL, exact");

  // ---- refused at Review, beside the field, with no password asked ----
  const noPassword = async () => (await page.locator("input[type=password]").count()) === 0;
  const refusedBeside = async (field, what) => {
    await page.locator(`#${field}-err`).filter({ hasText: /\S/ }).waitFor({ timeout: 10000 })
      .catch(() => { throw new Error(`FAILED: ${what} is refused beside ${field}`); });
    check(await noPassword(), `${what}: no password is asked`);
    return page.locator(`#${field}-err`).textContent();
  };
  // The nurse as her own witness.
  await page.goto(`${url}/ui/dose`);
  await page.getByLabel("Patient (MRN or name)").fill("MRN-100003");
  await page.getByLabel("Product").selectOption(KETAMINE);
  await page.getByLabel("Dose (mg)", { exact: true }).fill("35");
  await page.getByLabel(/Waste what is left/).check();
  await page.getByLabel("Witness (user name)").fill(nurse.user);
  await page.getByRole("button", { name: "Review and sign…" }).click();
  await refusedBeside("witness", "the nurse as her own witness");
  await accessible(page, "a refusal at Review");
  // 84 mg from one 28 mg device, on the device's own page once it is open.
  const device = await page.locator(`#container option[data-ndc="${SPRAVATO}"]`).filter({ hasText: "sealed" }).first().getAttribute("value");
  await page.goto(`${url}/ui/containers/${device}`);
  await page.getByRole("button", { name: "Open…" }).click();
  await dialog.locator("#password").fill(nurse.password);
  await dialog.getByRole("button", { name: "Sign", exact: true }).click();
  await recorded("Container opened");
  await page.goto(`${url}/ui/containers/${device}`);
  await page.getByLabel("Patient (MRN)").fill("MRN-100011");
  await page.getByLabel("Ordered by").fill("Dr. Amelia Park, MD");
  await page.getByLabel("Prescriber's DEA number").fill("AP5836727");
  await page.getByLabel("Dose (mg)").fill("84");
  check((await page.getByLabel("Route").inputValue()) === "intranasal", "a nasal spray's route starts at intranasal");
  await page.getByRole("button", { name: "Review and sign…" }).first().click();
  await refusedBeside("dose", "84 mg from one 28 mg device");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${url}/ui/login`);
  // The pharmacist: part of a sealed bottle dispensed; an adjustment naming a container of
  // another product than the count's.
  await page.getByLabel("User name").fill(pharmacist.user);
  await page.getByLabel("Password").fill(pharmacist.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${url}/ui`);
  await page.goto(`${url}/ui/dispense`);
  const bottle = await page.locator("#container_1 option").filter({ hasText: "troche" }).filter({ hasText: "sealed" }).first().getAttribute("value");
  await page.getByLabel("Patient (MRN)").fill("MRN-100003");
  await page.getByLabel("Prescriber", { exact: true }).fill("Dr. Amelia Park, MD");
  await page.getByLabel("Prescriber's DEA number").fill("AP5836727");
  await page.locator("#container_1").selectOption(bottle);
  await page.locator("#amount_1").fill("200");
  await page.getByRole("button", { name: "Review and sign…" }).click();
  await refusedBeside("container_1", "part of a sealed bottle");
  // A count that differs, then its resolution: a container of another product is not even
  // offered (the HTTP suite posts one anyway and sees it refused beside the container).
  await page.goto(`${url}/ui/count`);
  await page.getByLabel("Product").selectOption(KETAMINE);
  await page.getByLabel("Sealed containers found").fill("999");
  await page.getByLabel(/What the open containers hold/).fill("0");
  await page.getByRole("button", { name: "Review and sign…" }).click();
  await dialog.locator("#password").fill(pharmacist.password);
  await dialog.getByRole("button", { name: "Sign", exact: true }).click();
  await recorded("Count recorded: it differs from the ledger");
  await page.getByRole("link", { name: "Continue" }).click();
  await page.waitForURL(/\/ui\/adjust\?count=/);
  check((await page.locator(`#container option[value="${device}"]`).count()) === 0, "resolving a count of ketamine, a Spravato device is not offered");
  const offered = await page.locator("#container option").allTextContents();
  check(offered.filter((o) => o.includes(" — ")).every((o) => o.includes("Ketamine HCl injection 10 mg/mL")), `only the count's product is offered: ${offered}`);
  console.log("refusals at review: witness = author, 84 mg from one device, part of a sealed bottle: each beside its field, no password asked; another product's container is not offered when resolving a count");

  // ---- before: the container page a dose took until now, at the same widths ----
  await page.goto(`${url}/ui/containers`);
  const vial = await page.locator("tr[data-search] a").first().textContent();
  await page.goto(`${url}/ui/containers/${vial.trim()}`);
  for (const width of [390, 768, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: `${shots}/before-container-${width}.png`, fullPage: true });
  }
  check(errors.length === 0, `no console errors or external requests: ${errors.join("; ")}`);
  console.log("day: ok");
} catch (e) {
  if (current) {
    await current.screenshot({ path: `${shots}/FAILED.png`, fullPage: true }).catch(() => {});
    const text = await current.locator("main").textContent().catch(() => "");
    console.error(`at ${current.url()}:\n${text?.replace(/\s+/g, " ").slice(0, 2000)}`);
  }
  throw e;
} finally {
  await browser.close();
}
