// Small DOM helpers: element builder, avatars, time formatting, dialogs and toasts.
import { icon } from './icons.js';

let counter = 0;

/** A unique element id with the given prefix. */
export function uid(prefix = 'id') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Create an element: h('button', {class, text, onclick, 'aria-label'}, ...children). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) for (const [k, v] of Object.entries(props)) setProp(el, k, v);
  return append(el, children);
}

function setProp(el, key, value) {
  if (value === undefined || value === null || value === false) return;
  if (key === 'class') el.className = value;
  else if (key === 'text') el.textContent = value;
  else if (key === 'dataset') Object.assign(el.dataset, value);
  else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
  else if (key === 'value' || key === 'checked' || key === 'selected') el[key] = value;
  else el.setAttribute(key, value === true ? '' : String(value));
}

/** Append children (nodes, strings, nested arrays; null/false skipped). */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Text only screen readers announce. */
export function srOnly(text) {
  return h('span', { class: 'sr-only', text });
}

/** A labelled form field: visible <label> bound to the control, optional hint. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f');
  const hintEl = hint ? h('p', { class: 'hint', id: `${control.id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id, text: label }), control, hintEl);
}

/** A checkbox with its label after it. */
/** A form's submit: the button disabled and `busy` in the status line while `action` runs, then
 * the text it returns, or `errorText(err)` marked as an error. */
export function submitWithStatus(form, button, status, busy, action, errorText = (err) => err.message) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    status.className = 'form-status';
    status.textContent = busy;
    try {
      status.textContent = await action();
    } catch (err) {
      status.textContent = errorText(err);
      status.classList.add('error');
    }
    button.disabled = false;
  });
}

export function checkField(label, control, hint) {
  if (!control.id) control.id = uid('f');
  const hintEl = hint ? h('p', { class: 'hint', id: `${control.id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h(
    'div',
    { class: 'field check' },
    control,
    h('div', {}, h('label', { for: control.id, text: label }), hintEl),
  );
}

/** A button with an icon and a visible or screen-reader-only label. */
export function iconButton(name, label, onclick, cls = 'icon-btn') {
  return h('button', { type: 'button', class: cls, 'aria-label': label, title: label, onclick }, icon(name));
}

/** Display name of a user object. */
export function nameOf(user) {
  return (user && (user.display_name || user.username)) || 'Unknown';
}

function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const chars =
    parts.length > 1 ? [Array.from(parts[0])[0], Array.from(parts.at(-1))[0]] : Array.from(parts[0] || '?').slice(0, 1);
  return chars.join('').toUpperCase();
}

function hue(text) {
  let x = 7;
  for (const ch of text) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x % 8;
}

/** Avatar of a user (image or initials); null user means the AI. */
export function avatar(user, size = 'md') {
  if (!user) return h('span', { class: `avatar av-${size} ai-avatar`, 'aria-hidden': 'true' }, icon('sparkle'));
  if (user.avatar_url) return h('img', { class: `avatar av-${size}`, src: user.avatar_url, alt: '', loading: 'lazy' });
  const cls = `avatar av-${size} c${hue(user.id || user.username || '')}`;
  return h('span', { class: cls, 'aria-hidden': 'true', text: initials(nameOf(user)) });
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Local calendar day of a timestamp, for grouping. */
export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** "Today", "Yesterday" or a date. */
export function dayLabel(iso) {
  const d = new Date(iso);
  const now = new Date();
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (sameDay(d, now)) return 'Today';
  if (sameDay(d, yesterday)) return 'Yesterday';
  const year = d.getFullYear() === now.getFullYear() ? undefined : 'numeric';
  return d.toLocaleDateString([], { weekday: 'long', month: 'long', day: 'numeric', year });
}

/** Short clock time, e.g. 14:05. */
export function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });
}

/** Compact time for lists: clock today, weekday this week, else date. */
export function shortWhen(iso) {
  const d = new Date(iso);
  const now = new Date();
  if (sameDay(d, now)) return clock(iso);
  if (now - d < 6 * 864e5) return d.toLocaleDateString([], { weekday: 'short' });
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

/** A <time> element showing the clock time, full date as tooltip. */
export function timeEl(iso, cls = 'time') {
  return h('time', { class: cls, datetime: iso, title: new Date(iso).toLocaleString(), text: clock(iso) });
}

/** Open a modal <dialog>; returns it (call .close()). */
export function modal(title, content, { cls = '', onClose } = {}) {
  const titleId = uid('dlg');
  const close = iconButton('x', 'Close', () => dlg.close());
  const dlg = h(
    'dialog',
    { class: `modal ${cls}`.trim(), 'aria-labelledby': titleId },
    h('header', { class: 'modal-head' }, h('h2', { id: titleId, text: title }), close),
    h('div', { class: 'modal-body' }, content),
  );
  dlg.addEventListener('close', () => {
    dlg.remove();
    if (onClose) onClose();
  });
  dlg.addEventListener('mousedown', (e) => {
    if (e.target === dlg) dlg.close();
  });
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

/** Ask for confirmation in a dialog; resolves true when confirmed. */
export function confirmDialog(title, text, okLabel, danger = true) {
  return new Promise((resolve) => {
    let ok = false;
    const yes = h('button', { type: 'button', class: danger ? 'btn danger' : 'btn primary', text: okLabel });
    const no = h('button', { type: 'button', class: 'btn', text: 'Cancel' });
    const dlg = modal(title, [h('p', { text }), h('div', { class: 'actions' }, no, yes)], {
      cls: 'small',
      onClose: () => resolve(ok),
    });
    yes.addEventListener('click', () => {
      ok = true;
      dlg.close();
    });
    no.addEventListener('click', () => dlg.close());
    no.focus();
  });
}

/** Show a short notice at the bottom of the screen. */
export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : null }, text);
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 7000 : 4000);
}

/** A random id for client_id (works outside secure contexts too). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Copy text to the clipboard, with a fallback for insecure contexts. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!input) return false;
    input.select();
    return document.execCommand('copy');
  }
}
