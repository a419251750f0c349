// Browser notifications for mentions and replies while the tab is hidden. Permission is asked only
// from a click on the sidebar's bell button, never on load.
import { excerptOf } from './changes.js';
import { iconButton } from './dom.js';
import { authorName } from './reply.js';
import { navigate } from './router.js';
import { state } from './store.js';

const supported = () => typeof Notification !== 'undefined';

/** The "Turn on notifications" button, or null when the browser has no choice left to ask. */
export function notifyButton(onChange) {
  if (!supported() || Notification.permission !== 'default') return null;
  return iconButton('bell', 'Turn on notifications for mentions and replies', async () => {
    try {
      await Notification.requestPermission();
    } catch {
      // An old browser without the promise form: nothing changes.
    }
    onChange();
  });
}

/** Show a notification for a message that mentions or answers the user, if the tab is hidden. */
export function notifyMention(m, room) {
  if (!supported() || Notification.permission !== 'granted' || document.visibilityState !== 'hidden') return;
  const title = room ? `${authorName(m)} in ${room.name}` : authorName(m);
  try {
    const n = new Notification(title, { body: excerptOf(m.content) || 'an image', tag: m.id });
    n.onclick = () => {
      window.focus();
      state.jump = { roomId: m.room_id, message: m };
      navigate(`/rooms/${encodeURIComponent(m.room_id)}`);
      n.close();
    };
  } catch {
    // Some browsers allow notifications only from a service worker: go without.
  }
}
