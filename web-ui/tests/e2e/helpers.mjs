// Shared test plumbing: a real `sluice` server per test file (fresh data dir, free port) and
// headless Debian Chromium through playwright-core. Missing pieces fail loudly.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../../..');
export const SCREENSHOTS = path.join(here, 'screenshots');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const CHROME_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function findBinary() {
  const candidates = process.env.SLUICE_BIN
    ? [process.env.SLUICE_BIN]
    : [path.join(ROOT, 'target/release/sluice'), path.join(ROOT, 'target/debug/sluice')];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new Error(`sluice binary not found (looked at ${candidates.join(', ')}); build it with "cargo build --release" or set SLUICE_BIN`);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (state, not time, decides; the deadline only bounds it). */
export async function until(fn, { timeout = 15000, interval = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(interval);
  }
}

/**
 * Starts `sluice run` with a fresh data dir and the given flow on a free port.
 * Returns { url, stop(), restart(), log() }.
 */
export async function startServer({ flow = { version: 1, processors: [], connections: [] }, port } = {}) {
  const bin = findBinary();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-data-'));
  const flowFile = path.join(dataDir, '..', `${path.basename(dataDir)}-flow.json`);
  fs.writeFileSync(flowFile, JSON.stringify(flow, null, 2));
  port = port || (await freePort());
  const url = `http://127.0.0.1:${port}`;
  let child = null;
  let out = '';
  const launch = async () => {
    child = spawn(bin, ['run', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--flow', flowFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    let exited = null;
    child.once('exit', (code, sig) => {
      exited = `exited with ${code ?? sig}`;
      if (!stopping) out += `\n[test harness] sluice ${exited} unexpectedly\n`;
    });
    await until(async () => {
      if (exited) throw new Error(`sluice ${exited} before it was ready:\n${out.slice(-3000)}`);
      const r = await fetch(`${url}/api/health`).catch(() => null);
      return r && r.status === 200;
    }, { timeout: 30000, what: `sluice on ${url} to answer /api/health` });
  };
  let stopping = false;
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const c = child;
    stopping = true;
    const done = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10000);
    await done;
    clearTimeout(t);
    stopping = false;
  };
  await launch();
  return {
    url, port, dataDir, flowFile,
    stop,
    async restart() { await stop(); await launch(); },
    start: launch,
    log: () => out,
    /** Keeps the server's output next to the screenshots (for a reviewer or a failure). */
    saveLog(name) {
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      fs.writeFileSync(path.join(SCREENSHOTS, `${name}-server.log`), out);
    },
    async cleanup() {
      await stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(flowFile, { force: true });
    },
  };
}

/** A headless Chromium with a fresh profile. */
export async function launchBrowser({ width = 1280, height = 800 } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install -y chromium)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROME_ARGS, viewport: { width, height }, acceptDownloads: true,
  });
  const errors = [];
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => errors.push(e.message));
  return {
    context, page, errors,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function openEditor(page, url) {
  await page.goto(url);
  await page.waitForSelector('html[data-ready="true"]', { timeout: 20000 });
  await page.waitForSelector('[data-testid="ws-status"][data-state="live"]', { timeout: 20000 });
}

export async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

export async function api(base, method, p, body) {
  const r = await fetch(base + p, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  if (!r.ok) {
    const e = new Error(`${method} ${p} → ${r.status}: ${text.slice(0, 300)}`);
    e.status = r.status;
    e.body = json;
    throw e;
  }
  return json;
}

/** Drags with real mouse events in small steps (pointer events in the page). */
export async function drag(page, from, to, steps = 12) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x + 6, from.y + 2, { steps: 2 });
  await page.mouse.move(to.x, to.y, { steps });
  await page.mouse.up();
}

export async function center(locator) {
  // The palette lists every type and scrolls: bring the item into view first.
  await locator.scrollIntoViewIfNeeded();
  const b = await locator.boundingBox();
  if (!b) throw new Error('element has no box (not visible)');
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

export const tid = (id) => `[data-testid="${id}"]`;

/** Resolves after the page has painted two more frames (a view change is applied in a rAF). */
export async function frames(page, n = 2) {
  await page.evaluate((k) => new Promise((resolve) => {
    const step = (left) => (left ? requestAnimationFrame(() => step(left - 1)) : resolve());
    step(k);
  }), n);
}

/** The on-screen box of a processor. */
export async function procBox(page, id) {
  const b = await page.locator(`${tid(`processor-${id}`)} .proc-box`).boundingBox();
  if (!b) throw new Error(`processor ${id} has no box on screen`);
  return b;
}

/** Fits the flow into the canvas with the toolbar button and waits for it to be drawn. */
export async function fitView(page) {
  await page.click(tid('btn-fit'));
  await frames(page);
}

/** Opens a processor's side panel by double-clicking its name on the canvas. */
export async function openProcessorPanel(page, id) {
  await page.dblclick(`${tid(`processor-${id}`)} .proc-name`);
  await page.waitForFunction((pid) => {
    const el = document.querySelector('[data-testid="processor-panel"]');
    return el && el.textContent.includes(`id ${pid}`);
  }, id);
}

/** Opens a connection's side panel by double-clicking its label on the canvas. */
export async function openConnectionPanel(page, id) {
  await page.dblclick(`${tid(`connection-label-${id}`)} .conn-rels`);
  await page.waitForSelector(tid('connection-panel'));
}

/** A CSS custom property (e.g. "--ok") as the browser's computed rgb() colour. */
export function cssVarColor(page, name) {
  return page.evaluate((v) => {
    const probe = document.createElement('span');
    probe.style.color = `var(${v})`;
    document.body.append(probe);
    const c = getComputedStyle(probe).color;
    probe.remove();
    return c;
  }, name);
}

/** Opens the controller services table in the drawer (toolbar "Services") and waits for its rows. */
export async function openServicesView(page) {
  await page.click(tid('btn-services'));
  await page.waitForSelector(tid('services-view'), { state: 'visible' });
  await page.waitForSelector(`${tid('services-table')} tbody tr`);
}
