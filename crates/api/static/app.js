// custody's only script: small conveniences; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const first = document.querySelector("[autofocus], form input:not([type=hidden])");
  if (first && !document.activeElement?.matches("input, select, textarea")) first.focus();
});
