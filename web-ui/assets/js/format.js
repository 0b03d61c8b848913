// Number, size and time formatting shared by every view. Deterministic (no locale), so
// tests and screenshots read the same everywhere.

export function formatCount(n) {
  if (n == null || Number.isNaN(n)) return '0';
  const neg = n < 0;
  const s = String(Math.round(Math.abs(n)));
  const out = s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return neg ? '-' + out : out;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
export function formatBytes(n) {
  if (!n || n < 0) return '0 B';
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  if (i === 0) return `${v} B`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[i]}`;
}

/** Nanoseconds → a short human duration ("12 ms", "1.2 s", "3 min"). */
export function formatNanos(ns) {
  return formatMillis((ns || 0) / 1e6);
}

export function formatMillis(ms) {
  if (!ms || ms < 0) return '0 ms';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = s / 60;
  if (m < 60) return `${m.toFixed(m < 10 ? 1 : 0)} min`;
  const h = m / 60;
  if (h < 48) return `${h.toFixed(1)} h`;
  return `${(h / 24).toFixed(1)} d`;
}

export function formatTime(millis) {
  if (!millis) return '';
  const d = new Date(millis);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function formatClock(millis) {
  const d = new Date(millis);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function shortId(id) {
  if (!id) return '';
  return id.length > 12 ? id.slice(0, 8) + '…' : id;
}

/** Hex dump of bytes: offset, 16 hex bytes, ASCII. */
export function hexDump(bytes, max = 64 * 1024) {
  const n = Math.min(bytes.length, max);
  const lines = [];
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, n));
    let hex = '';
    let asc = '';
    for (let i = 0; i < 16; i++) {
      if (i < row.length) {
        hex += row[i].toString(16).padStart(2, '0') + ' ';
        asc += row[i] >= 32 && row[i] < 127 ? String.fromCharCode(row[i]) : '.';
      } else hex += '   ';
      if (i === 7) hex += ' ';
    }
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex} |${asc}|`);
  }
  if (bytes.length > n) lines.push(`… ${formatBytes(bytes.length - n)} more`);
  return lines.join('\n');
}

/** Parses a NiFi data size ("1 GB", "10 KB") into bytes; null when unreadable. */
export function parseDataSize(s) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?\s*$/i.exec(s || '');
  if (!m) return null;
  const i = UNITS.indexOf((m[2] || 'B').toUpperCase());
  return Math.round(parseFloat(m[1]) * 1024 ** i);
}
