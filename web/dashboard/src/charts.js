// The charts of the dashboard and of the simulator's report: one look, one code path.
// ECharts with only the parts used here (lines, bars, axes, tooltips, legends), drawn on a
// canvas; an export draws the same option again as PNG (canvas) or SVG (ECharts' SVG renderer).
// Colours come from the page's CSS variables, so a theme switch redraws every chart.
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TitleComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer, SVGRenderer } from 'echarts/renderers';
import { num } from './format.js';
import { onThemeChange } from './theme.js';

echarts.use([LineChart, BarChart, GridComponent, LegendComponent, TitleComponent, TooltipComponent, CanvasRenderer, SVGRenderer]);

// Okabe-Ito, readable by colour-blind readers, on light and dark backgrounds.
export const SERIES_COLORS = ['#0072b2', '#e69f00', '#009e73', '#d55e00', '#cc79a7', '#56b4e9', '#f0e442', '#7f7f7f',
  '#a6761d', '#1b9e77', '#666666', '#e7298a'];

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export function themeColors() {
  return {
    text: cssVar('--fg', '#1b1f24'),
    muted: cssVar('--muted', '#57606a'),
    line: cssVar('--grid-line', '#d0d7de'),
    background: cssVar('--panel', '#ffffff'),
  };
}

function axis(colors, extra = {}) {
  return {
    axisLine: { lineStyle: { color: colors.line } },
    axisLabel: { color: colors.muted, hideOverlap: true },
    splitLine: { lineStyle: { color: colors.line, opacity: 0.5 } },
    nameTextStyle: { color: colors.muted },
    ...extra,
  };
}

function frame(colors, title, legend) {
  return {
    animation: false,
    backgroundColor: 'transparent',
    color: SERIES_COLORS,
    textStyle: { color: colors.text, fontFamily: 'system-ui, sans-serif' },
    title: { text: title, left: 0, top: 0, textStyle: { color: colors.text, fontSize: 13, fontWeight: 600 } },
    legend: { show: legend, type: 'scroll', bottom: 0, textStyle: { color: colors.muted }, pageTextStyle: { color: colors.muted } },
    tooltip: { trigger: 'axis', confine: true, valueFormatter: (v) => num(v, 4) },
    grid: { left: 8, right: 12, top: 34, bottom: legend ? 34 : 8, containLabel: true },
  };
}

// Series over time (or any categories): `series` is [{name, values, dashed?, color?}];
// `stacked` piles them (areas for lines); `percent` shows each x's shares of 100.
export function seriesOption(colors, { title, x, series, unit, type = 'line', stacked = false, percent = false }) {
  const data = percent ? shares(series) : series;
  return {
    ...frame(colors, title, true),
    xAxis: axis(colors, { type: 'category', data: x, boundaryGap: type === 'bar' }),
    yAxis: axis(colors, { type: 'value', name: percent ? '%' : unit, max: percent ? 100 : null }),
    series: data.map((s, i) => ({
      name: s.name,
      type,
      data: s.values,
      stack: stacked && !s.dashed ? 'total' : undefined,
      areaStyle: stacked && type === 'line' && !s.dashed ? { opacity: 0.55 } : undefined,
      showSymbol: false,
      lineStyle: { width: s.dashed ? 1.5 : 2, type: s.dashed ? 'dashed' : 'solid' },
      itemStyle: { color: s.color || SERIES_COLORS[i % SERIES_COLORS.length] },
      emphasis: { focus: 'series' },
    })),
  };
}

function shares(series) {
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const totals = Array.from({ length: n }, (_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  return series.map((s) => ({ ...s, values: s.values.map((v, i) => (totals[i] > 0 ? (100 * (v || 0)) / totals[i] : 0)) }));
}

// Grouped horizontal bars: one group per category (e.g. policies), one bar per series.
export function barsOption(colors, { title, categories, series, unit }) {
  return {
    ...frame(colors, title, series.length > 1),
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, confine: true, valueFormatter: (v) => num(v, 4) },
    xAxis: axis(colors, { type: 'value', name: unit }),
    yAxis: axis(colors, { type: 'category', data: categories, inverse: true }),
    series: series.map((s, i) => ({
      name: s.name,
      type: 'bar',
      data: s.values,
      itemStyle: { color: s.color || SERIES_COLORS[i % SERIES_COLORS.length] },
      label: { show: true, position: 'right', color: colors.muted, formatter: (p) => num(p.value, 4) },
    })),
  };
}

// A chart in an element, redrawn from `build(colors)` whenever its data or the theme changes.
export class Chart {
  constructor(element, build) {
    this.element = element;
    this.build = build;
    this.chart = echarts.init(element, null, { renderer: 'canvas' });
    new ResizeObserver(() => this.chart.resize()).observe(element);
    onThemeChange(() => this.draw());
  }

  option() {
    return this.build(themeColors());
  }

  draw() {
    this.chart.setOption(this.option(), { notMerge: true, lazyUpdate: true });
    this.element.dataset.drawn = 'true';
  }

  // PNG from the canvas; SVG from the same option drawn again by the SVG renderer.
  export(type, name) {
    const colors = themeColors();
    if (type === 'png') {
      download(this.chart.getDataURL({ type: 'png', pixelRatio: 2, backgroundColor: colors.background }), `${name}.png`);
      return;
    }
    const holder = document.createElement('div');
    const svg = echarts.init(holder, null, { renderer: 'svg', width: this.chart.getWidth(), height: this.chart.getHeight() });
    svg.setOption({ ...this.build(colors), backgroundColor: colors.background });
    const text = svg.renderToSVGString();
    svg.dispose();
    const url = URL.createObjectURL(new Blob([text], { type: 'image/svg+xml' }));
    download(url, `${name}.svg`);
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }
}

function download(url, fileName) {
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
}
