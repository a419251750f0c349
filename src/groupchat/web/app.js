// Entry point: restores the session, renders the shell, routes, and wires the socket to the store.
import { api, getToken, onUnauthorized, setToken } from './api.js';
import { loadModels, refreshRooms, signOut } from './actions.js';
import { showAdmin } from './admin.js';
import { showAuth } from './auth.js';
import { closeView, showRoom } from './chat.js';
import { h, toast } from './dom.js';
import { icon } from './icons.js';
import { onFrame, onSocketClose, onSocketOpen } from './events.js';
import { showInvite } from './invite.js';
import { createSidebar } from './rooms.js';
import { showSetup } from './setup.js';
import { currentRoute, navigate, setRouteHandler } from './router.js';
import { socket } from './socket.js';
import { state, on, emit } from './store.js';
import { readIfSeen } from './unread.js';
import { resetTyping } from './typing.js';

const root = document.getElementById('app');
const banner = document.getElementById('banner');
let shell = null;
let main = null;

function setBanner(offline) {
  banner.hidden = !offline;
  banner.textContent = offline ? 'Offline — reconnecting…' : '';
}

function showEmpty() {
  const hasRooms = state.rooms.size > 0;
  main.replaceChildren(
    h(
      'div',
      { class: 'empty' },
      h('span', { class: 'intro-icon', 'aria-hidden': 'true' }, icon('chat')),
      h('h2', { text: hasRooms ? 'Pick a room' : 'Welcome to GroupChat' }),
      h('p', {
        text: hasRooms
          ? 'Choose a conversation on the left, or start a new one.'
          : 'Create a room with the + button, or browse the public rooms.',
      }),
    ),
  );
}

/** Render whatever the current URL asks for. */
function route() {
  const r = currentRoute();
  if (!state.me) {
    closeView();
    shell = null;
    if (r.name === 'setup') showSetup(root, { token: r.param, server: state.server, onSignedIn });
    else showAuth(root, { inviteToken: r.name === 'invite' ? r.param : null, server: state.server, onSignedIn });
    return;
  }
  if (r.name === 'setup') return navigate('/', true);
  if (!shell) renderShell();
  closeView();
  state.current = r.name === 'room' ? r.param : null;
  shell.dataset.pane = r.name === 'home' ? 'list' : 'main';
  if (r.name === 'room') {
    showRoom(main, r.param);
  } else if (r.name === 'invite') showInvite(main, r.param);
  else if (r.name === 'admin') showAdmin(main);
  else showEmpty();
  emit('rooms');
}

function renderShell() {
  main = h('main', { class: 'main', id: 'main' });
  shell = h('div', { class: 'shell', dataset: { pane: 'list' } }, createSidebar(), main);
  root.replaceChildren(shell);
}

async function startSession(user) {
  state.me = user;
  loadModels()
    .then((m) => {
      state.aiName = state.server.ai_name || m.ai_name || state.aiName;
    })
    .catch(() => {});
  try {
    await refreshRooms();
  } catch {
    // The socket's open handler retries once the server is reachable.
  }
  socket.start(getToken, {
    onOpen: (reconnect) => onSocketOpen(reconnect),
    onEvent: onFrame,
    onClose: onSocketClose,
    onAuthFailed: sessionEnded,
  });
  route();
}

function onSignedIn({ token, user }) {
  setToken(token);
  startSession(user);
}

async function restore() {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await api.get('/api/auth/me');
    } catch (e) {
      if (e.status === 401) {
        setToken(null);
        return null;
      }
      if (e.status !== 0 && e.status < 500) return null;
      setBanner(true);
      await new Promise((r) => setTimeout(r, Math.min(10000, 500 * 2 ** attempt)));
    }
  }
}

/** GET /api/server: who may sign up; a server that cannot say is treated as v1 (open sign-up). */
async function loadServer() {
  try {
    state.server = await api.get('/api/server');
  } catch {
    // Keep what we knew (at first: open sign-up, as a v1 server has).
  }
}

/** The session ended on the server (token revoked, account disabled): back to sign-in, saying why. */
function sessionEnded() {
  if (!state.me) return;
  toast('You have been signed out. Please sign in again.', 'error');
  signOut(false);
}

async function boot() {
  onUnauthorized(sessionEnded);
  setRouteHandler(route);
  on('connection', ({ online }) => setBanner(!online));
  on('signedout', async () => {
    resetTyping();
    setBanner(false);
    shell = null;
    history.replaceState(null, '', '/');
    await loadServer();
    route();
  });
  on('room-gone', ({ roomId }) => {
    if (state.current === roomId) navigate('/', true);
  });
  // Back to the tab or the window: the open room is read if scrolled to its newest messages.
  const seen = () => state.current && state.rooms.has(state.current) && readIfSeen(state.current);
  document.addEventListener('visibilitychange', seen);
  window.addEventListener('focus', seen);
  const [user] = await Promise.all([getToken() ? restore() : null, loadServer()]);
  setBanner(false);
  if (user) await startSession(user);
  else route();
}

boot();
