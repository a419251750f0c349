// Profile dialog: avatar, display name, bio, Nostr key link, own AI use, password, sign out (here or everywhere).
import { api, uploadFile } from './api.js';
import { signOut } from './actions.js';
import { h, avatar, field, modal, toast, nameOf, confirmDialog, submitWithStatus } from './dom.js';
import { section } from './members.js';
import { state, emit } from './store.js';
import { ownUsage } from './usage.js';

const AVATAR_TYPES = 'image/png,image/jpeg,image/gif,image/webp';

function avatarBlock() {
  const wrap = h('div', { class: 'avatar-edit' });
  const input = h('input', { type: 'file', accept: AVATAR_TYPES, class: 'sr-only', id: 'avatar-file' });
  const label = h('label', { for: input.id, class: 'btn small', text: 'Change avatar' });
  const hint = h('p', { class: 'hint', text: 'PNG, JPEG, GIF or WebP, up to 2 MB.' });
  const render = () =>
    wrap.replaceChildren(
      avatar(state.me, 'xl'),
      h(
        'div',
        {},
        h('p', { class: 'profile-name', text: nameOf(state.me) }),
        h('p', { class: 'hint', text: `@${state.me.username}` }),
        input,
        label,
        hint,
      ),
    );
  input.addEventListener('change', async () => {
    const file = input.files[0];
    if (!file) return;
    label.textContent = 'Uploading…';
    try {
      state.me = await uploadFile('/api/auth/avatar', file);
      emit('me');
      toast('Avatar updated.');
    } catch (e) {
      toast(`Avatar not changed: ${e.message}`, 'error');
    }
    label.textContent = 'Change avatar';
    input.value = '';
    render();
  });
  render();
  return wrap;
}

function nostrBlock() {
  if (state.me.nostr_pubkey) return h('p', { class: 'hint mono wrap', text: `Nostr key: ${state.me.nostr_pubkey}` });
  if (!window.nostr) return null;
  const btn = h('button', { type: 'button', class: 'btn small', text: 'Link Nostr key' });
  btn.addEventListener('click', async () => {
    try {
      const { challenge } = await api.post('/api/auth/nostr/challenge');
      const event = await window.nostr.signEvent(nostrAuthEvent(challenge));
      state.me = await api.post('/api/auth/nostr/link', { event });
      emit('me');
      btn.replaceWith(nostrBlock());
    } catch (e) {
      toast(`Could not link the key: ${e.message}`, 'error');
    }
  });
  return btn;
}

/** The NIP-42 style kind 22242 event the server verifies. */
export function nostrAuthEvent(challenge) {
  return {
    kind: 22242,
    created_at: Math.floor(Date.now() / 1000),
    tags: [
      ['challenge', challenge],
      ['relay', location.origin],
    ],
    content: '',
  };
}

/** Open the profile dialog of the signed-in user. */
export function openProfile() {
  const me = state.me;
  const name = h('input', {
    type: 'text',
    required: true,
    maxlength: '64',
    value: me.display_name || '',
    autocomplete: 'nickname',
  });
  const bio = h('textarea', { rows: '3', maxlength: '500', value: me.bio || '' });
  const status = h('p', { class: 'form-status', role: 'status' });
  const save = h('button', { type: 'submit', class: 'btn primary', text: 'Save profile' });
  const out = h('button', { type: 'button', class: 'btn danger-outline', text: 'Sign out' });
  const form = h(
    'form',
    { class: 'stack' },
    field('Display name', name),
    field('Bio', bio, 'Up to 500 characters.'),
    h('div', { class: 'actions' }, status, save),
  );
  const everywhere = h('button', { type: 'button', class: 'btn danger-outline', text: 'Sign out everywhere' });
  const dlg = modal('Profile', [
    avatarBlock(),
    form,
    nostrBlock(),
    usageSection(),
    passwordSection(),
    h('div', { class: 'actions spread' }, out, everywhere),
  ]);
  out.addEventListener('click', () => {
    dlg.close();
    signOut();
  });
  everywhere.addEventListener('click', async () => {
    const text = 'Every device and browser where you are signed in, this one included, is signed out.';
    if (!(await confirmDialog('Sign out everywhere?', text, 'Sign out everywhere'))) return;
    try {
      await api.post('/api/auth/logout-all');
    } catch (e) {
      toast(e.message, 'error');
      return;
    }
    dlg.close();
    signOut(false);
  });
  submitWithStatus(form, save, status, 'Saving…', async () => {
    state.me = await api.patch('/api/auth/profile', { display_name: name.value.trim(), bio: bio.value.trim() });
    emit('me');
    return 'Saved.';
  });
}

function usageSection() {
  const body = h('div', { class: 'own-usage', 'aria-busy': 'true' }, h('p', { class: 'loading', text: 'Loading…' }));
  ownUsage()
    .then((parts) => body.replaceChildren(...parts))
    .catch((e) => body.replaceChildren(h('p', { class: 'hint', text: `Could not load your AI use: ${e.message}` })))
    .finally(() => body.removeAttribute('aria-busy'));
  return section('Your AI use', body);
}

function passwordSection() {
  const attrs = { type: 'password', required: true, minlength: '8', maxlength: '256' };
  const current = h('input', { ...attrs, autocomplete: 'current-password' });
  const fresh = h('input', { ...attrs, autocomplete: 'new-password' });
  const status = h('p', { class: 'form-status', role: 'status' });
  const save = h('button', { type: 'submit', class: 'btn primary', text: 'Change password' });
  const form = h(
    'form',
    { class: 'stack' },
    h('input', {
      type: 'text',
      hidden: true,
      autocomplete: 'username',
      value: state.me.username,
      'aria-hidden': 'true',
    }),
    field('Current password', current),
    field('New password', fresh, 'At least 8 characters.'),
    h('div', { class: 'actions' }, status, save),
  );
  submitWithStatus(
    form,
    save,
    status,
    'Changing…',
    async () => {
      const body = { current_password: current.value, new_password: fresh.value };
      await api.post('/api/auth/password', body, { keepSession: true });
      form.reset();
      return 'Password changed. Your other devices were signed out.';
    },
    (err) => (err.status === 401 || err.status === 403 ? 'The current password is not right.' : err.message),
  );
  return section('Password', form);
}
