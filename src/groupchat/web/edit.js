// Editing a message in place (PATCH /api/messages/{id}) and deleting one after a confirmation.
import { api, enc } from './api.js';
import { messageDeleted, messageUpdated } from './changes.js';
import { h, confirmDialog, toast } from './dom.js';
import { emit } from './store.js';

function editForm(m, finish) {
  const input = h('textarea', { rows: '2', class: 'edit-input', 'aria-label': 'Edit message', value: m.content });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const save = h('button', { type: 'submit', class: 'btn small primary', text: 'Save' });
  const cancel = h('button', { type: 'button', class: 'btn small', text: 'Cancel', onclick: () => finish() });
  const form = h(
    'form',
    { class: 'edit-form' },
    input,
    h(
      'div',
      { class: 'edit-actions' },
      h('span', { class: 'hint', text: 'Enter saves · Escape cancels' }),
      cancel,
      save,
    ),
    error,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const content = input.value.trim();
    if (content === m.content.trim()) return finish();
    save.disabled = true;
    try {
      finish(await api.patch(`/api/messages/${enc(m.id)}`, { content }));
    } catch (err) {
      error.textContent = err.message;
      save.disabled = false;
    }
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      finish();
    }
  });
  return { form, input };
}

/** Swap a row's message text for an editor; saving or cancelling renders the row again. */
export function startEdit(row, m) {
  const main = row.querySelector('.msg-main');
  if (!main || row.editing) return;
  const body = main.querySelector(':scope > .md');
  row.editing = true;
  row.classList.add('editing');
  const { form, input } = editForm(m, (updated) => {
    row.editing = false;
    row.focusKey = 'edit';
    if (updated) messageUpdated(updated);
    emit('updated', { roomId: m.room_id, ids: [m.id] });
  });
  if (body) body.replaceWith(form);
  else main.querySelector(':scope > .msg-head').after(form);
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

/** Ask, then delete a message for everyone. */
export async function deleteMessage(m, who) {
  const text = who ? `${who}’s message is deleted for everyone.` : 'Your message is deleted for everyone.';
  if (!(await confirmDialog('Delete message?', `${text} This cannot be undone.`, 'Delete'))) return false;
  try {
    await api.del(`/api/messages/${enc(m.id)}`);
    messageDeleted(m.room_id, m.id);
    return true;
  } catch (e) {
    toast(e.message, 'error');
    return false;
  }
}
