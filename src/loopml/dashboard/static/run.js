// The run page's metric chart: the chosen metric's points from /ui/runs/{id}/series (thinned
// by the store to at most data-points), drawn with uPlot. No inline script: the page's policy
// allows only the package's files.
(function () {
  "use strict";

  function start() {
    var box = document.getElementById("metric-chart");
    var select = document.getElementById("metric-key");
    var status = document.getElementById("metric-status");
    if (!box || !select || typeof uPlot === "undefined") {
      return;
    }
    var plot = null;
    var asked = 0;

    function width() {
      return Math.max(box.clientWidth, 320);
    }

    function draw(series) {
      var data = [series.step, series.value];
      if (plot !== null) {
        plot.destroy();
      }
      plot = new uPlot(
        {
          width: width(),
          height: 300,
          scales: { x: { time: false } },
          axes: [{ label: "step" }, { label: series.key }],
          series: [
            { label: "step" },
            { label: series.key, stroke: "#1f5fcc", width: 1.5, spanGaps: false },
          ],
        },
        data,
        box
      );
      var shown = series.step.length;
      status.textContent = series.downsampled
        ? shown + " of " + series.total + " points shown (the lowest and highest of each step range kept)."
        : series.total + " points.";
    }

    function load() {
      var key = select.value;
      var mine = ++asked;
      var url = box.dataset.seriesUrl + "?" + new URLSearchParams({ key: key, points: box.dataset.points });
      status.textContent = "Loading " + key + "…";
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (answer) {
          if (!answer.ok) {
            throw new Error("the server answered " + answer.status);
          }
          return answer.json();
        })
        .then(function (series) {
          if (mine === asked) {
            draw(series);
          }
        })
        .catch(function (error) {
          if (mine === asked) {
            status.textContent = "Could not load " + key + ": " + error.message;
          }
        });
    }

    select.addEventListener("change", load);
    window.addEventListener("resize", function () {
      if (plot !== null) {
        plot.setSize({ width: width(), height: 300 });
      }
    });
    load();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
