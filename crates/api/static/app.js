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

// The signature dialog is modal: the page behind it cannot be reached until it is answered,
// and the focus stays inside. Esc cancels: over the reviewed form it closes and leaves the
// form to change; alone it asks for the form back as typed ("Change something").
(() => {
  const d = document.querySelector("dialog[data-modal]");
  if (!d || typeof d.showModal !== "function") return;
  d.close();
  d.showModal();
  d.querySelector("[autofocus]")?.focus();
  d.addEventListener("cancel", (e) => {
    if (d.hasAttribute("data-over-form")) return;
    e.preventDefault();
    d.querySelector("button[name=edit]")?.click();
  });
})();

// "Give a dose": the containers offered follow the product chosen; the dose shows its
// volume, and a dose per kg its arithmetic, as typed (integers, as the server works it out;
// the server has the last word); choosing a patient offers their last prescriber again.
(() => {
  const form = document.querySelector("form.dose");
  if (!form) return;
  const product = form.querySelector("[data-product-select]");
  const container = form.querySelector("#container");
  const dose = form.querySelector("#dose_mg");
  const perKg = form.querySelector("#dose_mg_per_kg");
  const weight = form.querySelector("#weight_kg");
  const doseHint = form.querySelector("#dose_mg-hint");
  const weightHint = form.querySelector("#by-weight");
  const routeHint = form.querySelector("#route-hint");
  const chosen = () => product.selectedOptions[0];
  const perMl = () => BigInt(chosen()?.dataset.ugPerMl || "0");
  const millionths = (v) => {
    const frac = v % 1000000n;
    return `${v / 1000000n}` + (frac ? "." + String(frac).padStart(6, "0").replace(/0+$/, "") : "");
  };
  const follow = () => {
    const ndc = product.value;
    for (const o of container.querySelectorAll("option[data-ndc]")) {
      o.hidden = ndc !== "" && o.dataset.ndc !== ndc;
      if (o.hidden && o.selected) container.value = "";
    }
    const routes = chosen()?.dataset.routes;
    if (routes && routeHint) routeHint.textContent = `${routes.split(" ")[0]} unless you choose another.`;
  };
  const showDose = () => {
    const ug = thousandths(dose.value);
    const p = perMl();
    if (ug === null || ug === 0n || p === 0n) return;
    doseHint.textContent = (ug * 1000n) % p === 0n
      ? `${dose.value.trim()} mg = ${decimal((ug * 1000n) / p)} mL`
      : `${dose.value.trim()} mg is not a whole number of µL at ${decimal(p)} mg/mL`;
  };
  const showWeight = () => {
    const k = thousandths(perKg.value);
    const w = thousandths(weight.value);
    const p = perMl();
    if (k === null || w === null || k === 0n || w === 0n || p === 0n) return;
    const ng = k * w;
    const ul = (ng + p / 2n) / p;
    const exact = ul * p === ng;
    const mg = decimal((ul * p) / 1000n);
    weightHint.textContent = `${decimal(k)} mg/kg × ${decimal(w)} kg = ${millionths(ng)} mg` +
      (exact ? ` = ${decimal(ul)} mL, exact` : `, rounded to the nearest 0.001 mL: ${mg} mg = ${decimal(ul)} mL`);
  };
  product.addEventListener("change", () => { follow(); showDose(); showWeight(); });
  dose.addEventListener("input", showDose);
  perKg.addEventListener("input", showWeight);
  weight.addEventListener("input", showWeight);
  follow();
  const patient = form.querySelector("#patient");
  const prescriber = form.querySelector("#prescriber");
  const dea = form.querySelector("#prescriber_dea");
  patient.addEventListener("change", async () => {
    if (prescriber.value || dea.value || !patient.value.trim()) return;
    const r = await fetch(`/ui/dose/last?patient=${encodeURIComponent(patient.value.trim())}`, { credentials: "same-origin" });
    if (!r.ok) return;
    const last = await r.json();
    if (last.prescriber && !prescriber.value) prescriber.value = last.prescriber;
    if (last.prescriber_dea && !dea.value) {
      dea.value = last.prescriber_dea;
      dea.dispatchEvent(new Event("input", { bubbles: true }));
    }
    const hint = form.querySelector("#patient-hint");
    if (hint && last.prescriber) hint.textContent = `Last ordered by ${last.prescriber}: offered again.`;
  });
})();
