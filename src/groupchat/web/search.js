// Message search (GET /api/search): a dialog with the query and the room to look in, results with
// the server's highlighted snippets, and each result opening its message in its room.
import { api, enc } from './api.js';
import { h, field, modal, timeEl, uid } from './dom.js';
import { htmlFragment } from './message.js';
import { authorName } from './reply.js';
import { navigate } from './router.js';
import { state, sortedRooms } from './store.js';

const PAGE = 20;

function scopeSelect() {
  const here = state.current && state.rooms.get(state.current);
  const options = [h('option', { value: '', text: 'All your rooms' })];
  for (const r of sortedRooms()) options.push(h('option', { value: r.id, text: r.name, selected: here && r.id === here.id }));
  return h('select', {}, options);
}

function openHit(m, dlg) {
  dlg.close();
  state.jump = { roomId: m.room_id, message: m };
  navigate(`/rooms/${enc(m.room_id)}`);
}

function resultItem({ message: m, snippet_html: snippet }, dlg) {
  const room = state.rooms.get(m.room_id);
  const btn = h(
    'button',
    { type: 'button', class: 'hit' },
    h(
      'span',
      { class: 'hit-head' },
      h('span', { class: 'hit-room', text: room ? room.name : 'A public room' }),
      h('span', { class: 'hit-author', text: authorName(m) }),
      timeEl(m.created_at),
    ),
    // Only the server's sanitized snippet (text and <mark>), re-checked like any content_html.
    h('span', { class: 'hit-snippet' }, htmlFragment(snippet)),
  );
  btn.addEventListener('click', () => openHit(m, dlg));
  return h('li', {}, btn);
}

/** Open the search dialog (looking in the open room when there is one). */
export function openSearch() {
  const input = h('input', { type: 'search', autocomplete: 'off', maxlength: '200', enterkeyhint: 'search' });
  const scope = scopeSelect();
  const status = h('p', { class: 'hint search-status', role: 'status', id: uid('search') });
  const list = h('ul', { class: 'search-results', 'aria-label': 'Results', 'aria-describedby': status.id });
  const more = h('button', { type: 'button', class: 'btn', text: 'More results', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn primary', text: 'Search' });
  const form = h(
    'form',
    { class: 'search-form', role: 'search' },
    field('Search messages', input),
    field('Look in', scope),
    h('div', { class: 'actions' }, submit),
  );
  const dlg = modal('Search messages', [form, status, list, more], { cls: 'wide' });
  let query = null;
  let found = [];

  async function run(before) {
    const params = new URLSearchParams({ q: query.q, limit: String(PAGE) });
    if (query.room) params.set('room_id', query.room);
    if (before) params.set('before', before);
    status.textContent = 'Searching…';
    more.hidden = true;
    try {
      const res = await api.get(`/api/search?${params}`);
      found = before ? found.concat(res.results) : res.results;
      list.replaceChildren(...found.map((r) => resultItem(r, dlg)));
      const n = found.length;
      status.textContent = n ? `${n}${res.has_more ? '+' : ''} result${n === 1 ? '' : 's'}` : 'No messages match.';
      more.hidden = !res.has_more;
    } catch (e) {
      if (!before) list.replaceChildren();
      status.textContent = e.message;
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!input.value.trim()) return input.focus();
    query = { q: input.value.trim(), room: scope.value };
    run(null);
  });
  more.addEventListener('click', () => {
    const focusAt = found.length;
    run(found.at(-1).message.id).then(() => list.children[focusAt]?.querySelector('button')?.focus());
  });
  input.focus();
  return dlg;
}
