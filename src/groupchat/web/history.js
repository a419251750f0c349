// "(edited)" on an edited message, and the dialog listing its versions (GET /api/messages/{id}/history).
import { api, enc } from './api.js';
import { h, modal, timeEl } from './dom.js';
import { htmlFragment } from './message.js';

function version(v, i, last) {
  const label = i === 0 ? 'Original' : i === last ? `Edit ${i} (current)` : `Edit ${i}`;
  return h(
    'li',
    { class: 'version' },
    h('p', { class: 'version-head' }, h('strong', { text: label }), ' · ', timeEl(v.at)),
    h('div', { class: 'md' }, htmlFragment(v.content_html)),
  );
}

/** Open the edit history of a message; `onClose` runs once it is closed. */
export async function openHistory(m, onClose) {
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading', text: 'Loading…' }));
  modal('Edit history', body, { onClose });
  try {
    const { versions } = await api.get(`/api/messages/${enc(m.id)}/history`);
    body.replaceChildren(h('ol', { class: 'versions' }, versions.map((v, i) => version(v, i, versions.length - 1))));
  } catch (e) {
    const text = e.status === 410 ? 'This message was deleted.' : e.message;
    body.replaceChildren(h('p', { class: 'form-error', text }));
  }
  body.removeAttribute('aria-busy');
}

/** The "(edited)" button next to an edited message's time, opening its history. */
export function editedMark(m, onClose) {
  if (!m.edited_at) return null;
  return h('button', {
    type: 'button',
    class: 'link-btn edited',
    text: '(edited)',
    title: `Edited ${new Date(m.edited_at).toLocaleString()}: show the versions`,
    'aria-haspopup': 'dialog',
    dataset: { key: 'history' },
    onclick: () => openHistory(m, onClose),
  });
}
