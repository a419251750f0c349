// "Verify history": fetch the room's chain page by page, recompute every hash in the browser, and
// check the messages shown here against it.
import { api, enc } from './api.js';
import { checkMessage, verifyChain } from './chain.js';
import { h, modal, timeEl } from './dom.js';
import { memberName } from './roster.js';
import { emit, state } from './store.js';

const PAGE = 1000;
const WHY = {
  link: 'Its prev_hash is not the hash of the entry before it: an entry was removed, added or reordered.',
  content: 'Its text does not match the fingerprint (content_sha256) the chain recorded: the text was changed.',
  hash: 'Its hash does not match its fields: the entry was changed after it was stored.',
  missing: 'The history has no entry for it with that hash: it was added or changed outside the chain.',
  shown: 'Its text is not the latest version the history recorded: the stored message was changed.',
};
const KIND = { message: 'A message', edit: 'An edit', delete: 'A deletion' };
const entries = (n) => `${n.toLocaleString('en-US')} ${n === 1 ? 'entry' : 'entries'}`;

function authorOf(roomId, type, id) {
  if (type === 'ai') return 'the AI';
  if (type === 'system') return 'the system';
  return id ? memberName(roomId, id) : 'an unknown author';
}

function facts(pairs) {
  return h('dl', { class: 'verify-facts' }, pairs.map(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]));
}

function showButton(roomId, id, dlg) {
  if (!id || !state.data.get(roomId)?.byId.has(id)) return null;
  const show = h('button', { type: 'button', class: 'btn small', text: 'Show the message' });
  show.addEventListener('click', () => {
    dlg.jumped = true; // the focus goes to the message, not back to the button that opened the dialog
    dlg.close();
    emit('jump', { roomId, id });
  });
  return h('div', { class: 'actions' }, show);
}

function breakReport(roomId, { entry, index, why }, dlg) {
  const target = entry.kind === 'message' || !entry.kind ? entry.id : entry.target_id;
  return [
    h('p', { class: 'verify-bad', text: `✗ The history breaks at entry ${(index + 1).toLocaleString('en-US')}` }),
    h('p', { text: `The ${entries(index)} before it verified. ${WHY[why]}` }),
    facts([
      ['Entry', `${KIND[entry.kind] || KIND.message} by ${authorOf(roomId, entry.author_type, entry.author_id)}`],
      ['Stored', entry.created_at ? timeEl(entry.created_at) : '?'],
      ['Entry id', h('code', { text: entry.id })],
    ]),
    showButton(roomId, target, dlg),
  ];
}

function mismatchReport(roomId, n, { m, why }, dlg) {
  const who = authorOf(roomId, m.author_type, m.author?.id);
  const reason = WHY[why === 'missing' ? 'missing' : 'shown'];
  return [
    h('p', { class: 'verify-bad', text: '✗ A message shown here does not match the history' }),
    h('p', { text: `The ${entries(n)} of the history verified, but this message by ${who} does not. ${reason}` }),
    facts([
      ['Sent', timeEl(m.created_at)],
      ['Message id', h('code', { text: m.id })],
    ]),
    showButton(roomId, m.id, dlg),
  ];
}

/** The first loaded message that does not match the verified chain, with why, or null. */
async function firstMismatch(roomId, latest) {
  for (const m of state.data.get(roomId)?.messages || []) {
    const why = await checkMessage(m, latest);
    if (why) return { m, why };
  }
  return null;
}

async function outcomeOf(roomId, status, dlg) {
  const fetchPage = (after) =>
    api.get(`/api/rooms/${enc(roomId)}/chain?limit=${PAGE}${after ? `&after=${enc(after)}` : ''}`);
  const out = await verifyChain(fetchPage, (n) => (status.textContent = `Checked ${entries(n)}…`));
  if (out.broken) return breakReport(roomId, out.broken, dlg);
  const bad = await firstMismatch(roomId, out.latest);
  if (bad) return mismatchReport(roomId, out.count, bad, dlg);
  const note = out.linked
    ? `${entries(out.linked)} (messages from before version 2, since deleted) could be checked by their links only: ` +
      'their hash covered the text, which is erased.'
    : null;
  return [
    h('p', { class: 'verify-ok', text: `✓ ${entries(out.count)} verified` }),
    note && h('p', { class: 'hint', text: note }),
  ];
}

async function run(roomId, status, result, dlg) {
  try {
    result.replaceChildren(...(await outcomeOf(roomId, status, dlg)).filter(Boolean));
  } catch (e) {
    result.replaceChildren(h('p', { class: 'form-error', text: `Could not verify: ${e.message}` }));
  }
  status.textContent = '';
  result.removeAttribute('aria-busy');
}

/** Open the "Verify history" dialog of a room and start checking at once. */
export function openVerify(roomId, onClose) {
  const status = h('p', { class: 'hint', role: 'status', text: 'Fetching the history…' });
  const result = h('div', { class: 'verify-result', 'aria-live': 'polite', 'aria-busy': 'true' });
  const about = h('p', {
    text:
      'Every message, edit and deletion in this room is linked to the one before it by a SHA-256 hash. ' +
      'Your browser fetches them all and recomputes every hash itself, then checks the messages shown here.',
  });
  const dlg = modal('Verify history', [about, status, result], { onClose: () => !dlg.jumped && onClose && onClose() });
  run(roomId, status, result, dlg);
  return dlg;
}
