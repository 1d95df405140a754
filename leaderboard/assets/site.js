// mmbench leaderboard: sorts tables by any column and filters rows. The page is complete
// without it; this script only reorders and hides rows that are already in the HTML.
// A URL fragment drives it too (for links and for the browser tests):
//   #filter=TEXT            fill the filter box
//   #click=TABLE_ID:COLUMN  click that table's heading COLUMN (0-based), as a reader would
(function () {
  "use strict";

  function sortValue(row, column) {
    var cell = row.cells[column];
    if (!cell) { return null; }
    if (cell.hasAttribute("data-sort")) { return parseFloat(cell.getAttribute("data-sort")); }
    var text = cell.textContent.trim();
    return text === "" || text === "–" ? null : text;
  }

  function compare(a, b, descending) {
    if (a === null && b === null) { return 0; }
    if (a === null) { return 1; }  // missing values last, whichever the direction
    if (b === null) { return -1; }
    var order = typeof a === "number" && typeof b === "number"
      ? a - b : String(a).localeCompare(String(b), undefined, {numeric: true});
    return descending ? -order : order;
  }

  function sortBy(table, column) {
    var heading = table.tHead.rows[0].cells[column];
    var descending = heading.getAttribute("aria-sort") === "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, index) {
      return {row: row, key: sortValue(row, column), index: index};
    });
    rows.sort(function (x, y) { return compare(x.key, y.key, descending) || x.index - y.index; });
    rows.forEach(function (item) { body.appendChild(item.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) { cell.removeAttribute("aria-sort"); });
    heading.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function makeSortable(table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (heading, column) {
      var button = document.createElement("button");
      button.type = "button";
      button.title = "sort by this column";
      while (heading.firstChild) { button.appendChild(heading.firstChild); }
      heading.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, column); });
    });
  }

  function filterRows(text) {
    var needle = text.trim().toLowerCase();
    var shown = 0, total = 0;
    document.querySelectorAll("table.board tbody tr").forEach(function (row) {
      var keep = needle === "" || row.textContent.toLowerCase().indexOf(needle) !== -1;
      row.hidden = !keep;
      total += 1;
      if (keep) { shown += 1; }
    });
    var count = document.querySelector(".filter-count");
    if (count) { count.textContent = needle === "" ? "" : shown + " of " + total + " rows"; }
  }

  function fromFragment() {
    var fragment = decodeURIComponent(window.location.hash.replace(/^#/, ""));
    fragment.split("&").forEach(function (part) {
      var eq = part.indexOf("=");
      if (eq < 0) { return; }
      var key = part.slice(0, eq), value = part.slice(eq + 1);
      if (key === "filter") {
        var box = document.getElementById("filter");
        if (box) { box.value = value; }
        filterRows(value);
      } else if (key === "click") {
        var at = value.lastIndexOf(":");
        var table = document.getElementById(value.slice(0, at));
        var heading = table && table.tHead.rows[0].cells[parseInt(value.slice(at + 1), 10)];
        var button = heading && heading.querySelector("button");
        if (button) { button.click(); }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.board").forEach(makeSortable);
    var box = document.getElementById("filter");
    if (box) {
      box.closest(".filter").hidden = false;
      box.addEventListener("input", function () { filterRows(box.value); });
    }
    fromFragment();
    window.addEventListener("hashchange", fromFragment);
  });
})();
