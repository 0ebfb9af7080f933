/* The metrics page's charts, drawn with the vendored Chart.js from the page's JSON data island
   (<script type="application/json" id="metrics-charts">). No inline script or style: the content
   security policy forbids both. Series differ by line dash and point shape as well as colour. */
(function () {
  "use strict";
  var island = document.getElementById("metrics-charts");
  if (!island || !window.Chart) { return; }
  var charts = JSON.parse(island.textContent);
  var colours = ["#21618c", "#c2410c", "#1e7b4f", "#7c3aed"];
  var dashes = [[], [6, 4], [2, 3], [8, 3, 2, 3]];
  var shapes = ["circle", "rectRot", "triangle", "rect"];

  function shorten(label) {
    label = String(label);
    return label.length > 42 ? label.slice(0, 41) + "…" : label;
  }

  function dataset(d, i, type, axis, long) {
    var colour = colours[i % colours.length];
    return {
      label: d.label, data: d.data, type: type, yAxisID: axis, xAxisID: "x",
      borderColor: colour, backgroundColor: type === "bar" ? colour + "cc" : colour,
      borderDash: dashes[i % dashes.length], pointStyle: shapes[i % shapes.length], pointRadius: long ? 1.5 : 3, borderWidth: 2,
      spanGaps: true
    };
  }

  Object.keys(charts).forEach(function (key) {
    var spec = charts[key];
    var canvas = document.querySelector('canvas[data-chart="' + key + '"]');
    if (!canvas) { return; }
    var long = spec.labels.length > 40;
    var counts = spec.y === "orders" || spec.y === "preparations";  // whole numbers on the axis
    var datasets = spec.datasets.map(function (d, i) { return dataset(d, i, spec.type, "y", long); });
    var scales = {
      x: { ticks: { autoSkip: true, autoSkipPadding: 16, maxRotation: 0,
                    callback: function (value) { return shorten(this.getLabelForValue(value)); } } },
      y: { beginAtZero: true, title: { display: true, text: spec.y }, ticks: { precision: counts ? 0 : undefined } }
    };
    if (spec.horizontal) {
      scales = {
        x: { beginAtZero: true, title: { display: true, text: spec.y }, ticks: { precision: counts ? 0 : undefined } },
        y: { ticks: { autoSkip: false, callback: function (value) { return shorten(this.getLabelForValue(value)); } } }
      };
      datasets = spec.datasets.map(function (d, i) { return dataset(d, i, spec.type, "y", false); });
    }
    if (spec.datasets2) {
      spec.datasets2.forEach(function (d, i) { datasets.push(dataset(d, spec.datasets.length + i, "line", "y2", long)); });
      scales.y2 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: spec.y2 } };
    }
    canvas.chart = new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, indexAxis: spec.horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { usePointStyle: true } } },
        scales: scales
      }
    });
    canvas.setAttribute("data-drawn", "true");
  });
})();
