// The /invite/<token> route (preview, then accept) and the preview of a public room one is not in.
import { api, enc } from './api.js';
import { acceptInvite, joinPublicRoom } from './actions.js';
import { h, toast } from './dom.js';
import { icon } from './icons.js';
import { navigate } from './router.js';
import { state } from './store.js';

function failureText(e) {
  if (e.status === 410) return 'This invite link has expired or has been used up. Ask for a new one.';
  if (e.status === 404) return 'This invite link is not valid (it may have been revoked).';
  return `The invite could not be loaded: ${e.message}`;
}

/** A card previewing the invite; with signedIn it has a Join button; onLoaded(preview) when read. */
export function invitePreview(token, signedIn, onLoaded = () => {}) {
  const card = h(
    'section',
    { class: 'invite-card', 'aria-label': 'Invitation', 'aria-busy': 'true' },
    h('p', { class: 'loading', text: 'Loading invitation…' }),
  );
  api
    .get(`/api/invites/${enc(token)}`)
    .then((preview) => {
      onLoaded(preview);
      card.replaceChildren(...previewBody(token, preview, signedIn));
    })
    .catch((e) => card.replaceChildren(h('p', { class: 'form-error', role: 'alert', text: failureText(e) })))
    .finally(() => card.removeAttribute('aria-busy'));
  return card;
}

function previewBody(token, preview, signedIn) {
  const { room } = preview;
  const members = `${room.member_count} member${room.member_count === 1 ? '' : 's'}`;
  const body = [
    h('p', { class: 'eyebrow', text: "You're invited to join" }),
    h(
      'div',
      { class: 'invite-room' },
      h('span', { class: 'room-icon big', 'aria-hidden': 'true' }, icon('hash')),
      h('div', {}, h('h2', { text: room.name }), h('p', { class: 'sub', text: members })),
    ),
    room.description ? h('p', { class: 'invite-desc', text: room.description }) : null,
  ];
  if (!signedIn) return [...body, h('p', { class: 'hint', text: 'Sign in or create an account to join.' })];
  const error = h('p', { class: 'form-error', role: 'alert' });
  const join = h('button', { type: 'button', class: 'btn primary', text: 'Join room' });
  join.addEventListener('click', async () => {
    join.disabled = true;
    try {
      const joined = await acceptInvite(token);
      navigate(`/rooms/${encodeURIComponent(joined.id)}`, true);
    } catch (e) {
      error.textContent = failureText(e);
      join.disabled = false;
    }
  });
  const later = h('a', { href: '/', 'data-route': '', class: 'btn', text: 'Not now' });
  return [...body, error, h('div', { class: 'actions' }, later, join)];
}

/** Render the invite route for a signed-in user. */
export function showInvite(main, token) {
  main.replaceChildren(h('div', { class: 'center-pane' }, invitePreview(token, true)));
}

function notFound(main) {
  main.replaceChildren(
    h(
      'div',
      { class: 'empty' },
      h('h2', { text: 'Room not found' }),
      h('p', { text: 'It may have been deleted, or you are not a member.' }),
      h('a', { href: '/', 'data-route': '', class: 'btn', text: 'Back to your rooms' }),
    ),
  );
}

/** A room the user is not in (e.g. a public room opened by URL): preview it with a Join button. */
export async function showRoomPreview(main, roomId, onJoined) {
  main.replaceChildren(h('div', { class: 'empty' }, h('p', { text: 'Loading…' })));
  let room = null;
  try {
    room = await api.get(`/api/rooms/${enc(roomId)}`);
  } catch {
    // Shown as not found below.
  }
  if (state.current !== roomId) return;
  if (!room) return notFound(main);
  const join = h('button', { type: 'button', class: 'btn primary', text: `Join ${room.name}` });
  join.addEventListener('click', async () => {
    try {
      await joinPublicRoom(room.id);
      onJoined();
    } catch (e) {
      toast(e.message, 'error');
    }
  });
  main.replaceChildren(
    h(
      'div',
      { class: 'empty' },
      h('span', { class: 'intro-icon', 'aria-hidden': 'true' }, icon('hash')),
      h('h2', { text: room.name }),
      h('p', { text: room.description || 'A public room.' }),
      h('p', { class: 'sub', text: `${room.member_count} members` }),
      join,
    ),
  );
}
