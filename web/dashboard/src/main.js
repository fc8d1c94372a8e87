// The grid dashboard: every site's health, load, draw against its cap, PUE, price and carbon;
// traffic share, energy, cost and carbon per minute; the signals behind the decisions; the
// latest requests with their reasons; the policy with its switch; the comparison with
// latency-first. Everything comes from the gateway's /v1/grid document.
import './dashboard.css';
import { Chart, seriesOption } from './charts.js';
import { fill, h } from './dom.js';
import { change, fixed, num, power, timeOfDay, utc } from './format.js';
import { connect } from './live.js';
import { initTheme } from './theme.js';

const SIGNAL_HISTORY = 720;  // samples of each site's price and carbon kept for the signal charts
const $ = (id) => document.getElementById(id);

let grid = null;
const signalHistory = [];  // [{t, sites: {name: {price, carbon}}}], oldest first

function siteStatus(site) {
  if (!site.healthy) return { kind: 'unhealthy', label: 'unhealthy', reason: site.health_reason };
  const ejected = site.endpoints.filter((e) => !e.healthy);
  if (site.draining) return { kind: 'draining', label: 'draining', reason: 'curtailed: the grid zone asks loads to shed' };
  if (ejected.length > 0) return { kind: 'degraded', label: `${ejected.length} endpoint(s) out`, reason: ejected.map((e) => `${e.url}: ${e.reason}`).join('; ') };
  return { kind: 'healthy', label: 'healthy', reason: '' };
}

function drawCell(site) {
  if (!(site.power_cap_kw > 0)) return h('td', {}, power(site.facility_kw), h('span', { class: 'muted' }, ' no cap'));
  const used = Math.min(1, site.facility_kw / site.power_cap_kw);
  return h('td', { title: `${(100 * used).toFixed(0)}% of the cap` },
    h('span', { class: used >= 0.999 ? 'meter full' : 'meter' }, h('span', { style: `width:${(100 * used).toFixed(1)}%` })),
    `${power(site.facility_kw)} / ${power(site.power_cap_kw)}`);
}

function renderSites() {
  const totalRequests = grid.sites.reduce((sum, s) => sum + s.since_start.requests, 0);
  const head = h('tr', {}, h('th', {}, 'site'), h('th', { class: 'text' }, 'status'), h('th', {}, 'load'),
    h('th', {}, 'draw / cap'), h('th', {}, 'PUE'), h('th', {}, 'USD/MWh'), h('th', {}, 'gCO2e/kWh'),
    h('th', { class: 'wide' }, '°C'), h('th', { class: 'wide' }, 'served'));
  const rows = grid.sites.map((site) => {
    const status = siteStatus(site);
    const running = site.endpoints.reduce((sum, e) => sum + e.running, 0);
    const queued = site.endpoints.reduce((sum, e) => sum + e.queued, 0);
    const share = totalRequests > 0 ? (100 * site.since_start.requests) / totalRequests : 0;
    return h('tr', { 'data-site': site.name, 'data-healthy': String(site.healthy), 'data-draining': String(site.draining) },
      h('td', {}, h('div', { class: 'site-name' }, site.name), h('div', { class: 'site-where' }, `${site.cloud} ${site.region} · ${site.zone}`)),
      h('td', { class: 'text' }, h('span', { class: `badge ${status.kind}`, 'data-status': status.kind }, status.label),
        status.reason ? h('div', { class: 'reason' }, status.reason) : null),
      h('td', { title: `${running} running, ${queued} queued at the workers` }, `${num(site.outstanding_requests)} req`),
      drawCell(site),
      h('td', {}, fixed(site.pue, 2)),
      h('td', { title: `spot ${num(site.spot_price_usd_per_mwh)} USD/MWh; this is under the site's contract` }, num(site.price_usd_per_mwh)),
      h('td', {}, num(site.carbon_g_per_kwh)),
      h('td', { class: 'wide' }, fixed(site.temp_c, 1)),
      h('td', { class: 'wide' }, `${site.since_start.requests} · ${share.toFixed(0)}%`));
  });
  fill($('sites'), h('thead', {}, head), h('tbody', {}, rows));
}

function renderPolicy() {
  const policy = grid.policy;
  $('policy-name').textContent = policy.name;
  $('policy-params').textContent = `carbon at ${num(policy.carbon_price_usd_per_t)} USD/t, SLO margin ${policy.slo_margin}`;
  const select = $('policy-select');
  if (select.options.length !== policy.available.length) {
    fill(select, policy.available.map((name) => h('option', { value: name }, name)));
    select.value = policy.name;
  }
  $('admin-key-label').hidden = !policy.switch_requires_key;
}

function renderComparison() {
  const c = grid.comparison;
  const row = (label, actual, baseline, unit) =>
    h('tr', {}, h('td', {}, label), h('td', {}, `${num(actual, 4)} ${unit}`), h('td', {}, `${num(baseline, 4)} ${unit}`),
      h('td', { class: actual < baseline ? 'better' : actual > baseline ? 'worse' : '' }, change(actual, baseline)));
  fill($('comparison'),
    h('thead', {}, h('tr', {}, h('th', {}, `${c.requests} requests`), h('th', {}, grid.policy.name), h('th', {}, c.baseline_policy), h('th', {}, 'change'))),
    h('tbody', {}, row('energy', c.actual.facility_wh, c.baseline.facility_wh, 'Wh'), row('cost', c.actual.usd, c.baseline.usd, 'USD'),
      row('carbon', c.actual.g_co2e, c.baseline.g_co2e, 'gCO2e')));
}

