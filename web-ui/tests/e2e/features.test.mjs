// More of the editor on a real server: keyboard-only use, quick-add, copy and paste with
// undo and redo, back pressure made unmistakable, import errors, export, themes, the status
// sparkline and bulletins, and reconnecting by itself after a server restart.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, launchBrowser, openEditor, screenshot, api, center, tid, until } from './helpers.mjs';

describe('editor features', () => {
  let server;
  let browser;
  let page;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = browser.page;
    await openEditor(page, server.url);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) {
      server.saveLog('features');
      await server.cleanup();
    }
  });

  const flow = () => api(server.url, 'GET', '/api/flow');

  it('is usable by keyboard alone, with labelled controls and a shortcut cheat sheet', async () => {
    // Every button has an accessible name.
    const unnamed = await page.$$eval('button', (bs) => bs.filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim())).length);
    assert.equal(unnamed, 0);
    await page.locator(tid('canvas')).click({ position: { x: 500, y: 500 } });
    await page.keyboard.press('?');
    await page.waitForSelector(tid('help'), { state: 'visible' });
    await page.keyboard.press('Escape');
    await page.waitForSelector(tid('help'), { state: 'hidden' });
    // `/` searches the palette; ArrowDown and Enter add the type.
    await page.keyboard.press('/');
    await until(async () => page.evaluate(() => document.activeElement?.dataset.testid === 'palette-search'), { what: 'palette search focused' });
    await page.keyboard.type('generate');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    const f = await until(async () => { const f = await flow(); return f.processors.length === 1 && f; }, { what: 'processor added by keyboard' });
    const id = f.processors[0].id;
    // The new processor has focus; Enter configures it, Escape returns.
    await until(async () => page.evaluate((pid) => document.activeElement?.dataset.id === pid, id), { what: 'new processor focused' });
    await page.keyboard.press('Enter');
    await page.waitForSelector(tid('processor-panel'));
    await page.keyboard.press('Escape');
    await page.waitForSelector(tid('side-panel'), { state: 'hidden' });
  });

  it('quick-adds a processor at the pointer by typing', async () => {
    const n = (await flow()).processors.length;
    const box = await page.locator(tid('canvas')).boundingBox();
    await page.mouse.dblclick(box.x + 300, box.y + 560);
    await page.waitForSelector(tid('quick-add-input'));
    await page.keyboard.type('logattr');
    await page.keyboard.press('Enter');
    const f = await until(async () => { const f = await flow(); return f.processors.length === n + 1 && f; }, { what: 'quick-added processor' });
    const p = f.processors.find((x) => x.type === 'LogAttribute');
    assert.ok(p, 'LogAttribute was added');
    const shown = await page.locator(`${tid(`processor-${p.id}`)} .proc-box`).boundingBox();
    assert.ok(Math.abs(shown.x + shown.width / 2 - (box.x + 300)) < 40 && Math.abs(shown.y + shown.height / 2 - (box.y + 560)) < 40, 'placed at the pointer');
  });

  it('copies and pastes a selection, with undo and redo', async () => {
    const before = (await flow()).processors.length;
    await page.locator(tid('canvas')).click({ position: { x: 20, y: 20 } });
    await page.keyboard.press('Control+a');
    await page.keyboard.press('Control+c');
    await page.mouse.move(300, 650);
    await page.keyboard.press('Control+v');
    await until(async () => (await flow()).processors.length === before * 2, { what: 'pasted processors' });
    await page.keyboard.press('Control+z');
    await until(async () => (await flow()).processors.length === before, { what: 'paste undone' });
    await page.keyboard.press('Control+Shift+z');
    await until(async () => (await flow()).processors.length === before * 2, { what: 'paste redone' });
    await until(async () => (await page.locator('g.proc').count()) === before * 2, { what: 'canvas in step' });
  });

  it('makes a connection at its back-pressure threshold unmistakable', async () => {
    const gen = await api(server.url, 'POST', '/api/processors', { type: 'GenerateFlowFile', name: 'Burst', position: { x: 80, y: 560 }, properties: { 'Batch Size': '2' }, scheduling: { period: '100 ms' } });
    const log = await api(server.url, 'POST', '/api/processors', { type: 'LogAttribute', name: 'Slow sink', position: { x: 480, y: 560 }, auto_terminated_relationships: ['success'] });
    const c = await api(server.url, 'POST', '/api/connections', { source: gen.id, destination: log.id, relationships: ['success'], back_pressure_object_threshold: 6 });
    await page.waitForSelector(tid(`connection-label-${c.id}`));
    await api(server.url, 'POST', `/api/processors/${gen.id}/start`);
    await page.waitForSelector(`${tid(`connection-label-${c.id}`)}[data-level="full"]`, { timeout: 20000 });
    assert.ok(await page.locator(`${tid(`connection-label-${c.id}`)} .conn-full-tag`).isVisible(), 'FULL tag shown');
    assert.equal(await page.locator(tid(`connection-${c.id}`)).getAttribute('data-level'), 'full');
    await api(server.url, 'POST', `/api/processors/${gen.id}/stop`);
    await page.click(tid('btn-fit'));
    await screenshot(page, '06-back-pressure');
  });

  it('shows a status-history sparkline and the bulletins panel', async () => {
    const gen = (await flow()).processors.find((p) => p.name === 'Burst');
    await page.dblclick(`${tid(`processor-${gen.id}`)} .proc-name`);
    await page.click(tid('tab-status'));
    // Let it run on for a moment (its queue emptied, so back pressure lets it go): the server
    // samples its throughput once a second.
    const c = (await flow()).connections.find((x) => x.source === gen.id);
    await api(server.url, 'DELETE', `/api/connections/${c.id}/queue`);
    await api(server.url, 'POST', `/api/processors/${gen.id}/start`);
    await until(async () => Math.max(0, ...(await api(server.url, 'GET', `/api/processors/${gen.id}/history`)).flowfiles_out_per_second) > 0, { what: 'throughput in the server\'s history' });
    await api(server.url, 'POST', `/api/processors/${gen.id}/stop`);
    // A real chart of that throughput, not the placeholder text.
    const spark = page.locator(`${tid('status-sparkline')} svg.sparkline`);
    await spark.waitFor({ state: 'visible' });
    // The generator is stopped, so a later sample is 0 if every earlier one was busy: wait
    // for a line that is not flat rather than assume when the samples fall.
    const [label, points] = await until(async () => {
      const m = /(\d+) samples, latest (\d+), peak (\d+)/.exec(await spark.getAttribute('aria-label') || '');
      if (!(m && Number(m[1]) > 1 && Number(m[3]) > 0)) return false;
      const pts = (await spark.locator('polyline.spark-line').getAttribute('points')).trim().split(/\s+/).map((xy) => xy.split(',').map(Number));
      return new Set(pts.map(([, y]) => y)).size > 1 && [m, pts];
    }, { what: 'sparkline with samples, a non-zero peak and a line that rises where flowfiles went out' });
    assert.equal(points.length, Number(label[1]), 'one point per sample');
    assert.match(await page.locator(tid('status-sparkline')).textContent(), new RegExp(`peak ${label[3]}/s`));
    await page.click(tid('side-close'));
    await page.click(tid('btn-bulletins'));
    await page.waitForSelector(tid('bulletins-table'));
    await page.click(tid('drawer-close'));
  });

  it('explains an invalid flow file on import, imports a valid one, and undoes the import', async () => {
    await page.setInputFiles(tid('import-file'), { name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"version": 1,\n "processors": [}') });
    await until(async () => (await page.locator(tid('toast-error')).last().textContent()).includes('broken.json is not valid JSON'), { what: 'syntax error message' });
    await page.setInputFiles(tid('import-file'), { name: 'unknown.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ version: 1, processors: [{ id: 'a', type: 'NoSuchProcessor', name: 'x', position: { x: 0, y: 0 } }], connections: [] })) });
    await until(async () => (await page.locator(tid('toast-error')).last().textContent()).includes('unknown.json was refused'), { what: 'server refusal shown' });
    const text = await page.locator(tid('toast-error')).last().textContent();
    assert.match(text, /NoSuchProcessor|processors\[0\]/);
    // Replacing a flow whose queues hold flowfiles is refused (409): stop and empty first.
    await api(server.url, 'POST', '/api/flow/stop', {});
    for (const c of (await flow()).connections) await api(server.url, 'DELETE', `/api/connections/${c.id}/queue`);
    const before = (await flow()).processors.length;
    const good = { version: 1, processors: [{ id: 'imported-gen', type: 'GenerateFlowFile', name: 'Imported', position: { x: 0, y: 0 }, properties: {}, state: 'STOPPED', auto_terminated_relationships: ['success'] }], connections: [] };
    await page.setInputFiles(tid('import-file'), { name: 'good.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(good)) });
    await page.waitForSelector(tid('processor-imported-gen'));
    await until(async () => (await page.locator('g.proc').count()) === 1, { what: 'canvas shows the imported flow' });
    await page.locator(tid('canvas')).click({ position: { x: 700, y: 600 } });
    await page.keyboard.press('Control+z');
    await until(async () => (await flow()).processors.length === before, { what: 'import undone' });
    await until(async () => (await page.locator('g.proc').count()) === before, { what: 'canvas back to the previous flow' });
  });

  it('exports the flow file', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('btn-export'))]);
    const file = await download.path();
    const def = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(def.version, 1);
    assert.ok(Array.isArray(def.processors) && def.processors.length > 0);
  });

  it('switches between light and dark themes', async () => {
    const dark = await page.evaluate(() => document.documentElement.dataset.theme === 'dark' || (!document.documentElement.dataset.theme && matchMedia('(prefers-color-scheme: dark)').matches));
    await page.click(tid('btn-theme'));
    await page.waitForSelector(`html[data-theme="${dark ? 'light' : 'dark'}"]`);
    if (!dark) await screenshot(page, '07-dark-theme');
    await page.click(tid('btn-theme'));
  });

  it('says it is disconnected while the server restarts and reconnects by itself', async () => {
    const n = (await flow()).processors.length;
    await server.stop();
    await page.waitForSelector(`${tid('connection-banner')}[data-state="down"]`, { timeout: 20000 });
    assert.match(await page.locator(tid('connection-banner')).textContent(), /Disconnected/);
    await screenshot(page, '08-disconnected');
    await server.start();
    await page.waitForSelector(`${tid('ws-status')}[data-state="live"]`, { timeout: 30000 });
    await until(async () => (await page.locator(tid('connection-banner')).getAttribute('data-state')) !== 'down', { what: 'banner to leave the down state' });
    await until(async () => (await page.locator('g.proc').count()) === n, { what: 'flow shown after reconnecting' });
    assert.deepEqual(browser.errors, []);
  });
});
