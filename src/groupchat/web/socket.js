// Self-healing WebSocket to /ws: exponential backoff with jitter, keep-alive pings, dead-link detection.
const BASE_DELAY = 500;
const MAX_DELAY = 10000;
const PING_EVERY = 25000;
const PONG_TIMEOUT = 10000;
const STABLE_AFTER = 10000;

/** One connection that reconnects by itself until stop() is called. */
class ChatSocket {
  constructor() {
    this.ws = null;
    this.handlers = {};
    this.attempt = 0;
    this.stopped = true;
    this.everOpened = false;
    this.timers = {};
    this.onOnline = () => {
      if (!this.stopped && !this.ws) this.open();
    };
  }

  /** Start connecting with a token getter and {onOpen(reconnect), onEvent, onClose, onAuthFailed}. */
  start(getToken, handlers) {
    this.stop();
    this.getToken = getToken;
    this.handlers = handlers;
    this.stopped = false;
    this.everOpened = false;
    this.attempt = 0;
    window.addEventListener('online', this.onOnline);
    this.open();
  }

  /** Close for good (sign out). */
  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    this.clearTimers();
    clearTimeout(this.timers.retry);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'bye');
  }

  /** True while frames can be sent. */
  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send one frame; false when not connected. */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    return `${proto}://${location.host}/ws?token=${encodeURIComponent(this.getToken() || '')}`;
  }

  open() {
    clearTimeout(this.timers.retry);
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      const reconnect = this.everOpened;
      this.everOpened = true;
      this.timers.stable = setTimeout(() => (this.attempt = 0), STABLE_AFTER);
      this.timers.ping = setInterval(() => this.ping(ws), PING_EVERY);
      this.handlers.onOpen(reconnect);
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      clearTimeout(this.timers.pong);
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      if (frame.type === 'resync') {
        // The server may have missed events (its bus was down): reconnect at once, which
        // re-joins and catches up with after= like any reconnect.
        this.attempt = 0;
        this.dropped(ws, 1012);
        ws.close(1000, 'resync');
        return;
      }
      if (frame.type !== 'pong') this.handlers.onEvent(frame);
    };
    ws.onclose = (e) => this.dropped(ws, e.code);
  }

  ping(ws) {
    this.send({ type: 'ping' });
    clearTimeout(this.timers.pong);
    // A link that swallows frames never fires onclose: give up on it ourselves.
    this.timers.pong = setTimeout(() => {
      this.dropped(ws, 4000);
      ws.close(4000, 'ping timeout');
    }, PONG_TIMEOUT);
  }

  dropped(ws, code) {
    if (this.ws !== ws) return;
    this.ws = null;
    this.clearTimers();
    if (this.stopped) return;
    if (code === 4401) {
      this.stopped = true;
      this.handlers.onAuthFailed();
      return;
    }
    this.handlers.onClose();
    const cap = Math.min(MAX_DELAY, BASE_DELAY * 2 ** this.attempt);
    const delay = cap / 2 + (Math.random() * cap) / 2;
    this.attempt += 1;
    this.timers.retry = setTimeout(() => this.open(), delay);
  }

  clearTimers() {
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.pong);
    clearTimeout(this.timers.stable);
  }
}

/** The app's single connection. */
export const socket = new ChatSocket();
