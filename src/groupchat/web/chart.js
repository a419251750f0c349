// Inline SVG bar charts drawn by the client (no chart library): an accessible image plus its data.
import { uid } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
const H = 220;
const PAD = { top: 14, right: 12, bottom: 28, left: 56 };
// Drawn at about the size it is shown, so its text stays readable on a phone too.
const width = () => (matchMedia('(max-width: 760px)').matches ? 360 : 640);
let W = 640;

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A round top for the y axis (1, 2, 4, 6 or 8 times a power of ten, so its half is round too). */
export function niceMax(max) {
  if (!(max > 0)) return 0.01;
  const step = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 4, 6, 8, 10]) if (m * step >= max) return m * step;
  return 10 * step;
}

function axis(top, format) {
  const g = svg('g', { class: 'chart-axis' });
  for (const f of [0, 0.5, 1]) {
    const y = PAD.top + (H - PAD.top - PAD.bottom) * (1 - f);
    g.append(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: f ? 'chart-grid' : 'chart-base' }));
    g.append(svg('text', { x: PAD.left - 6, y: y + 4, 'text-anchor': 'end' }, format(top * f)));
  }
  return g;
}

function bars(points, top) {
  const g = svg('g', { class: 'chart-bars' });
  const inner = W - PAD.left - PAD.right;
  const height = H - PAD.top - PAD.bottom;
  const slot = inner / Math.max(points.length, 1);
  const width = Math.max(1, slot * 0.7);
  points.forEach((p, i) => {
    const bh = top > 0 ? (p.value / top) * height : 0;
    const x = PAD.left + i * slot + (slot - width) / 2;
    const bar = svg('rect', { x, y: PAD.top + height - bh, width, height: bh, rx: Math.min(3, width / 3) });
    bar.append(svg('title', {}, `${p.label}: ${p.text}`));
    g.append(bar);
  });
  return g;
}

function labels(points) {
  const g = svg('g', { class: 'chart-axis' });
  const inner = W - PAD.left - PAD.right;
  const slot = inner / Math.max(points.length, 1);
  const every = Math.max(1, Math.ceil(points.length / (W < 500 ? 4 : 6)));
  points.forEach((p, i) => {
    if (i % every && i !== points.length - 1) return;
    if (i !== points.length - 1 && points.length - 1 - i < every / 2) return;
    const x = PAD.left + i * slot + slot / 2;
    g.append(svg('text', { x, y: H - 8, 'text-anchor': 'middle' }, p.short || p.label));
  });
  return g;
}

/**
 * A bar chart as an <svg role="img"> named by `title` and described by `desc` (a sentence that
 * states what it shows); `points` are {label, short?, value, text}. Callers show the numbers
 * in a table as well.
 */
export function barChart({ title, desc, points, format }) {
  W = width();
  const titleId = uid('chart');
  const descId = uid('chart-desc');
  const top = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const root = svg('svg', {
    class: 'chart',
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-labelledby': titleId,
    'aria-describedby': descId,
    preserveAspectRatio: 'xMidYMid meet',
  });
  root.append(svg('title', { id: titleId }, title), svg('desc', { id: descId }, desc));
  root.append(axis(top, format), bars(points, top), labels(points));
  return root;
}
