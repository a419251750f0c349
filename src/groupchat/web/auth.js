// Sign in / create account screen, with "Sign in with Nostr" (NIP-07) when window.nostr exists.
// Who may create an account comes from GET /api/server: open, invite (needs an invite link) or closed.
import { api } from './api.js';
import { h, field } from './dom.js';
import { icon } from './icons.js';
import { invitePreview } from './invite.js';
import { nostrAuthEvent } from './profile.js';

/** Username, password and display name inputs, shared by sign-in, sign-up and first-run setup. */
export function accountInputs() {
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
  return { username, password, display, displayField: field('Display name', display, 'Optional: how others see you.') };
}

/** The body of POST /api/auth/register from accountInputs(). */
export function registerBody({ username, password, display }) {
  const body = { username: username.value.trim(), password: password.value };
  if (display.value.trim()) body.display_name = display.value.trim();
  return body;
}

/** The GroupChat logo and name on top of an auth card. */
export function brand() {
  return h(
    'div',
    { class: 'auth-brand' },
    h('span', { class: 'logo big', 'aria-hidden': 'true' }, icon('chat')),
    h('span', { text: 'GroupChat' }),
  );
}

/** What the sign-in page says instead of "Create an account" when sign-up is not open to everyone. */
function signupNote(server, inviteToken) {
  if (server.needs_setup)
    return 'This server has no account yet. Open the setup link that the server printed when it started.';
  if (server.registration === 'closed') return 'Accounts on this server are created by its admin.';
  if (server.registration === 'invite' && !inviteToken)
    return 'New here? You need an invite link to create an account: ask someone on this server for one.';
  return null;
}

/** Words for a failed sign-in or sign-up. */
function signInError(mode, err) {
  if (mode !== 'signin') return err.message;
  if (err.status === 401) return 'Wrong username or password.';
  if (err.status === 403) return 'This account has been disabled. Ask the server’s admin about it.';
  return err.message;
}

/** Render the auth screen into root; onSignedIn({token, user}) is called on success. */
export function showAuth(root, { inviteToken, server, onSignedIn }) {
  let mode = 'signin';
  let invitedRoom = null;
  const inputs = accountInputs();
  const { username, password, displayField } = inputs;
  const note = signupNote(server, inviteToken);
  // With an invite-only server the invite token is what lets the account be created (and join the room).
  const withInvite = inviteToken && server.registration === 'invite' ? { invite_token: inviteToken } : {};
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn primary wide' });
  const title = h('h1');
  const switchText = h('span');
  const switchBtn = h('button', { type: 'button', class: 'link-btn' });
  const nostr = h('div', { class: 'nostr-slot' });
  const form = h(
    'form',
    { class: 'stack' },
    field('Username', username),
    field('Password', password),
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
  const signedIn = (result) => {
    // An invite-only sign-up has joined the room already: open it rather than the invite page.
    if (mode === 'register' && withInvite.invite_token && invitedRoom)
      history.replaceState(null, '', `/rooms/${encodeURIComponent(invitedRoom)}`);
    onSignedIn(result);
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const credentials = { username: username.value.trim(), password: password.value };
      if (mode === 'signin') onSignedIn(await api.post('/api/auth/login', credentials));
      else signedIn(await api.post('/api/auth/register', { ...registerBody(inputs), ...withInvite }));
    } catch (err) {
      error.textContent = signInError(mode, err);
      submit.disabled = false;
    }
  });

  const preview = inviteToken ? invitePreview(inviteToken, false, (p) => (invitedRoom = p.room.id)) : null;
  const card = h(
    'main',
    { class: 'auth-card' },
    brand(),
    preview,
    title,
    form,
    nostr,
    note ? h('p', { class: 'switch' }, note) : h('p', { class: 'switch' }, switchText, switchBtn),
  );
  render();
  root.replaceChildren(h('div', { class: 'auth-page' }, card));
  watchNostr(nostr, error, (event) => api.post('/api/auth/nostr/verify', { event, ...withInvite }).then(onSignedIn));
  username.focus();
}

async function nostrSignIn(error, verify) {
  error.textContent = '';
  try {
    const { challenge } = await api.post('/api/auth/nostr/challenge');
    await verify(await window.nostr.signEvent(nostrAuthEvent(challenge)));
  } catch (e) {
    error.textContent = `Nostr sign-in failed: ${e.message || e}`;
  }
}

function watchNostr(slot, error, verify) {
  // Extensions may inject window.nostr a little after the page loads.
  const show = () => {
    if (!window.nostr || !slot.isConnected || slot.childElementCount) return;
    const btn = h('button', { type: 'button', class: 'btn wide nostr' }, icon('key'), 'Sign in with Nostr');
    btn.addEventListener('click', () => nostrSignIn(error, verify));
    slot.append(h('div', { class: 'or' }, h('span', { text: 'or' })), btn);
  };
  show();
  for (const ms of [300, 1000, 2500]) setTimeout(show, ms);
}
