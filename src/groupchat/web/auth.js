// Sign in / create account screen, with "Sign in with Nostr" (NIP-07) when window.nostr exists.
import { api } from './api.js';
import { h, field } from './dom.js';
import { icon } from './icons.js';
import { invitePreview } from './invite.js';
import { nostrAuthEvent } from './profile.js';

/** Render the auth screen into root; onSignedIn({token, user}) is called on success. */
export function showAuth(root, { inviteToken, onSignedIn }) {
  let mode = 'signin';
  const username = h('input', {
    type: 'text',
    name: 'username',
    required: true,
    autocomplete: 'username',
    minlength: '3',
    maxlength: '32',
    autocapitalize: 'none',
    spellcheck: 'false',
  });
  const password = h('input', {
    type: 'password',
    name: 'password',
    required: true,
    minlength: '8',
    maxlength: '256',
    autocomplete: 'current-password',
  });
  const display = h('input', { type: 'text', name: 'display_name', maxlength: '64', autocomplete: 'nickname' });
  const displayField = field('Display name', display, 'Optional: how others see you.');
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn primary wide' });
  const title = h('h1');
  const switchText = h('span');
  const switchBtn = h('button', { type: 'button', class: 'link-btn' });
  const nostr = h('div', { class: 'nostr-slot' });
  const form = h(
    'form',
    { class: 'stack', novalidate: false },
    field('Username', username),
    field('Password', password, null),
    displayField,
    error,
    submit,
  );

  const render = () => {
    const signin = mode === 'signin';
    title.textContent = signin ? 'Sign in' : 'Create your account';
    submit.textContent = signin ? 'Sign in' : 'Create account';
    displayField.hidden = signin;
    password.autocomplete = signin ? 'current-password' : 'new-password';
    switchText.textContent = signin ? 'New here? ' : 'Already have an account? ';
    switchBtn.textContent = signin ? 'Create an account' : 'Sign in instead';
    error.textContent = '';
  };
  switchBtn.addEventListener('click', () => {
    mode = mode === 'signin' ? 'register' : 'signin';
    render();
    username.focus();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const body = { username: username.value.trim(), password: password.value };
      if (mode === 'register' && display.value.trim()) body.display_name = display.value.trim();
      onSignedIn(await api.post(mode === 'signin' ? '/api/auth/login' : '/api/auth/register', body));
    } catch (err) {
      error.textContent = mode === 'signin' && err.status === 401 ? 'Wrong username or password.' : err.message;
      submit.disabled = false;
    }
  });

  const card = h(
    'main',
    { class: 'auth-card' },
    h(
      'div',
      { class: 'auth-brand' },
      h('span', { class: 'logo big', 'aria-hidden': 'true' }, icon('chat')),
      h('span', { text: 'GroupChat' }),
    ),
    inviteToken ? invitePreview(inviteToken, false) : null,
    title,
    form,
    nostr,
    h('p', { class: 'switch' }, switchText, switchBtn),
  );
  render();
  root.replaceChildren(h('div', { class: 'auth-page' }, card));
  watchNostr(nostr, error, onSignedIn);
  username.focus();
}

async function nostrSignIn(error, onSignedIn) {
  error.textContent = '';
  try {
    const { challenge } = await api.post('/api/auth/nostr/challenge');
    const event = await window.nostr.signEvent(nostrAuthEvent(challenge));
    onSignedIn(await api.post('/api/auth/nostr/verify', { event }));
  } catch (e) {
    error.textContent = `Nostr sign-in failed: ${e.message || e}`;
  }
}

function watchNostr(slot, error, onSignedIn) {
  // Extensions may inject window.nostr a little after the page loads.
  const show = () => {
    if (!window.nostr || !slot.isConnected || slot.childElementCount) return;
    const btn = h('button', { type: 'button', class: 'btn wide nostr' }, icon('key'), 'Sign in with Nostr');
    btn.addEventListener('click', () => nostrSignIn(error, onSignedIn));
    slot.append(h('div', { class: 'or' }, h('span', { text: 'or' })), btn);
  };
  show();
  for (const ms of [300, 1000, 2500]) setTimeout(show, ms);
}
