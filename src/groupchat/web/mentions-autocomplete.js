// "@" autocomplete in the composer: the room's members and the AI's name in a listbox the text
// field controls (aria-activedescendant); arrows move, Enter or Tab picks, Escape closes.
import { h, nameOf, uid } from './dom.js';
import { membersOf } from './roster.js';
import { on, state } from './store.js';

const MAX = 8;
const TRIGGER = /(^|[^A-Za-z0-9_])@([A-Za-z0-9_.-]*)$/;

function candidates(roomId, prefix) {
  const p = prefix.toLowerCase();
  const ai = (state.server && state.server.ai_name) || state.aiName;
  const people = membersOf(roomId)
    .map((m) => m.user)
    .filter((u) => !state.me || u.id !== state.me.id)
    .map((u) => ({ username: u.username, label: nameOf(u) }));
  const all = [...people, { username: ai, label: 'AI assistant' }];
  const starts = (s) => s.toLowerCase().startsWith(p);
  return all.filter((c) => starts(c.username) || c.label.split(/\s+/).some(starts)).slice(0, MAX);
}

/** Wire the autocomplete into a textarea; returns {el, onKey(event) -> handled, close(), destroy()}. */
export function mentionsAutocomplete(input, roomId) {
  const list = h('ul', { class: 'mention-list', role: 'listbox', id: uid('mentions'), 'aria-label': 'Mention' });
  const status = h('span', { class: 'sr-only', role: 'status' });
  const el = h('div', { class: 'mention-box' }, list, status);
  let items = [];
  let active = 0;
  let start = -1;
  list.hidden = true;
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', list.id);

  function close() {
    if (list.hidden) return;
    list.hidden = true;
    items = [];
    input.removeAttribute('aria-activedescendant');
    status.textContent = '';
  }

  function show() {
    list.replaceChildren(
      ...items.map((c, i) =>
        h(
          'li',
          { role: 'option', id: `${list.id}-${i}`, 'aria-selected': String(i === active), class: 'mention-option' },
          h('span', { class: 'mention-name', text: c.label }),
          h('span', { class: 'mention-user', text: ` @${c.username}` }),
        ),
      ),
    );
    list.hidden = false;
    input.setAttribute('aria-activedescendant', `${list.id}-${active}`);
  }

  function update() {
    const before = input.value.slice(0, input.selectionStart);
    const m = input.selectionStart === input.selectionEnd ? TRIGGER.exec(before) : null;
    items = m ? candidates(roomId, m[2]) : [];
    if (!items.length) return close();
    start = before.length - m[2].length - 1;
    active = 0;
    show();
    status.textContent = `${items.length} suggestion${items.length === 1 ? '' : 's'}, arrow keys to choose`;
  }

  function pick(i) {
    const c = items[i];
    const end = input.selectionStart;
    const text = `@${c.username} `;
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    input.selectionStart = input.selectionEnd = start + text.length;
    close();
    input.focus();
    input.dispatchEvent(new Event('input'));
  }

  function onKey(e) {
    if (list.hidden || e.isComposing) return false;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      active = (active + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
      show();
    } else if (e.key === 'Enter' || e.key === 'Tab') pick(active);
    else if (e.key === 'Escape') close();
    else return false;
    e.preventDefault();
    return true;
  }

  list.addEventListener('mousedown', (e) => e.preventDefault()); // keep the focus in the text field
  list.addEventListener('click', (e) => {
    const li = e.target.closest('li[role="option"]');
    if (li) pick([...list.children].indexOf(li));
  });
  input.addEventListener('input', update);
  input.addEventListener('click', update);
  input.addEventListener('blur', close);
  // The member list may arrive after the "@" was typed.
  const destroy = on('roster', (e) => e.roomId === roomId && document.activeElement === input && update());
  return { el, onKey, close, destroy };
}
