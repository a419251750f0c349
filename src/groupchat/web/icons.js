// Inline SVG icons drawn for this client (simple geometric strokes, no third-party sets).
const NS = 'http://www.w3.org/2000/svg';

const ICONS = {
  plus: [['path', { d: 'M12 5v14M5 12h14' }]],
  x: [['path', { d: 'M6 6l12 12M18 6 6 18' }]],
  send: [['path', { d: 'M12 19V5M5.5 11.5 12 5l6.5 6.5' }]],
  image: [
    ['rect', { x: '3', y: '4', width: '18', height: '16', rx: '3' }],
    ['circle', { cx: '9', cy: '9.5', r: '1.8' }],
    ['path', { d: 'M3.5 17.5 9 13l3.5 3 3-2.5 5 4' }],
  ],
  sliders: [
    ['path', { d: 'M4 7h9M17 7h3M4 12h3M11 12h9M4 17h11M19 17h1' }],
    ['circle', { cx: '15', cy: '7', r: '2' }],
    ['circle', { cx: '9', cy: '12', r: '2' }],
    ['circle', { cx: '17', cy: '17', r: '2' }],
  ],
  back: [['path', { d: 'M15 5l-7 7 7 7' }]],
  users: [
    ['circle', { cx: '9', cy: '8', r: '3.5' }],
    ['path', { d: 'M2.5 20c0-3.6 2.9-6 6.5-6s6.5 2.4 6.5 6' }],
    ['circle', { cx: '17', cy: '9', r: '2.5' }],
    ['path', { d: 'M17.5 14.3c2.4.4 4 2.4 4 5.2' }],
  ],
  stop: [['rect', { x: '7', y: '7', width: '10', height: '10', rx: '2', fill: 'currentColor' }]],
  compass: [
    ['circle', { cx: '12', cy: '12', r: '9' }],
    ['path', { d: 'M15.5 8.5 13.4 13.4 8.5 15.5l2.1-4.9z' }],
  ],
  sparkle: [
    [
      'path',
      {
        d: 'M12 3.5l1.9 5.1 5.1 1.9-5.1 1.9L12 17.5l-1.9-5.1L5 10.5l5.1-1.9zM18.5 15.5l.8 2.2 2.2.8-2.2.8-.8 2.2-.8-2.2-2.2-.8 2.2-.8z',
        fill: 'currentColor',
        stroke: 'none',
      },
    ],
  ],
  globe: [
    ['circle', { cx: '12', cy: '12', r: '9' }],
    ['path', { d: 'M3 12h18M12 3c3 3.4 3 14.6 0 18M12 3c-3 3.4-3 14.6 0 18' }],
  ],
  lock: [
    ['rect', { x: '5', y: '11', width: '14', height: '10', rx: '2.5' }],
    ['path', { d: 'M8 11V8a4 4 0 0 1 8 0v3' }],
  ],
  down: [['path', { d: 'M6 9l6 6 6-6' }]],
  copy: [
    ['rect', { x: '9', y: '9', width: '11', height: '11', rx: '2.5' }],
    ['path', { d: 'M5 15V6.5A2.5 2.5 0 0 1 7.5 4H15' }],
  ],
  logout: [['path', { d: 'M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4M10 8l-4 4 4 4M6 12h10' }]],
  user: [
    ['circle', { cx: '12', cy: '8.5', r: '4' }],
    ['path', { d: 'M4.5 20.5c.8-3.8 3.8-6 7.5-6s6.7 2.2 7.5 6' }],
  ],
  hash: [['path', { d: 'M5 9h15M4 15h15M10.5 4 8.5 20M15.5 4l-2 16' }]],
  check: [['path', { d: 'M5 12.5l4.5 4.5L19 7.5' }]],
  alert: [
    ['circle', { cx: '12', cy: '12', r: '9' }],
    ['path', { d: 'M12 7.5v5.5M12 16.5v.5' }],
  ],
  chat: [
    [
      'path',
      {
        d: 'M4 6.5A2.5 2.5 0 0 1 6.5 4h11A2.5 2.5 0 0 1 20 6.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.5 3.5V17h0A2.5 2.5 0 0 1 4 14.5z',
      },
    ],
  ],
  shield: [
    ['path', { d: 'M12 3.5 19 6v5.5c0 4.3-2.9 7.6-7 9-4.1-1.4-7-4.7-7-9V6z' }],
    ['path', { d: 'M9 12l2 2 4-4' }],
  ],
  chain: [
    ['path', { d: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1' }],
    ['path', { d: 'M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1' }],
  ],
  reply: [['path', { d: 'M10 8 5 12.5l5 4.5M5.5 12.5H14a5 5 0 0 1 5 5V19' }]],
  edit: [['path', { d: 'M14.5 5.5l4 4M4.5 19.5l1-4.5 10-10a1.4 1.4 0 0 1 2 0l2 2a1.4 1.4 0 0 1 0 2l-10 10z' }]],
  trash: [['path', { d: 'M4.5 7h15M9.5 7V5h5v2M6.5 7l1 12.5h9l1-12.5M10.5 11v5M13.5 11v5' }]],
  smile: [
    ['circle', { cx: '12', cy: '12', r: '9' }],
    ['path', { d: 'M8.5 14.5c.9 1.2 2.1 1.8 3.5 1.8s2.6-.6 3.5-1.8M9 9.5v.5M15 9.5v.5' }],
  ],
  key: [
    ['circle', { cx: '8', cy: '15', r: '4' }],
    ['path', { d: 'M11 12l8-8M16 7l2.5 2.5M14 9l2 2' }],
  ],
  search: [
    ['circle', { cx: '10.5', cy: '10.5', r: '6' }],
    ['path', { d: 'M15 15l5 5' }],
  ],
  bell: [['path', { d: 'M6 16.5V11a6 6 0 0 1 12 0v5.5l1.5 1.5h-15zM10 20.5h4' }]],
};

/** Build an <svg> icon (decorative: hidden from assistive technology). */
export function icon(name, cls = '') {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', cls ? `icon ${cls}` : 'icon');
  for (const [tag, attrs] of ICONS[name] || []) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    svg.append(el);
  }
  return svg;
}
