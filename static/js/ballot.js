/* The ballot's running total: chosen count, points and cost against the fund, with warnings.
   The page works without this script; the server checks everything again. No inline script. */
(function () {
  "use strict";

  function yuan(fen) {
    var whole = Math.floor(fen / 100), part = fen % 100;
    return "¥" + whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (part ? "." + ("0" + part).slice(-2) : "");
  }

  function setup(form) {
    var tally = form.querySelector("[data-tally]");
    if (!tally) { return; }
    var method = form.dataset.method, fund = parseInt(form.dataset.fund, 10) || 0;
    var most = form.dataset.max === "" ? null : parseInt(form.dataset.max, 10);
    var points = form.dataset.points === "" ? null : parseInt(form.dataset.points, 10);
    var inputs = form.querySelectorAll("input[data-cost]");
    var countEl = tally.querySelector("[data-count]"), totalEl = tally.querySelector("[data-total]");
    var pointsEl = tally.querySelector("[data-points-used]"), bar = tally.querySelector("[data-fund-bar]");
    var warning = tally.querySelector("[data-warning]");

    function update() {
      var count = 0, total = 0, used = 0;
      inputs.forEach(function (input) {
        var value = 0;
        if (input.type === "number") {
          value = parseInt(input.value, 10);
          value = isNaN(value) || value < 0 ? 0 : value;
        } else {
          value = input.checked ? 1 : 0;
        }
        var item = input.closest("[data-project]");
        if (item) { item.classList.toggle("is-chosen", value > 0); }
        if (value > 0) {
          count += 1;
          used += value;
          total += parseInt(input.dataset.cost, 10) || 0;
        }
      });
      countEl.textContent = count;
      if (pointsEl) { pointsEl.textContent = used; }
      if (totalEl) { totalEl.textContent = yuan(total); }
      if (bar) {  // only a knapsack ballot shows its cost against the fund
        bar.value = Math.min(total, fund);
        bar.textContent = yuan(total);
        bar.classList.toggle("over", total > fund);
      }
      var message = "";
      if (most !== null && count > most) {
        message = tally.dataset.msgTooMany;
      } else if (method === "knapsack" && total > fund) {
        message = tally.dataset.msgOverBudget;
      } else if (method === "cumulative" && points !== null && used > points) {
        message = tally.dataset.msgTooManyPoints;
      }
      warning.textContent = message;
      warning.hidden = !message;
    }

    form.addEventListener("change", update);
    form.addEventListener("input", update);
    update();
  }

  document.querySelectorAll("form[data-ballot]").forEach(setup);
}());
