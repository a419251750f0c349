// The actions of one message (react, reply, edit, delete), shown on hover and on keyboard focus.
import { deleteMessage, startEdit } from './edit.js';
import { h, iconButton } from './dom.js';
import { openPicker } from './reactions.js';
import { authorName, startReply } from './reply.js';
import { canDelete } from './roster.js';
import { isMine } from './store.js';

/** Focus the element marked data-key in a message's row (rows are rendered again after changes). */
export function refocus(id, key) {
  const row = document.querySelector(`.msgs .row[data-id="${CSS.escape(id)}"]`);
  const el = row && (row.querySelector(`[data-key="${CSS.escape(key)}"]`) || row.querySelector('[data-key="react"]'));
  if (el) el.focus();
}

function tool(name, label, key, run) {
  const btn = iconButton(name, label, run, 'icon-btn tool-btn');
  btn.dataset.key = key;
  btn.tabIndex = -1; // reached from its message (lognav.js), not 4 tab stops per message
  return btn;
}

/** The action buttons of a stored message. */
export function messageToolbar(m, row) {
  const own = isMine(m) && m.author_type === 'user';
  const buttons = [];
  if (m.author_type !== 'system') {
    buttons.push(tool('smile', 'Add reaction', 'react', () => openPicker(m, () => refocus(m.id, 'react'))));
    buttons.push(tool('reply', 'Reply', 'reply', () => startReply(m)));
  }
  if (own) buttons.push(tool('edit', 'Edit', 'edit', () => startEdit(row, m)));
  if (canDelete(m.room_id, m)) {
    const who = own ? null : authorName(m);
    buttons.push(
      tool('trash', 'Delete', 'delete', async () => {
        if (!(await deleteMessage(m, who))) refocus(m.id, 'delete');
      }),
    );
  }
  if (!buttons.length) return null;
  const label = `Actions for ${authorName(m)}’s message`;
  return h('div', { class: 'msg-actions', role: 'group', 'aria-label': label }, buttons);
}
