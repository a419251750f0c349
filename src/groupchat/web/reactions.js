// Reactions: chips with counts under a message (click toggles yours, names on hover and focus) and the picker.
import { api, enc } from './api.js';
import { reactionChanged } from './changes.js';
import { h, modal, uid, field, toast } from './dom.js';
import { memberName } from './roster.js';
import { state } from './store.js';

const COMMON = [
  ['👍', 'thumbs up'],
  ['❤️', 'heart'],
  ['😂', 'laughing'],
  ['🎉', 'party'],
  ['😮', 'surprised'],
  ['😢', 'sad'],
  ['🙏', 'thanks'],
  ['👀', 'eyes'],
];

/** Add (or, with add=false, remove) the signed-in user's reaction. */
export async function react(m, emoji, add = true) {
  const path = `/api/messages/${enc(m.id)}/reactions/${enc(emoji)}`;
  if (add) await api.put(path);
  else await api.del(path);
  reactionChanged(m.room_id, m.id, emoji, state.me.id, add);
}

function chip(m, r) {
  const mine = !!state.me && r.user_ids.includes(state.me.id);
  const tipId = uid('tip');
  const names = r.user_ids.map((id) => memberName(m.room_id, id));
  const btn = h(
    'button',
    {
      type: 'button',
      class: `reaction${mine ? ' mine' : ''}`,
      'aria-pressed': String(mine),
      'aria-label': `${r.emoji} ${r.count}`,
      'aria-describedby': tipId,
      dataset: { key: `reaction:${r.emoji}` },
    },
    h('span', { class: 'emoji', 'aria-hidden': 'true', text: r.emoji }),
    h('span', { class: 'count', 'aria-hidden': 'true', text: String(r.count) }),
  );
  btn.addEventListener('click', () => react(m, r.emoji, !mine).catch((e) => toast(e.message, 'error')));
  const tip = h('span', { class: 'tip', role: 'tooltip', id: tipId, text: `${r.emoji} ${names.join(', ')}` });
  return h('li', { class: 'reaction-item' }, btn, tip);
}

/** The reaction chips of a message, or null when it has none. */
export function reactionChips(m) {
  const list = m.reactions || [];
  if (!list.length) return null;
  return h('ul', { class: 'reactions', 'aria-label': 'Reactions' }, list.map((r) => chip(m, r)));
}

function emojiGrid(isMine, pick) {
  return h(
    'div',
    { class: 'emoji-grid', role: 'group', 'aria-label': 'Common reactions' },
    COMMON.map(([emoji, name]) =>
      h('button', {
        type: 'button',
        class: 'emoji-btn',
        'aria-label': `${emoji} ${name}`,
        'aria-pressed': String(isMine(emoji)), // choosing one of yours takes it back
        title: name,
        text: emoji,
        onclick: () => pick(emoji),
      }),
    ),
  );
}

function anyEmojiForm(pick) {
  const input = h('input', { type: 'text', maxlength: '32', autocomplete: 'off', spellcheck: 'false' });
  const form = h(
    'form',
    { class: 'emoji-form' },
    field('Any emoji', input, 'Type or paste one emoji.'),
    h('button', { type: 'submit', class: 'btn', text: 'React' }),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const emoji = input.value.trim();
    if (emoji) pick(emoji);
  });
  return form;
}

function pickerBody(m, done) {
  const now = () => state.data.get(m.room_id)?.byId.get(m.id) || m; // reactions change while it is open
  const isMine = (emoji) => (now().reactions || []).some((r) => r.emoji === emoji && r.user_ids.includes(state.me.id));
  const error = h('p', { class: 'form-error', role: 'alert' });
  const pick = async (emoji) => {
    try {
      await react(m, emoji, !isMine(emoji));
      done();
    } catch (e) {
      error.textContent = e.message;
    }
  };
  const grid = emojiGrid(isMine, pick);
  return { content: [grid, anyEmojiForm(pick), error], first: grid.firstElementChild };
}

/** Open the reaction picker for a message; `onClose` runs once it is closed. */
export function openPicker(m, onClose) {
  let dlg = null;
  const body = pickerBody(m, () => dlg.close());
  dlg = modal('Add a reaction', body.content, { cls: 'small picker', onClose });
  body.first.focus();
}
