// Keyboard moves through the message log: arrow keys go from message to message, and Tab then
// reaches the focused message's actions (kept out of the tab order elsewhere, 4 stops a message).
import { h, uid } from './dom.js';

const KEYS = new Set(['ArrowUp', 'ArrowDown', 'Home', 'End']);

function messages(log) {
  return [...log.querySelectorAll('.msgs > .row > .msg')];
}

function activate(log, msg) {
  if (log.activeMsg === msg) return;
  if (log.activeMsg) for (const b of log.activeMsg.querySelectorAll('.msg-actions button')) b.tabIndex = -1;
  log.activeMsg = msg;
  if (msg) for (const b of msg.querySelectorAll('.msg-actions button')) b.tabIndex = 0;
}

function move(log, key) {
  const all = messages(log);
  if (!all.length) return;
  const current = document.activeElement.closest('.msg');
  const at = all.indexOf(current);
  let next;
  if (key === 'Home') next = all[0];
  else if (key === 'End' || at < 0) next = all.at(-1);
  else next = all[Math.max(0, Math.min(all.length - 1, at + (key === 'ArrowUp' ? -1 : 1)))];
  next.tabIndex = -1;
  next.focus();
  next.scrollIntoView({ block: 'nearest' });
}

/** Wire arrow-key navigation into a message log; returns the hint element to place in the view. */
export function navigateLog(log) {
  const text = 'Arrow keys move between messages; Tab then reaches the actions of the message.';
  const hint = h('p', { id: uid('lognav'), class: 'sr-only', text });
  log.setAttribute('aria-describedby', hint.id);
  log.addEventListener('keydown', (e) => {
    const inText = e.target.closest('textarea, input, select');
    if (!KEYS.has(e.key) || inText || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    move(log, e.key);
  });
  log.addEventListener('focusin', (e) => activate(log, e.target.closest('.msg')));
  return hint;
}
