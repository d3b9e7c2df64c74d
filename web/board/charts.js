// Charts of the reports, drawn with the vendored uPlot.
import uPlot from '/assets/vendor/uplot-1.6.32/uPlot.esm.js';

export const COLORS = { met: '#1a5fb4', breached: '#b42318' };

let chart = null;
let observer = null;

/** Grouped bars of met and breached requests per period; replaces the previous chart. */
export function metBreachedChart(container, byPeriod) {
  destroyChart();
  // byPeriod.key is the period's start, YYYY-MM-DD; uPlot's time axis wants Unix seconds.
  const xs = byPeriod.map((p) => Date.parse(p.key + 'T00:00:00Z') / 1000);
  const met = byPeriod.map((p) => p.figures.met);
  const breached = byPeriod.map((p) => p.figures.breached);
  const step = xs.length > 1 ? Math.min(...xs.slice(1).map((x, i) => x - xs[i])) : 86400;
  const bars = uPlot.paths.bars;
  const width = () => Math.max(280, container.clientWidth);
  chart = new uPlot({
    width: width(),
    height: 260,
    title: 'Met and breached first responses per period',
    // Half a period of room either side, so the first and last bars are not cut off.
    scales: { x: { time: true, range: (u, min, max) => [min - step / 2, max + step / 2] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [
      { stroke: '#333', grid: { stroke: '#e4e4e4' } },
      { stroke: '#333', grid: { stroke: '#e4e4e4' }, label: 'Requests', values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? v : '')) },
    ],
    series: [
      { label: 'Period start', value: (u, v, i) => (i == null ? '—' : byPeriod[i].label) },
      { label: 'Met', stroke: COLORS.met, fill: COLORS.met, width: 0, paths: bars({ size: [0.35, 40], align: -1 }), points: { show: false } },
      { label: 'Breached', stroke: COLORS.breached, fill: COLORS.breached, width: 0, paths: bars({ size: [0.35, 40], align: 1 }), points: { show: false } },
    ],
  }, [xs, met, breached], container);
  observer = new ResizeObserver(() => chart && chart.setSize({ width: width(), height: 260 }));
  observer.observe(container);
  return chart;
}

export function destroyChart() {
  if (observer) observer.disconnect();
  if (chart) chart.destroy();
  chart = observer = null;
}
