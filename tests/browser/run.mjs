// custody's web UI in a real browser: Debian's chromium, driven by playwright-core, with
// axe-core checking every page. Started by `cargo test` (tests/e2e/browser.rs) against a
// freshly initialized `custody serve` (no one enrolled yet). It reads from the environment:
//   CUSTODY_URL, CUSTODY_TOKEN (the bootstrap token the server printed), CUSTODY_SHOTS (a
//   folder for screenshots and the downloaded report).
// It walks the clinic's story and prints what the Rust test checks afterwards (`vials …`).
// Exits non-zero, saying what failed, when the UI does not do what it promises.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const url = process.env.CUSTODY_URL;
const token = process.env.CUSTODY_TOKEN;
const shots = process.env.CUSTODY_SHOTS ?? "browser-shots";
mkdirSync(shots, { recursive: true });

const people = {
  admin: { user: "alex.ortiz", name: "Alex Ortiz", password: "harbor-lantern-quartz-71" },
  pharmacist: { user: "dana.ruiz", name: "Dana Ruiz", password: "copper-meadow-violet-52" },
  nurse: { user: "sam.chen", name: "Sam Chen", password: "silent-harvest-orbit-38" },
  auditor: { user: "lee.diaz", name: "Lee Diaz", password: "granite-willow-ember-64" },
};

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

let shotNo = 0;
async function shot(page, name) {
  shotNo += 1;
  await page.screenshot({ path: `${shots}/${String(shotNo).padStart(2, "0")}-${name}.png`, fullPage: true });
}

// Every page the story passes: checked by axe and photographed.
async function seen(page, name) {
  await accessible(page, name);
  await shot(page, name);
}

