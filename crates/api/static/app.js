// custody's only script: small conveniences; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A refused form puts the cursor on the first field it refused; else on the first field.
  const first = document.querySelector("[aria-invalid=true], [autofocus], main form input:not([type=hidden]), main form select");
  if (first && !document.activeElement?.matches("input, select, textarea")) first.focus();
});

// The dose field shows the volume it means, from the product's concentration, in exact
// integer arithmetic (µg and µL, as the server computes them; it has the last word).
function thousandths(text) {
  const m = /^\s*(\d{1,12})(?:\.(\d{1,3}))?\s*$/.exec(text);
  return m ? BigInt(m[1]) * 1000n + BigInt((m[2] ?? "").padEnd(3, "0")) : null;
}
function decimal(v) {
  const frac = v % 1000n;
  return `${v / 1000n}` + (frac ? "." + String(frac).padStart(3, "0").replace(/0+$/, "") : "");
}
document.addEventListener("input", (e) => {
  const el = e.target;
  if (!(el instanceof HTMLInputElement) || !el.dataset.ugPerMl) return;
  const hint = document.getElementById("dose-ml");
  const perMl = BigInt(el.dataset.ugPerMl);
  const ug = thousandths(el.value);
  if (!hint || perMl === 0n) return;
  if (ug === null || ug === 0n) {
    hint.textContent = hint.dataset.concentration ?? "";
  } else if ((ug * 1000n) % perMl !== 0n) {
    hint.textContent = `${el.value} mg is not a whole number of µL at ${decimal(perMl)} mg/mL`;
  } else {
    hint.textContent = `${el.value} mg = ${decimal((ug * 1000n) / perMl)} mL at ${decimal(perMl)} mg/mL`;
  }
});

// The session ends after a while without a request: say so a minute before, offer to stay,
// and at the end go to the sign-in page, which says why.
(() => {
  const idle = Number(document.body.dataset.idleSeconds || 0);
  const notice = document.getElementById("idle-notice");
  const stay = document.getElementById("idle-stay");
  if (!idle || !notice || !stay) return;
  let warn, end;
  const arm = () => {
    clearTimeout(warn);
    clearTimeout(end);
    warn = setTimeout(() => {
      notice.hidden = false;
      stay.focus();
    }, Math.max(0, idle - 60) * 1000);
    end = setTimeout(() => location.assign("/ui/login?ended=idle"), idle * 1000);
  };
  stay.addEventListener("click", async () => {
    const r = await fetch("/ui/keepalive", { credentials: "same-origin" });
    if (!r.ok) return location.assign("/ui/login?ended=1");
    notice.hidden = true;
    arm();
  });
  arm();
})();

// Check digits as they are typed: a DEA registration number (two letters, seven digits,
// the last a check digit) and an NDC (10 digits in 4-4-2, 5-3-2 or 5-4-1, or 11). The
// server checks again; this only tells the person sooner.
function deaProblem(v) {
  const m = /^([A-Za-z][A-Za-z9])(\d{7})$/.exec(v.trim());
  if (!m) return "A DEA number is two letters and seven digits, e.g. AB1234563.";
  const d = m[2].split("").map(Number);
  const sum = d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5]);
  return sum % 10 === d[6] ? null : "The check digit does not match: please re-read the number.";
}
function ndcProblem(v) {
  const s = v.trim();
  if (/^\d{11}$/.test(s) || /^(\d{4}-\d{4}-\d{2}|\d{5}-\d{3}-\d{2}|\d{5}-\d{4}-\d{1}|\d{5}-\d{4}-\d{2})$/.test(s)) return null;
  return "An NDC is 10 digits as 4-4-2, 5-3-2 or 5-4-1 (or 11 digits).";
}
document.addEventListener("input", (e) => {
  const el = e.target;
  if (!(el instanceof HTMLInputElement) || !el.dataset.check) return;
  const hint = document.getElementById(`${el.id}-hint`);
  if (!hint) return;
  if (!el.dataset.hint) el.dataset.hint = hint.textContent ?? "";
  const problem = el.value.trim() === "" ? null : (el.dataset.check === "dea" ? deaProblem : ndcProblem)(el.value);
  hint.textContent = problem ?? (el.value.trim() === "" ? el.dataset.hint : "Looks right.");
  hint.classList.toggle("error", problem !== null);
  el.setAttribute("aria-invalid", problem ? "true" : "false");
});

// The containers' search filters the list as it is typed (the form's ?q= does the same
// without a script): rows whose id, product, lot or location hold the words typed.
document.addEventListener("input", (e) => {
  const el = e.target;
  if (!(el instanceof HTMLInputElement) || !el.dataset.filter) return;
  const list = document.getElementById(el.dataset.filter);
  if (!list) return;
  const q = el.value.trim().toLowerCase();
  let shown = 0;
  for (const group of list.querySelectorAll("[data-group]")) {
    let left = 0;
    for (const row of group.querySelectorAll("tr[data-search]")) {
      row.hidden = q !== "" && !row.dataset.search.includes(q);
      if (!row.hidden) left += 1;
    }
    group.hidden = left === 0;
    shown += left;
  }
  const none = document.getElementById("no-match");
  if (none) none.hidden = shown > 0;
});
