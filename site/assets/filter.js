// Optional: filters the rows (or row groups) of a table as you type. Without
// JavaScript the input stays hidden and every row is shown.
"use strict";
document.querySelectorAll("input[data-filter]").forEach((input) => {
  const table = document.getElementById(input.dataset.filter);
  if (!table) return;
  input.closest(".filter").hidden = false;
  // Row groups (one tbody per requirement) or rows; group heading rows stay shown.
  const groups = table.tBodies.length > 1 ? Array.from(table.tBodies)
    : Array.from(table.tBodies[0].rows).filter((row) => !row.classList.contains("group"));
  const texts = groups.map((group) => group.textContent.toLowerCase());
  input.addEventListener("input", () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    groups.forEach((group, i) => {
      group.hidden = !words.every((word) => texts[i].includes(word));
    });
  });
});