let current = null; // the page in use, photographed when something fails
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox"],
});
try {
  // A tablet in landscape.
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, acceptDownloads: true });
  const page = await context.newPage();
  current = page;
  const blocked = [];
  // Refusals answer 4xx on purpose; chromium logs any 4xx page as an error.
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of (401|403|409|422)/.test(m.text())) blocked.push(m.text());
  });
  page.on("request", (r) => { if (!r.url().startsWith(url)) blocked.push(`external request ${r.url()}`); });
  const main = () => page.locator("main").textContent();
  const heading = (name) => page.getByRole("heading", { name, exact: true });
  // The page a click loads, known by its heading (a click does not wait for the new page).
  const shown = (name, what) =>
    heading(name).waitFor({ timeout: 10000 }).catch(() => {
      throw new Error(`FAILED: ${what}`);
    });
  const sign = () => page.getByRole("button", { name: "Sign", exact: true }).click();
  const review = () => page.getByRole("button", { name: "Review and sign…" }).first().click();

  async function signIn(who) {
    await page.goto(`${url}/ui/login`);
    await page.getByLabel("User name").fill(who.user);
    await page.getByLabel("Password").fill(who.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${url}/ui`);
  }
  async function signOut() {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${url}/ui/login`);
  }
  async function refused(path, why) {
    const r = await page.goto(`${url}${path}`);
    check(r.status() === 403, `${path} is refused (${r.status()})`);
    await shown("Sorry", `${path} says sorry`);
    check((await page.getByRole("alert").textContent()).includes(why), `${path} says why`);
  }

  // ---- a new clinic: the first admin signs up with the bootstrap token ----
  await page.goto(`${url}/ui`);
  check(page.url().endsWith("/ui/login"), `not signed in, /ui leads to sign-in (at ${page.url()})`);
  await seen(page, "sign-in");
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
  // A wrong password says why and keeps the name typed.
  await page.getByLabel("User name").fill("alex.ortiz");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  check((await page.getByRole("alert").textContent()).includes("user name or password is wrong"), "a wrong password is explained");
  check((await page.getByLabel("User name").inputValue()) === "alex.ortiz", "the name typed is kept");
  await seen(page, "sign-in-refused");

  await page.getByRole("link", { name: "Set up the first admin" }).click();
  await page.getByLabel("Bootstrap token").fill("0".repeat(64));
  await page.getByLabel("Your user name").fill(people.admin.user);
  await page.getByLabel("Your printed name").fill(people.admin.name);
  await page.getByLabel("Your password", { exact: true }).fill(people.admin.password);
  await page.getByLabel("Your password, again").fill(people.admin.password);
  await page.getByRole("button", { name: "Create the first admin" }).click();
  check((await page.locator("#token-err").textContent()).includes("wrong or was already used"), "a wrong token is refused beside its field");
  check((await page.getByLabel("Your user name").inputValue()) === people.admin.user, "the bootstrap form keeps what was typed");
  await seen(page, "bootstrap-refused");
  await page.getByLabel("Bootstrap token").fill(token);
  await page.getByLabel("Your password", { exact: true }).fill(people.admin.password);
  await page.getByLabel("Your password, again").fill(people.admin.password);
  await page.getByRole("button", { name: "Create the first admin" }).click();
  await page.waitForURL(/\/ui\/login\?welcome=1$/);
  check((await main()).includes("The first admin is enrolled"), "the first admin is told to sign in");
  await signIn(people.admin);
  await seen(page, "admin-dashboard");

  // ---- the admin: a product (the NDC checked), a location, three people ----
  await page.getByRole("link", { name: "Products" }).click();
  await page.getByLabel("NDC").fill("42023-01133-10");
  await page.getByLabel("Name").fill("Ketamine HCl 10 mg/mL, 20 mL vial");
  await page.getByLabel("mg per mL").fill("10");
  await page.getByLabel("mL per container").fill("20");
  await review();
  check((await page.locator("#ndc-err").textContent()).length > 10, "a wrong NDC is refused beside its field");
  check((await page.getByLabel("Name").inputValue()).includes("Ketamine"), "the product form keeps what was typed");
  await seen(page, "product-refused");
  await page.getByLabel("NDC").fill("42023-0113-10");
  await review();
  check((await page.locator(".statement").textContent()).includes("defined product 42023-0113-10"), "the product states what is signed");
  await seen(page, "product-sign");
  await page.getByLabel(/Password of/).fill(people.admin.password);
  await sign();
  await shown("Product defined", "the product is defined");

  await page.getByRole("link", { name: "Locations" }).click();
  await page.getByLabel("Short id").fill("SAFE-1");
  await page.getByLabel("Name").fill("Main safe, pharmacy");
  await page.getByLabel("Kind").selectOption("safe");
  await review();
  await page.getByLabel(/Password of/).fill(people.admin.password);
  await sign();
  await shown("Location defined", "the location is defined");
  await page.getByRole("link", { name: "Continue" }).click();
  await seen(page, "locations");

  for (const role of ["pharmacist", "nurse", "auditor"]) {
    const p = people[role];
    await page.goto(`${url}/ui/users`);
    await page.getByLabel("User name").fill(p.user);
    await page.getByLabel("Printed name").fill(p.name);
    await page.getByLabel("Role").selectOption(role);
    await page.getByLabel("First password").fill(p.password);
    await review();
    check((await page.locator(".statement").textContent()).includes(`enrolled ${p.name} as user ${p.user}, a ${role}`), `the enrollment of ${p.user} states what is signed`);
    if (role === "pharmacist") await seen(page, "enroll-sign");
    await page.getByLabel(/first password, typed again/).fill(p.password);
    await page.getByLabel(/Password of/).fill(people.admin.password);
    await sign();
    await shown("User enrolled", `${p.user} is enrolled`);
  }
  await page.goto(`${url}/ui/users`);
  await seen(page, "users");
  await page.getByRole("link", { name: people.nurse.user }).click();
  await seen(page, "user");
  await signOut();

  // ---- going live: the pharmacist takes the initial inventory (nothing on hand yet), witnessed ----
  await signIn(people.pharmacist);
  check((await main()).includes("Going live: take the initial inventory"), "the dashboard asks for the initial inventory");
  await page.getByRole("link", { name: "Take the initial inventory" }).click();
  await shown("Take an inventory", "the inventory page opens");
  await seen(page, "inventory-form");
  await page.getByLabel("Occasion").selectOption("initial");
  await page.getByLabel("Taken", { exact: true }).selectOption("opening");
  await page.getByLabel(/^Witness/).fill(people.nurse.user);
  await review();
  const inventoried = await page.locator(".statement").allTextContents();
  check(
    inventoried.length === 2 && inventoried[0].includes("took the initial inventory at the opening of business") && inventoried[0].includes("nothing on hand") && inventoried[1].includes("I, Sam Chen, witnessed"),
    `the inventory states what each signs: ${inventoried}`,
  );
  await seen(page, "inventory-sign");
  await page.locator("#password").fill(people.pharmacist.password);
  await page.locator("#witness_password").fill(people.nurse.password);
  await sign();
  await shown("Inventory recorded", "the initial inventory is recorded");
  await page.goto(`${url}/ui`);
  check(!(await main()).includes("Going live"), "the dashboard no longer asks for it");

  // ---- the pharmacist receives an invoice of two lines (the supplier's DEA checked as typed) ----
  await page.getByRole("link", { name: "Receive" }).click();
  await page.getByLabel("Supplier", { exact: true }).fill("Cardinal Health 110, LLC");
  await page.getByLabel("Supplier's address").fill("7000 Cardinal Place, Dublin OH 43017");
  await page.getByLabel("Supplier's DEA number").pressSequentially("RM4827160");
  check((await page.locator("#supplier_dea-hint").textContent()).includes("check digit does not match"), "a mistyped DEA number is caught as it is typed");
  await seen(page, "receive-dea-typed");
  await page.getByLabel("Supplier's DEA number").fill("");
  await page.getByLabel("Supplier's DEA number").pressSequentially("RM4827169");
  check((await page.locator("#supplier_dea-hint").textContent()).includes("Looks right"), "a right DEA number is confirmed as it is typed");
  await page.getByLabel("Invoice number").fill("INV-2026-1121");
  // Expiry two years ahead, so the stock stays usable whenever the suite runs.
  const year = new Date().getUTCFullYear() + 2;
  for (const [i, lot, expiry, n] of [[1, "KX2611A", `${year}-06-30`, "5"], [2, "KX2611B", `${year}-09-30`, "3"]]) {
    await page.getByLabel(`Product, line ${i}`).selectOption({ index: 1 });
    await page.getByLabel(`Lot, line ${i}`).fill(lot);
    await page.getByLabel(`Expiry, line ${i}`).fill(expiry);
    await page.getByLabel(`Containers, line ${i}`).fill(n);
  }
  await review();
  const receipt = await page.locator(".statement").textContent();
  check(receipt.includes("5 × Ketamine HCl 10 mg/mL, 20 mL vial lot KX2611A") && receipt.includes("3 × Ketamine"), `the receipt states both lines: ${receipt}`);
  await seen(page, "receive-sign");
  await page.getByLabel(/Password of/).fill(people.pharmacist.password);
  await sign();
  await shown("Stock received", "the stock is received");
  const ids = (await page.locator(".details").textContent()).match(/C\d+-\d+/g) ?? [];
  check(ids.length === 8, `eight containers got ids: ${ids}`);
  await seen(page, "received");
  const [vialA, vialB] = ids;
  await signOut();

  // ---- the nurse: no admin or receiving pages; a dose of 35 mg and the rest wasted ----
  await signIn(people.nurse);
  check((await page.getByRole("link", { name: "Receive" }).count()) === 0, "a nurse is not offered Receive");
  check((await page.getByRole("link", { name: "Users" }).count()) === 0, "a nurse is not offered Users");
  await refused("/ui/users", "a nurse may not do this");
  await seen(page, "nurse-refused");
  await refused("/ui/receive", "a nurse may not do this");
  await refused("/ui/products", "a nurse may not do this");
  // The nurse registers the patient (a date that is not one is refused beside its field).
  await page.getByRole("link", { name: "Patients" }).click();
  await page.getByLabel("MRN", { exact: true }).fill("MRN-4711");
  await page.getByLabel("Name", { exact: true }).fill("Jordan Lee");
  await page.getByLabel("Address", { exact: true }).fill("88 Lake Ave, Duluth MN 55802");
  await page.getByRole("button", { name: "Save" }).click();
  check((await page.locator("#date_of_birth-err").textContent()).length > 5, "a missing date of birth is refused beside its field");
  await page.getByLabel("Date of birth").fill("1984-03-12");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/saved=/);
  check((await main()).includes("Saved MRN-4711") && (await main()).includes("Jordan Lee"), "the patient is registered");
  await seen(page, "patients");
  await page.goto(`${url}/ui/containers`);
  await seen(page, "containers");
  await page.getByRole("link", { name: vialA, exact: true }).click();
  await page.getByRole("button", { name: "Open…" }).click();
  check((await page.locator(".statement").textContent()).includes(`opened container ${vialA}`), "the opening states what is signed");
  await page.getByLabel(/Password of/).fill(people.nurse.password);
  await sign();
  await shown("Container opened", "the container is opened");
  await page.getByRole("link", { name: "Continue" }).click();

  await page.getByLabel("Patient (MRN)").fill("MRN-4711");
  await page.getByLabel("Ordered by").fill("Dr. Amelia Park, MD");
  await page.getByLabel("Prescriber's DEA number").fill("AP5836727");
  // More than the vial holds: refused at Review, beside the dose, before any password.
  await page.getByLabel("Dose (mg)").fill("250");
  await review();
  check((await page.locator("#dose-err").textContent()).length > 10, "a dose larger than the vial is refused beside its field");
  check((await page.locator("input[type=password]").count()) === 0, "no password is asked for a refused dose");
  await seen(page, "dose-refused-at-review");
  await page.getByLabel("Dose (mg)").fill("");
  await page.getByLabel("Dose (mg)").pressSequentially("35");
  check((await page.locator("#dose-ml").textContent()).includes("35 mg = 3.5 mL"), "the dose shows its volume");
  await seen(page, "dose-form");
  await review();
  const statement = await page.locator(".statement").textContent();
  check(statement.includes("gave 35 mg (3.5 mL)") && statement.includes("patient MRN-4711 (Jordan Lee, born 1984-03-12)"), `the dose states what is signed: ${statement}`);
  check((await page.getByRole("dialog").count()) === 1, "the signature is a dialog");
  await seen(page, "dose-sign");
  // A wrong password writes nothing and says why (the Rust test counts the doses).
  await page.getByLabel(/Password of/).fill("not my password");
  await sign();
  check((await page.getByRole("alert").textContent()).match(/password for \S+ is wrong/) !== null, "a wrong signature password is explained");
  await seen(page, "dose-refused");
  await page.getByLabel(/Password of/).fill(people.nurse.password);
  // What this dialog sends, to send it again as a browser's back-and-resubmit would.
  const resent = await page
    .locator("form")
    .filter({ has: page.getByRole("button", { name: "Sign", exact: true }) })
    .evaluate((f) => ({ action: f.action, fields: [...new FormData(f)] }));
  await sign();
  await shown("Dose recorded", "the dose is recorded");
  await seen(page, "dose-recorded");
  const doseEntry = (await main()).match(/Recorded as entry (\d+)/)?.[1];
  check(doseEntry !== undefined, "the page names the dose's entry");
  // Reload: the same page, nothing signed again.
  await page.reload();
  await shown("Dose recorded", "a reload shows the recorded dose");
  // Back, and the signed form sent again: nothing recorded twice, and the page says so.
  // (Chromium keeps no copy of the signed dialog to go back to — pages are no-store — so
  // the nurse goes back to the vial's page and the very same form is posted again.)
  await page.goto(`${url}/ui/containers/${vialA}`);
  const submitted = page.waitForURL(/\/ui\/recorded\//);
  await page.evaluate(({ action, fields }) => {
    const f = document.createElement("form");
    f.method = "post";
    f.action = action;
    for (const [k, v] of fields) {
      const i = document.createElement("input");
      i.type = "hidden";
      i.name = k;
      i.value = v;
      f.append(i);
    }
    document.body.append(f);
    f.submit();
  }, resent).catch(() => {});
  await submitted;
  await shown("Already recorded: Dose recorded", "a resubmitted dose is not recorded again");
  check((await main()).includes(`Already recorded as entry ${doseEntry} of the ledger`), "the page says which entry the dose already is");
  await seen(page, "dose-already-recorded");
  await page.getByRole("link", { name: "Continue" }).click();

  await page.getByLabel("Reason").fill("remainder of single-patient vial");
  await page.getByLabel(/^Witness/).fill(people.pharmacist.user);
  await page.getByRole("button", { name: "Review and sign…" }).nth(1).click();
  const statements = await page.locator(".statement").allTextContents();
  check(
    statements.length === 2 && statements[1].includes(`I, Dana Ruiz, witnessed the waste of 165 mg (16.5 mL) of Ketamine HCl 10 mg/mL, 20 mL vial from container ${vialA}`),
    `the witness reads what they sign: ${statements}`,
  );
  await seen(page, "waste-sign");
  await page.locator("#password").fill(people.nurse.password);
  await page.locator("#witness_password").fill(people.pharmacist.password);
  await sign();
  await shown("Waste recorded", "the waste is recorded with its witness");
  await seen(page, "waste-recorded");

  // Another vial: 50 mg drawn up and not given goes to the awaiting-witness queue.
  await page.goto(`${url}/ui/containers/${vialB}`);
  await page.getByRole("button", { name: "Open…" }).click();
  await page.getByLabel(/Password of/).fill(people.nurse.password);
  await sign();
  await page.goto(`${url}/ui/containers/${vialB}`);
  await page.getByLabel(/^Amount/).fill("50");
  await page.getByLabel("Reason").fill("drawn up, not given");
  await page.getByRole("button", { name: "Review and sign…" }).nth(1).click();
  await page.getByLabel(/Password of/).fill(people.nurse.password);
  await sign();
  await shown("Waste sent to the awaiting-witness queue", "the waste waits for a witness");
  await seen(page, "waste-queued");
  await signOut();

  // ---- the pharmacist witnesses from the queue, counts blind, and resolves the discrepancy ----
  await signIn(people.pharmacist);
  await page.getByRole("link", { name: "Awaiting a witness" }).click();
  await seen(page, "queue");
  await page.getByRole("button", { name: `Witness the waste from ${vialB}` }).click();
  check((await page.locator(".statement").textContent()).includes("witnessed the waste of 50 mg (5 mL)"), "the queued waste states what is witnessed");
  await page.getByLabel(/Password of/).fill(people.pharmacist.password);
  await sign();
  await shown("Waste witnessed", "the pharmacist witnessed it from the queue");
  await page.getByRole("link", { name: "Continue" }).click();
  check((await main()).includes("None: every waste has its witness"), "the queue is empty");

  await page.getByRole("link", { name: "Count", exact: true }).click();
  await seen(page, "count-form");
  check(!(await main()).includes("15 mL"), "the count form does not show what is expected");
  await page.getByLabel("Sealed containers found").fill("6");
  await page.getByLabel(/What the open containers hold/).fill("14.8");
  await review();
  const counted = await page.locator(".statement").textContent();
  check(counted.includes("6 sealed and 14.8 mL") && counted.includes("I was not shown what the ledger expects"), `the count states what is signed: ${counted}`);
  check(!(await main()).includes("15 mL"), "the expected volume stays hidden until the count is signed");
  await page.getByLabel(/Password of/).fill(people.pharmacist.password);
  await sign();
  await shown("Count recorded: it differs from the ledger", "the blind count finds a discrepancy");
  check((await main()).includes("The ledger expected 6 sealed and 15 mL"), "after signing, what was expected is shown");
  await seen(page, "count-differs");
  await page.getByRole("link", { name: "Continue" }).click();
  await page.getByLabel("Container", { exact: true }).selectOption(vialB);
  await page.getByLabel("Amount (mg)").fill("2");
  await page.getByLabel("Note").fill("vial reads 14.8 mL; 0.2 mL lost in the hub when drawing up");
  await page.getByLabel(/^Witness/).fill(people.nurse.user);
  await seen(page, "adjust-form");
  await review();
  const adjusted = await page.locator(".statement").allTextContents();
  check(adjusted.length === 2 && adjusted[0].includes("a decrease of 2 mg (0.2 mL)") && adjusted[0].includes("resolving count"), `the adjustment states what is signed: ${adjusted}`);
  await page.locator("#password").fill(people.pharmacist.password);
  await page.locator("#witness_password").fill(people.nurse.password);
  await sign();
  await shown("Adjustment recorded", "the discrepancy is resolved");
  await page.goto(`${url}/ui`);
  check(/Open count discrepancies\s*None\./.test(await main()), "no discrepancy is left open");
  await seen(page, "pharmacist-dashboard");
  for (const [path, name] of [["/ui/dispense", "dispense"], ["/ui/transfer", "transfer"], ["/ui/destruction", "destruction"]]) {
    await page.goto(`${url}${path}`);
    await seen(page, name);
  }
  // A refused form: each error beside its field, the page still accessible.
  await page.goto(`${url}/ui/loss`);
  await page.getByLabel("Description").fill("vial found cracked in the safe");
  await review();
  check((await page.locator("#container_1-err").textContent()).includes("Name at least one container"), "a loss without containers is refused beside the field");
  check((await page.getByLabel("Description").inputValue()).includes("cracked"), "the loss form keeps what was typed");
  await seen(page, "loss-refused");
  await signOut();

  // ---- the nurse changes her own password on its page ----
  await signIn(people.nurse);
  await page.getByRole("link", { name: "Password", exact: true }).click();
  await shown("Change your password", "the password page is shown");
  await seen(page, "password");
  const newNursePassword = "amber-lighthouse-tundra-27";
  const changePassword = async (current) => {
    await page.getByLabel("Current password").fill(current);
    await page.getByLabel("New password", { exact: true }).fill(newNursePassword);
    await page.getByLabel("New password, again").fill(newNursePassword);
    await page.getByRole("button", { name: "Change the password" }).click();
  };
  await changePassword("not my password at all");
  await page.locator("#password-err").filter({ hasText: "is wrong" }).waitFor({ timeout: 10000 });
  check((await page.getByLabel("New password", { exact: true }).inputValue()) === "", "a password typed is not written back");
  await seen(page, "password-refused");
  await changePassword(people.nurse.password);
  await shown("Password changed", "the change is confirmed");
  await seen(page, "password-changed");
  await signOut();
  // From now on the nurse signs in with the new password.
  people.nurse.password = newNursePassword;
  await signIn(people.nurse);
  await signOut();

  // ---- the auditor: verification, entries, a container's history, the signed report ----
  await signIn(people.auditor);
  await refused("/ui/receive", "an auditor may not do this");
  await page.getByRole("link", { name: "Verification" }).click();
  await page.getByRole("button", { name: "Verify the whole ledger now" }).click();
  await page.locator("#verify-result").waitFor();
  check((await page.locator("#verify-result").textContent()).startsWith("Every one of the"), "the ledger verifies");
  await seen(page, "verified");
  await page.getByRole("link", { name: "Entries" }).click();
  await page.getByLabel("Kind").selectOption("waste");
  await page.getByRole("button", { name: "Search" }).click();
  await page.waitForURL(/kind=waste/);
  check((await page.locator("tbody tr").count()) === 2, "two wastes are found");
  await seen(page, "entries");
  await page.getByRole("link", { name: new RegExp(vialA) }).first().click();
  await shown("History", "the container's history is shown");
  check((await page.getByRole("button", { name: "Review and sign…" }).count()) === 0, "an auditor gets no forms");
  const history = await page.locator("tbody").textContent();
  for (const k of ["receipt", "container_opened", "administered", "waste"]) check(history.includes(k), `the history holds the ${k}`);
  await seen(page, "history");
  await page.getByRole("link", { name: "Reports" }).click();
  await seen(page, "reports");
  const [pdf] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "audit.pdf", exact: true }).click()]);
  await pdf.saveAs(`${shots}/audit.pdf`);
  const [sig] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "audit.pdf.sig", exact: true }).click()]);
  await sig.saveAs(`${shots}/audit.pdf.sig`);
  await signOut();
  await page.goto(`${url}/ui`);
  check(page.url().endsWith("/ui/login"), "after signing out, the dashboard needs a sign-in again");

  // ---- phone, tablet, desktop: no page scrolls sideways, axe passes, the navigation fits ----
  for (const width of [390, 768, 1280]) {
    const ctx = await browser.newContext({ viewport: { width, height: 844 } });
    const w = await ctx.newPage();
    current = w;
    w.on("console", (m) => {
      if (m.type() === "error" && !/status of (401|403|409|422)/.test(m.text())) blocked.push(m.text());
    });
    const pages = {
      pharmacist: ["/ui", "/ui/containers", `/ui/containers/${vialB}`, "/ui/receive", "/ui/count", "/ui/wastes", "/ui/reports", "/ui/adjust", "/ui/inventory", "/ui/entries"],
      admin: ["/ui", "/ui/users", "/ui/products", "/ui/locations"],
      nurse: ["/ui", `/ui/containers/${vialA}`],
      auditor: ["/ui", "/ui/reports", "/ui/verify"],
    };
    for (const [role, paths] of Object.entries(pages)) {
      await w.goto(`${url}/ui/login`);
      await w.getByLabel("User name").fill(people[role].user);
      await w.getByLabel("Password").fill(people[role].password);
      await w.getByRole("button", { name: "Sign in" }).click();
      await w.waitForURL(`${url}/ui`);
      for (const path of paths) {
        await w.goto(`${url}${path}`);
        const [scroll, inner] = await w.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
        check(scroll <= inner, `${path} as ${role} at ${width} px: no sideways scroll (${scroll} px wide)`);
        await accessible(w, `${path} as ${role} at ${width} px`);
        if (path === "/ui/containers") {
          await w.screenshot({ path: `${shots}/containers-${width}.png`, fullPage: true });
          // The search filters as it is typed (the script; ?q= does it without one).
          await w.getByLabel("Find a container").fill(vialB);
          const left = await w.locator("tr[data-search]").filter({ visible: true }).count();
          check(left === 1, `typing ${vialB} leaves its row alone (${left})`);
          await w.getByLabel("Find a container").fill("");
        }
      }
      if (width === 1280) {
        const tops = await w.locator("nav.wide a").evaluateAll((as) => as.map((a) => a.getBoundingClientRect().top));
        check(tops.length > 0 && new Set(tops).size === 1, `the ${role}'s navigation is one row at 1280 px (${tops})`);
      }
      if (width === 390) {
        // The compact menu opens without a script and holds the links.
        check(!(await w.locator("nav.wide").isVisible()), `at 390 px the ${role} gets the compact menu`);
        await w.locator("details.menu summary").click();
        check(await w.getByRole("link", { name: "Entries" }).isVisible(), `the ${role}'s menu opens`);
        const scroll = await w.evaluate(() => document.documentElement.scrollWidth);
        check(scroll <= width, `the open menu fits (${scroll} px)`);
        await accessible(w, `the ${role}'s menu at 390 px`);
      }
      await w.getByRole("button", { name: "Sign out" }).click();
      await w.waitForURL(`${url}/ui/login`);
    }
    await ctx.close();
  }
  current = page;

  // ---- idle: a minute's warning, then the sign-in page says why (the clock run forward) ----
  const idle = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  await idle.clock.install();
  const p2 = await idle.newPage();
  await p2.goto(`${url}/ui/login`);
  await p2.getByLabel("User name").fill(people.auditor.user);
  await p2.getByLabel("Password").fill(people.auditor.password);
  await p2.getByRole("button", { name: "Sign in" }).click();
  await p2.waitForURL(`${url}/ui`);
  check(!(await p2.locator("#idle-notice").isVisible()), "no idle notice at first");
  await p2.clock.runFor("14:01");
  check(await p2.locator("#idle-notice").isVisible(), "a minute before the idle timeout, a notice says so");
  await accessible(p2, "idle notice");
  await p2.screenshot({ path: `${shots}/${String(++shotNo).padStart(2, "0")}-idle-notice.png` });
  await p2.clock.runFor("01:00");
  await p2.waitForURL(/\/ui\/login\?ended=idle$/);
  check((await p2.locator("main").textContent()).includes("signed out after 15 minutes without activity"), "the sign-in page says why");
  await idle.close();

  // The interactive API reference: served from the binary, it renders the operations and
  // asks nothing of any other site.
  const docs = await context.newPage();
  current = docs;
  const docsExternal = [];
  docs.on("request", (r) => { if (!r.url().startsWith(url)) docsExternal.push(r.url()); });
  await docs.goto(`${url}/api/docs`);
  // Several copies of an operation's title exist (headings, breadcrumbs hidden at this width):
  // wait for one that is visible, not merely the first in the document.
  await docs.getByText("Sign in.", { exact: true }).filter({ visible: true }).first().waitFor({ timeout: 20000 });
  check((await docs.locator("body").textContent()).includes("/api/v1/ledgers/{ledger}/containers/{container}/administer"), "the API reference lists the operations");
  check(docsExternal.length === 0, `the API reference fetches nothing from elsewhere: ${docsExternal.join("; ")}`);
  await docs.screenshot({ path: `${shots}/${String(++shotNo).padStart(2, "0")}-api-docs.png` });
  await docs.close();
  current = page;

  check(blocked.length === 0, `no console errors or external requests: ${blocked.join("; ")}`);
  console.log(`vials ${vialA} ${vialB}`);
  console.log("browser: ok");
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
