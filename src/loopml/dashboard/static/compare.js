// The compare page's curves: for each ticked metric, one uPlot chart with a line per run,
// each run's points read (downsampled on the server) from /ui/runs/{id}/series.
(function () {
  "use strict";
  const dataBlock = document.getElementById("compare-data");
  const holder = document.getElementById("compare-curves");
  if (!dataBlock || !holder || typeof uPlot === "undefined") {
    return;
  }
  const data = JSON.parse(dataBlock.textContent);
  const colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const charts = new Map(); // metric key -> {figure, plot}

  function seriesUrl(base, key) {
    const query = new URLSearchParams({ key: key, points: String(data.points) });
    return base + "?" + query.toString();
  }

  async function fetchSeries(base, key) {
    const answer = await fetch(seriesUrl(base, key), { headers: { Accept: "application/json" } });
    if (!answer.ok) {
      throw new Error("HTTP " + answer.status);
    }
    return answer.json();
  }

  function width() {
    return Math.max(320, Math.min(holder.clientWidth || 800, 900));
  }

  async function draw(key) {
    const figure = document.createElement("figure");
    figure.className = "curve";
    figure.dataset.key = key;
    const caption = document.createElement("figcaption");
    caption.textContent = key;
    figure.appendChild(caption);
    holder.appendChild(figure);
    charts.set(key, { figure: figure, plot: null });
    let answers;
    try {
      const having = new Set(data.has[key] || []);
      answers = await Promise.all(
        data.series.map((base, index) => (having.has(index) ? fetchSeries(base, key) : null))
      );
    } catch (error) {
      const note = document.createElement("p");
      note.className = "notice";
      note.textContent = "The curves of " + key + " could not be read (" + error.message + ").";
      figure.appendChild(note);
      return;
    }
    if (!charts.has(key) || charts.get(key).figure !== figure) {
      return; // unticked meanwhile
    }
    const tables = [];
    const series = [{ label: "step" }];
    answers.forEach((answer, index) => {
      if (answer === null || answer.step.length === 0) {
        return;
      }
      tables.push([answer.step, answer.value]);
      const downsampled = answer.downsampled ? " (downsampled)" : "";
      series.push({
        label: data.names[index] + downsampled,
        stroke: colours[index % colours.length],
        width: 2,
        spanGaps: true,
        points: { show: answer.step.length < 50 },
      });
    });
    if (tables.length === 0) {
      const note = document.createElement("p");
      note.className = "hint";
      note.textContent = "No run has points of " + key + ".";
      figure.appendChild(note);
      return;
    }
    const joined = uPlot.join(tables);
    const options = {
      width: width(),
      height: 260,
      series: series,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: key }],
    };
    const plot = new uPlot(options, joined, figure);
    charts.get(key).plot = plot;
  }

  function remove(key) {
    const chart = charts.get(key);
    if (!chart) {
      return;
    }
    if (chart.plot) {
      chart.plot.destroy();
    }
    chart.figure.remove();
    charts.delete(key);
  }

  function sync() {
    document.querySelectorAll("input[name=curve]").forEach((box) => {
      if (box.checked && !charts.has(box.value)) {
        draw(box.value);
      } else if (!box.checked && charts.has(box.value)) {
        remove(box.value);
      }
    });
  }

  document.querySelectorAll("input[name=curve]").forEach((box) => {
    box.addEventListener("change", sync);
  });
  sync();
})();
