// Reconnecting WebSocket to /api/ws. Shows a banner while disconnected and says when it is
// back; a silent socket (no status for several seconds) is treated as dead.
import { Emitter } from './dom.js';

export class LiveSocket extends Emitter {
  constructor(banner) {
    super();
    this.banner = banner;
    this.ws = null;
    this.attempt = 0;
    this.connected = false;
    this.everConnected = false;
    this.lastMessage = 0;
    this.retryTimer = null;
    this.watchdog = setInterval(() => this.checkAlive(), 1000);
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/api/ws`;
  }

  connect() {
    clearTimeout(this.retryTimer);
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const reconnected = this.everConnected;
      this.connected = true;
      this.everConnected = true;
      this.attempt = 0;
      this.lastMessage = Date.now();
      this.setBanner(reconnected ? 'reconnected' : 'hidden');
      this.emit('open', { reconnected });
    };
    ws.onmessage = (ev) => {
      this.lastMessage = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.emit('message', msg);
      if (msg && msg.type) this.emit(msg.type, msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.connected = false;
      this.emit('close');
      this.scheduleRetry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  scheduleRetry() {
    this.attempt++;
    const delay = Math.min(5000, 300 * 2 ** Math.min(this.attempt - 1, 4));
    this.retryAt = Date.now() + delay;
    this.setBanner('down');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  checkAlive() {
    if (this.connected && Date.now() - this.lastMessage > 6000) {
      // No status for 6 s: the server is gone or the socket is half-open.
      try { this.ws.close(); } catch { /* ignore */ }
      const ws = this.ws;
      this.ws = null;
      this.connected = false;
      if (ws) { ws.onclose = null; }
      this.emit('close');
      this.scheduleRetry();
    } else if (this.connected && Date.now() - this.lastMessage > 2500 && this.ws) {
      try { this.ws.send(JSON.stringify({ type: 'ping' })); } catch { /* ignore */ }
    }
    if (!this.connected && this.banner && this.retryAt) {
      const secs = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
      const t = this.banner.querySelector('.banner-text');
      if (t) t.textContent = `Disconnected from the server. Reconnecting${secs ? ` in ${secs} s` : '…'} (attempt ${this.attempt}). Edits are paused; the view shows the last known state.`;
    }
  }

  setBanner(mode) {
    const b = this.banner;
    if (!b) return;
    b.dataset.state = mode;
    clearTimeout(this.bannerTimer);
    const t = b.querySelector('.banner-text');
    if (mode === 'down') {
      b.hidden = false;
      t.textContent = 'Disconnected from the server. Reconnecting…';
      document.documentElement.classList.add('offline');
    } else if (mode === 'reconnected') {
      b.hidden = false;
      t.textContent = 'Reconnected to the server; the flow has been reloaded.';
      document.documentElement.classList.remove('offline');
      this.bannerTimer = setTimeout(() => { b.hidden = true; b.dataset.state = 'hidden'; }, 3000);
    } else {
      b.hidden = true;
      document.documentElement.classList.remove('offline');
    }
  }
}
