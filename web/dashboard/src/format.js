// Number and time formats shared by the dashboard and the report.
export function num(value, digits = 3) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e6 || abs < 1e-3) return value.toExponential(Math.max(0, digits - 1));
  return value.toLocaleString('en-US', { maximumSignificantDigits: digits });
}

export function fixed(value, decimals) {
  return Number.isFinite(value) ? value.toFixed(decimals) : '–';
}

// "+12.3%" for a change of `value` against `base`.
export function change(value, base) {
  if (!Number.isFinite(value) || !Number.isFinite(base) || base === 0) return '–';
  const pct = (100 * (value - base)) / base;
  return `${pct > 0 ? '+' : ''}${pct.toFixed(1)}%`;
}

// Watts as W or kW, whichever reads better.
export function power(kw) {
  if (!Number.isFinite(kw)) return '–';
  return Math.abs(kw) < 1 ? `${num(kw * 1000)} W` : `${num(kw)} kW`;
}

// "05:37" (UTC) of a Unix time.
export function timeOfDay(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
}

// "2024-07-01 05:37 UTC".
export function utc(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  return `${d.toISOString().slice(0, 10)} ${timeOfDay(unixSeconds)} UTC`;
}
