// The charts of the simulator's report (report.html): the policies side by side, and per
// policy the traffic share, facility power against each site's cap, cost and carbon by site over
// the horizon, and the signals. The data is the JSON the simulator writes into the page; every
// chart exports as PNG or SVG. Inlined into the report, so it works from a file with no network.
import './report.css';
import { barsOption, Chart, SERIES_COLORS, seriesOption } from './charts.js';
import { h } from './dom.js';
import { initTheme } from './theme.js';

function hourLabels(data) {
  return Array.from({ length: data.hours }, (_, i) => {
    const iso = new Date((data.start_unix_s + 3600 * i) * 1000).toISOString();
    return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  });
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

// A panel with the chart and its export buttons.
function chartPanel(parent, title, build) {
  const name = slug(title);
  const element = h('div', { class: 'chart', 'data-chart': name });
  const panel = h('div', { class: 'panel chart-panel' },
    h('div', { class: 'chart-tools' },
      h('button', { type: 'button', 'data-export': 'png', title: `Save “${title}” as PNG` }, 'PNG'),
      h('button', { type: 'button', 'data-export': 'svg', title: `Save “${title}” as SVG` }, 'SVG')),
    element);
  parent.append(panel);
  const chart = new Chart(element, (colors) => build(colors, title));
  for (const button of panel.querySelectorAll('[data-export]')) button.addEventListener('click', () => chart.export(button.dataset.export, name));
  chart.draw();
  return chart;
}

function sumOverSites(matrix, hours) {
  return Array.from({ length: hours }, (_, i) => matrix.reduce((sum, row) => sum + row[i], 0));
}

function comparisonCharts(parent, data) {
  const names = data.policies.map((p) => p.name);
  const bars = (title, field, unit) => chartPanel(parent, title, (colors, t) =>
    barsOption(colors, { title: t, categories: names, series: [{ name: title, values: data.policies.map((p) => p[field]) }], unit }));
  bars('Energy cost by policy (USD)', 'cost_usd', 'USD');
  bars('Facility energy by policy (MWh)', 'facility_mwh', 'MWh');
  bars('Carbon by policy (t CO2e)', 'carbon_t', 't');
  bars('SLO attainment by policy (%)', 'slo_attainment_pct', '%');
  const x = hourLabels(data);
  const fleet = (title, field, unit) => chartPanel(parent, title, (colors, t) => seriesOption(colors, {
    title: t, x, unit, series: data.policies.map((p) => ({ name: p.name, values: sumOverSites(p.site_hours[field], data.hours) })) }));
  fleet('Fleet energy cost per hour by policy (USD)', 'cost_usd', 'USD');
  fleet('Fleet carbon per hour by policy (kg CO2e)', 'carbon_kg', 'kg');
}

function policyCharts(parent, data, policy) {
  const x = hourLabels(data);
  const bySite = (field) => data.sites.map((s, i) => ({ name: s.name, values: policy.site_hours[field][i] }));
  chartPanel(parent, `${policy.name}: traffic share by site`, (colors, title) =>
    seriesOption(colors, { title, x, series: bySite('requests'), stacked: true, percent: true }));
  chartPanel(parent, `${policy.name}: facility power by site against its cap (MW)`, (colors, title) => {
    const color = (i) => SERIES_COLORS[i % SERIES_COLORS.length];
    const series = bySite('facility_mw').map((s, i) => ({ ...s, color: color(i) }));
    data.sites.forEach((s, i) => {
      if (s.power_cap_kw > 0) series.push({ name: `${s.name} cap`, dashed: true, color: color(i), values: x.map(() => s.power_cap_kw / 1000) });
    });
    return seriesOption(colors, { title, x, series, unit: 'MW' });
  });
  chartPanel(parent, `${policy.name}: energy cost per hour by site (USD)`, (colors, title) =>
    seriesOption(colors, { title, x, series: bySite('cost_usd'), unit: 'USD', stacked: true }));
  chartPanel(parent, `${policy.name}: carbon per hour by site (kg CO2e)`, (colors, title) =>
    seriesOption(colors, { title, x, series: bySite('carbon_kg'), unit: 'kg', stacked: true }));
}

function signalCharts(parent, data) {
  const x = hourLabels(data);
  const first = data.policies[0];
  const bySite = (field) => data.sites.map((s, i) => ({ name: s.name, values: first.site_hours[field][i] }));
  chartPanel(parent, 'Energy price under each site\'s contract (USD/MWh)', (colors, title) =>
    seriesOption(colors, { title, x, series: bySite('price_usd_per_mwh'), unit: 'USD/MWh' }));
  chartPanel(parent, 'Carbon intensity of each site\'s grid zone (gCO2e/kWh)', (colors, title) =>
    seriesOption(colors, { title, x, series: bySite('carbon_g_per_kwh'), unit: 'g/kWh' }));
}

function main() {
  initTheme();
  const source = document.getElementById('tokengrid-report-data');
  const root = document.getElementById('report-charts');
  if (!source || !root) return;
  const data = JSON.parse(source.textContent);
  if (!data.policies.length) return;
  const section = (title) => {
    const grid = h('div', { class: 'charts' });
    root.append(h('section', { class: 'policy-section' }, h('h2', {}, title), grid));
    return grid;
  };
  comparisonCharts(section('Policies side by side'), data);
  signalCharts(section('Signals'), data);
  for (const policy of data.policies) policyCharts(section(`Policy ${policy.name}`), data, policy);
  document.documentElement.dataset.chartsDrawn = String(document.querySelectorAll('[data-chart][data-drawn]').length);
}

main();
