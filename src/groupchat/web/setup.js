// The /setup/<token> page: create a new server's first account, which becomes the server admin.
import { api } from './api.js';
import { h, field } from './dom.js';
import { accountInputs, brand, registerBody } from './auth.js';

function alreadySetUp() {
  return [
    h('h1', { text: 'This server is set up' }),
    h('p', { text: 'Its first account exists already, so this setup link no longer works.' }),
    h('a', { href: '/', 'data-route': '', class: 'btn primary wide', text: 'Go to sign in' }),
  ];
}

function setupForm(token, onSignedIn) {
  const inputs = accountInputs();
  inputs.password.autocomplete = 'new-password';
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn primary wide', text: 'Create admin account' });
  const form = h(
    'form',
    { class: 'stack' },
    field('Username', inputs.username),
    field('Password', inputs.password, 'At least 8 characters.'),
    inputs.displayField,
    error,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const result = await api.post('/api/auth/register', { ...registerBody(inputs), setup_token: token });
      history.replaceState(null, '', '/');
      onSignedIn(result);
    } catch (err) {
      error.textContent =
        err.status === 403
          ? `${err.message} Check that you opened the latest setup link from the server.`
          : err.message;
      submit.disabled = false;
    }
  });
  return [
    h('h1', { text: 'Set up GroupChat' }),
    h('p', {
      class: 'lead',
      text: 'Create the first account. It becomes the server admin: it can invite people, manage accounts and see the AI cost.',
    }),
    form,
  ];
}

/** Render the setup page into root; onSignedIn({token, user}) once the admin account exists. */
export function showSetup(root, { token, server, onSignedIn }) {
  const body = server.needs_setup ? setupForm(token, onSignedIn) : alreadySetUp();
  root.replaceChildren(h('div', { class: 'auth-page' }, h('main', { class: 'auth-card' }, brand(), body)));
  root.querySelector('input')?.focus();
}