function renderDecisions() {
  const head = h('tr', {}, h('th', {}, 'grid time'), h('th', {}, 'site'), h('th', { class: 'text' }, 'reason'),
    h('th', { class: 'wide' }, 'tokens'), h('th', {}, 'Wh'), h('th', {}, 'USD'), h('th', {}, 'gCO2e'), h('th', { class: 'wide' }, 'latency-first'));
  const rows = grid.decisions.slice(0, 30).map((d) =>
    h('tr', { 'data-request': d.id },
      h('td', { title: d.id }, timeOfDay(d.signal_unix_s)),
      h('td', {}, d.site, d.status !== 200 ? h('span', { class: 'worse' }, ` ${d.status}`) : null),
      h('td', { class: 'text reason' }, d.reason),
      h('td', { class: 'wide' }, `${d.prompt_tokens}+${d.completion_tokens}`),
      h('td', {}, num(d.facility_wh, 3)),
      h('td', {}, num(d.usd, 3)),
      h('td', {}, num(d.g_co2e, 3)),
      h('td', { class: 'wide', title: `at ${d.baseline_site || 'no site'}: ${num(d.baseline_usd, 3)} USD, ${num(d.baseline_g_co2e, 3)} gCO2e` },
        d.baseline_site || '–')));
  fill($('decisions'), h('thead', {}, head), h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8, class: 'text muted' }, 'no requests yet'))));
}

function rememberSignals() {
  const t = grid.clock.signal_unix_s;
  if (signalHistory.length && signalHistory[signalHistory.length - 1].t >= t) return;
  const sites = {};
  for (const s of grid.sites) sites[s.name] = { price: s.price_usd_per_mwh, carbon: s.carbon_g_per_kwh };
  signalHistory.push({ t, sites });
  if (signalHistory.length > SIGNAL_HISTORY) signalHistory.shift();
}

// Per-minute series of one figure, one per site, with latency-first's where it has one.
function minuteSeries(field, withBaseline) {
  const series = grid.sites.map((s) => ({ name: s.name, values: grid.minutes.map((m) => m.sites[s.name]?.[field] ?? 0) }));
  if (withBaseline) series.push({ name: 'latency-first, all sites', dashed: true, color: '#888888', values: grid.minutes.map((m) => m.baseline[field]) });
  return series;
}

const minuteLabels = () => grid.minutes.map((m) => timeOfDay(m.signal_unix_s));

function signalSeries(field) {
  return grid.sites.map((s) => ({ name: s.name, values: signalHistory.map((p) => p.sites[s.name]?.[field] ?? null) }));
}

const charts = [];
function makeCharts() {
  const perMinute = (id, title, field, unit, baseline) =>
    new Chart($(id), (colors) => seriesOption(colors, { title, x: minuteLabels(), series: minuteSeries(field, baseline), unit, type: 'bar', stacked: true }));
  charts.push(
    new Chart($('chart-share'), (colors) => seriesOption(colors, { title: 'Traffic share by site, per minute (grid time)', x: minuteLabels(),
      series: minuteSeries('requests', false), type: 'bar', stacked: true, percent: true })),
    perMinute('chart-energy', 'Facility energy per minute (Wh)', 'facility_wh', 'Wh', true),
    perMinute('chart-cost', 'Energy cost per minute (USD)', 'usd', 'USD', true),
    perMinute('chart-carbon', 'Carbon per minute (gCO2e)', 'g_co2e', 'g', true),
    new Chart($('chart-price'), (colors) => seriesOption(colors, { title: 'Price under each contract (USD/MWh)',
      x: signalHistory.map((p) => timeOfDay(p.t)), series: signalSeries('price'), unit: 'USD/MWh' })),
    new Chart($('chart-intensity'), (colors) => seriesOption(colors, { title: 'Carbon intensity (gCO2e/kWh)',
      x: signalHistory.map((p) => timeOfDay(p.t)), series: signalSeries('carbon'), unit: 'g/kWh' })));
}

function render(doc) {
  grid = doc;
  $('replica').textContent = `replica ${doc.replica}`;
  $('clock').textContent = `${utc(doc.clock.signal_unix_s)}${doc.clock.speed !== 1 ? ` · replay ×${num(doc.clock.speed)}` : ''}`;
  rememberSignals();
  renderPolicy();
  renderComparison();
  renderSites();
  renderDecisions();
  for (const chart of charts) chart.draw();
}

async function switchPolicy(event) {
  event.preventDefault();
  const message = $('policy-message');
  const headers = { 'Content-Type': 'application/json' };
  const key = $('admin-key').value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  const name = $('policy-select').value;
  try {
    const response = await fetch('/v1/grid/policy', { method: 'POST', headers, body: JSON.stringify({ policy: name }) });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      message.dataset.kind = 'error';
      message.textContent = body.error?.message || `the gateway answered ${response.status}`;
      return;
    }
    message.dataset.kind = 'ok';
    message.textContent = `switched to ${body.policy}`;
  } catch (error) {
    message.dataset.kind = 'error';
    message.textContent = `the gateway did not answer: ${error.message}`;
  }
}

initTheme();
makeCharts();
$('policy-form').addEventListener('submit', switchPolicy);
connect({
  onGrid: render,
  onState: (state) => {
    const el = $('connection');
    el.dataset.state = state;
    el.textContent = { live: 'live', polling: 'polling', offline: 'gateway unreachable' }[state];
  },
});
