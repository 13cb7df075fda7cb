// custody's only script: small conveniences; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const first = document.querySelector("[autofocus], form input:not([type=hidden])");
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
