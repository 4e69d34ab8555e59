// Hand-written SVG charts for the benchmark report (no libraries): a line plot with min–max whiskers and a horizontal
// stacked bar chart. Plain SVG 1.1 with inline attributes, so browsers, GitHub and rsvg-convert render it alike.

const FONT = 'font-family="DejaVu Sans, Verdana, Arial, sans-serif"';
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const r1 = (x) => Math.round(x * 10) / 10;

/** Axis ticks from 0 to at least `max`: a 1/2/5 × 10^k step, about `count` ticks. */
export function ticks(max, count = 6) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw);
  const out = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

const text = (x, y, s, attrs = '') => `<text x="${r1(x)}" y="${r1(y)}" ${FONT} ${attrs}>${esc(s)}</text>`;
const line = (x1, y1, x2, y2, attrs) => `<line x1="${r1(x1)}" y1="${r1(y1)}" x2="${r1(x2)}" y2="${r1(y2)}" ${attrs}/>`;

function frame(width, height, body, title) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
<title>${esc(title)}</title>
<rect width="${width}" height="${height}" fill="#ffffff"/>
${body.join('\n')}
</svg>
`;
}

/**
 * Line plot. `series`: [{ name, color, dash?, points: [{ x, y, lo, hi }] }] (lo/hi: whisker, optional).
 * The x axis is linear from 0 to the largest x, ticks at `xTicks`; the y axis from 0.
 */
export function linePlot({ title, subtitle, xLabel, yLabel, xTicks, series, width = 760, height = 460 }) {
  const m = { left: 72, right: 270, top: subtitle ? 62 : 46, bottom: 58 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const xMax = Math.max(...xTicks);
  const yTicks = ticks(Math.max(...series.flatMap((s) => s.points.map((p) => p.hi ?? p.y))));
  const yMax = yTicks[yTicks.length - 1];
  const X = (x) => m.left + (x / xMax) * pw;
  const Y = (y) => m.top + ph - (y / yMax) * ph;
  const b = [text(m.left, 24, title, 'font-size="16" font-weight="bold"')];
  if (subtitle) b.push(text(m.left, 44, subtitle, 'font-size="12" fill="#444"'));
  for (const v of yTicks) {
    b.push(line(m.left, Y(v), m.left + pw, Y(v), 'stroke="#e3e3e3" stroke-width="1"'));
    b.push(text(m.left - 8, Y(v) + 4, v, 'font-size="12" text-anchor="end" fill="#333"'));
  }
  for (const v of xTicks) {
    b.push(line(X(v), m.top + ph, X(v), m.top + ph + 5, 'stroke="#333"'));
    b.push(text(X(v), m.top + ph + 20, v, 'font-size="12" text-anchor="middle" fill="#333"'));
  }
  b.push(line(m.left, m.top, m.left, m.top + ph, 'stroke="#333" stroke-width="1.2"'));
  b.push(line(m.left, m.top + ph, m.left + pw, m.top + ph, 'stroke="#333" stroke-width="1.2"'));
  b.push(text(m.left + pw / 2, height - 12, xLabel, 'font-size="13" text-anchor="middle"'));
  b.push(text(18, m.top + ph / 2, yLabel, `font-size="13" text-anchor="middle" transform="rotate(-90 18 ${r1(m.top + ph / 2)})"`));
  series.forEach((s, k) => {
    const pts = s.points.map((p) => `${r1(X(p.x))},${r1(Y(p.y))}`).join(' ');
    b.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    for (const p of s.points) {
      const dx = (k - (series.length - 1) / 2) * 4; // spread whiskers of series sharing an x
      if (p.lo !== undefined) {
        b.push(line(X(p.x) + dx, Y(p.lo), X(p.x) + dx, Y(p.hi), `stroke="${s.color}" stroke-width="1.2" opacity="0.7"`));
        for (const v of [p.lo, p.hi]) b.push(line(X(p.x) + dx - 3, Y(v), X(p.x) + dx + 3, Y(v), `stroke="${s.color}" stroke-width="1.2" opacity="0.7"`));
      }
      b.push(`<circle cx="${r1(X(p.x))}" cy="${r1(Y(p.y))}" r="4" fill="${s.color}"/>`);
    }
    const ly = m.top + 10 + k * 40;
    const lx = m.left + pw + 78;
    b.push(line(lx, ly, lx + 26, ly, `stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}`));
    b.push(`<circle cx="${lx + 13}" cy="${ly}" r="4" fill="${s.color}"/>`);
    b.push(text(lx + 34, ly + 4, s.name, 'font-size="12"'));
    if (s.note) b.push(text(lx + 34, ly + 20, s.note, 'font-size="11" fill="#555"'));
  });
  b.push(text(m.left + pw + 78, m.top + 20 + series.length * 40, 'dots: medians, values at the', 'font-size="11" fill="#555"'));
  b.push(text(m.left + pw + 78, m.top + 34 + series.length * 40, 'right end; whiskers: min–max', 'font-size="11" fill="#555"'));
  // the last median of every series, right of the plot, nudged apart so none overlap
  const ends = series.map((s) => ({ s, y: Y(s.points.at(-1).y), v: s.points.at(-1).y })).sort((a, b) => a.y - b.y);
  for (let k = 1; k < ends.length; k++) ends[k].y = Math.max(ends[k].y, ends[k - 1].y + 14);
  for (const e of ends) b.push(text(m.left + pw + 10, e.y + 4, `${e.v >= 100 ? e.v.toFixed(0) : e.v.toFixed(1)} ms`, `font-size="12" fill="${e.s.color}" font-weight="bold"`));
  return frame(width, height, b, title);
}

/**
 * Horizontal stacked bars. `bars`: [{ label, sublabel?, segments: [{ name, value, color }] }]. Every distinct segment name
 * gets one legend entry (with its value in the first bar that has it).
 */
export function stackedBars({ title, subtitle, xLabel, bars, width = 860, legendValues = true }) {
  const legend = [];
  for (const bar of bars) for (const s of bar.segments) if (!legend.some((l) => l.name === s.name)) legend.push(s);
  const m = { left: 170, right: 70, top: subtitle ? 62 : 46, bottom: 60 };
  const barH = 34;
  const gap = 22;
  const ph = bars.length * (barH + gap);
  const legendRows = Math.ceil(legend.length / 2);
  const height = m.top + ph + m.bottom + legendRows * 20 + 10;
  const pw = width - m.left - m.right;
  const xTicks = ticks(Math.max(...bars.map((b) => b.segments.reduce((s, x) => s + x.value, 0))), 8);
  const xMax = xTicks[xTicks.length - 1];
  const X = (v) => m.left + (v / xMax) * pw;
  const b = [text(16, 24, title, 'font-size="16" font-weight="bold"')];
  if (subtitle) b.push(text(16, 44, subtitle, 'font-size="12" fill="#444"'));
  for (const v of xTicks) {
    b.push(line(X(v), m.top - 6, X(v), m.top + ph, 'stroke="#e3e3e3" stroke-width="1"'));
    b.push(text(X(v), m.top + ph + 18, v, 'font-size="12" text-anchor="middle" fill="#333"'));
  }
  b.push(line(m.left, m.top + ph, m.left + pw, m.top + ph, 'stroke="#333" stroke-width="1.2"'));
  b.push(text(m.left + pw / 2, m.top + ph + 40, xLabel, 'font-size="13" text-anchor="middle"'));
  bars.forEach((bar, i) => {
    const y = m.top + i * (barH + gap) + gap / 2;
    b.push(text(m.left - 10, y + barH / 2 + (bar.sublabel ? -2 : 4), bar.label, 'font-size="13" text-anchor="end" font-weight="bold"'));
    if (bar.sublabel) b.push(text(m.left - 10, y + barH / 2 + 13, bar.sublabel, 'font-size="11" text-anchor="end" fill="#444"'));
    let acc = 0;
    for (const s of bar.segments) {
      const w = X(acc + s.value) - X(acc);
      b.push(`<rect x="${r1(X(acc))}" y="${r1(y)}" width="${r1(Math.max(w, 0))}" height="${barH}" fill="${s.color}" stroke="#ffffff" stroke-width="0.8"><title>${esc(`${s.name}: ${s.value.toFixed(2)} ms`)}</title></rect>`);
      if (w > 26) b.push(text(X(acc) + w / 2, y + barH / 2 + 4, s.value.toFixed(1), 'font-size="11" text-anchor="middle" fill="#ffffff"'));
      acc += s.value;
    }
    b.push(text(X(acc) + 6, y + barH / 2 + 4, `${acc.toFixed(1)} ms`, 'font-size="12" fill="#222"'));
  });
  const ly0 = m.top + ph + m.bottom;
  legend.forEach((s, k) => {
    const lx = 16 + (k % 2) * (width / 2);
    const ly = ly0 + Math.floor(k / 2) * 20;
    b.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="12" fill="${s.color}"/>`);
    b.push(text(lx + 20, ly, legendValues ? `${s.name} (${s.value.toFixed(2)} ms)` : s.name, 'font-size="12"'));
  });
  return frame(width, height, b, title);
}
