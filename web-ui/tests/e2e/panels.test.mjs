// The canvas and the processor's side panel on a real server: grid snap of a dropped and a
// moved processor (and undoing the move), zoom, the minimap, validity reasons, the bulletin
// badge, searching types by name and description, expression-language hints, masked
// sensitive properties, scheduling and relationships saved to the server. Every wait is on
// state; what the server keeps is checked through its HTTP API.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, openEditor, screenshot, api, drag, center, tid, until,
  procBox, fitView, openProcessorPanel,
} from './helpers.mjs';

const GRID = 16;
const onGrid = (v) => Math.abs(v % GRID) === 0;
const snap = (v) => Math.round(v / GRID) * GRID;

describe('canvas and processor panel', () => {
  let server;
  let browser;
  let page;
  const ids = {};

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = browser.page;
    await openEditor(page, server.url);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) {
      server.saveLog('panels');
      await server.cleanup();
    }
  });

  const flow = () => api(server.url, 'GET', '/api/flow');
  const proc = (id) => api(server.url, 'GET', `/api/processors/${id}`);
  const view = () => page.evaluate(() => ({ ...window.__sluice.canvas.view }));
  const zoomPercent = async () => parseInt(await page.locator(tid('zoom-level')).textContent(), 10);

  /** A point of the canvas where nothing is drawn (nor the minimap or status bar above it). */
  const emptySpot = () => page.evaluate(() => {
    const r = document.querySelector('[data-testid="canvas"]').getBoundingClientRect();
    for (let y = r.top + 40; y < r.bottom - 160; y += 37) {
      for (let x = r.left + 40; x < r.right - 240; x += 41) {
        const hits = document.elementsFromPoint(x, y);
        const clear = (p) => p === hits[0] && p.classList.contains('canvas-bg');
        if (clear(hits[0]) && [[-60, -30], [60, 30], [60, -30], [-60, 30]].every(([dx, dy]) => document.elementFromPoint(x + dx, y + dy)?.classList.contains('canvas-bg'))) return { x, y };
      }
    }
    throw new Error('no empty spot on the canvas');
  });

  /** Hovers `selector` (after leaving any other tip) and returns the tooltip text shown. */
  const tooltipOf = async (selector, expect) => {
    const spot = await emptySpot();
    await page.mouse.move(spot.x, spot.y);
    await page.waitForSelector(tid('tooltip'), { state: 'hidden' });
    await page.hover(selector);
    await page.waitForSelector(tid('tooltip'), { state: 'visible' });
    await until(async () => (await page.locator(tid('tooltip')).textContent()).includes(expect), { what: `tooltip with "${expect}"` });
    return page.locator(tid('tooltip')).textContent();
  };

  it('drops a processor on the grid, snaps a move to the grid, and undoes the move', async () => {
    const canvas = await page.locator(tid('canvas')).boundingBox();
    // Deliberately off the grid.
    const drop = { x: canvas.x + 413, y: canvas.y + 247 };
    await drag(page, await center(page.locator(tid('palette-item-GenerateFlowFile'))), drop);
    const f = await until(async () => { const f = await flow(); return f.processors.length === 1 && f; }, { what: 'processor dropped' });
    const p = f.processors[0];
    ids.gen = p.id;
    assert.ok(onGrid(p.position.x) && onGrid(p.position.y), `dropped at ${JSON.stringify(p.position)}, on the ${GRID}px grid`);
    const v = await view();
    const worldDrop = { x: (drop.x - canvas.x - v.x) / v.k, y: (drop.y - canvas.y - v.y) / v.k };
    // Centred on the drop point, give or take half a grid cell.
    assert.ok(Math.abs(p.position.x + 120 - worldDrop.x) <= GRID / 2 && Math.abs(p.position.y + 50 - worldDrop.y) <= GRID / 2, 'placed where it was dropped');
    await page.waitForSelector(tid(`processor-${p.id}`));

    // Move it by an amount that is not a multiple of the grid.
    const before = await procBox(page, p.id);
    const from = { x: before.x + before.width / 2, y: before.y + before.height / 2 };
    await drag(page, from, { x: from.x + 37, y: from.y + 53 });
    const want = { x: snap(p.position.x + 37 / v.k), y: snap(p.position.y + 53 / v.k) };
    await until(async () => { const q = await proc(p.id); return q.position.x === want.x && q.position.y === want.y; }, { what: `move saved snapped to ${JSON.stringify(want)}` });
    assert.ok(onGrid(want.x) && onGrid(want.y) && (want.x !== p.position.x || want.y !== p.position.y));
    const moved = await procBox(page, p.id);
    assert.ok(Math.abs(moved.x - before.x - (want.x - p.position.x) * v.k) < 1.5 && Math.abs(moved.y - before.y - (want.y - p.position.y) * v.k) < 1.5, 'drawn at the snapped position');

    // Undo puts it back, on the server and on screen.
    await page.keyboard.press('Control+z');
    await until(async () => { const q = await proc(p.id); return q.position.x === p.position.x && q.position.y === p.position.y; }, { what: 'move undone on the server' });
    await until(async () => { const b = await procBox(page, p.id); return Math.abs(b.x - before.x) < 1 && Math.abs(b.y - before.y) < 1; }, { what: 'move undone on screen' });
  });

  it('zooms in and out with the toolbar and the wheel', async () => {
    await fitView(page);
    const z0 = await zoomPercent();
    const w0 = (await procBox(page, ids.gen)).width;
    await page.click(tid('btn-zoom-in'));
    await until(async () => (await zoomPercent()) > z0, { what: 'zoom level to rise' });
    const w1 = (await procBox(page, ids.gen)).width;
    assert.ok(Math.abs(w1 / w0 - 1.2) < 0.02, `zoom in scales the drawing by 1.2 (${w0} → ${w1})`);
    assert.ok(Math.abs((await zoomPercent()) - z0 * 1.2) <= 1, 'the zoom level shown follows');
    await page.click(tid('btn-zoom-out'));
    await page.click(tid('btn-zoom-out'));
    await until(async () => (await zoomPercent()) < z0, { what: 'zoom level to fall' });
    const w2 = (await procBox(page, ids.gen)).width;
    assert.ok(Math.abs(w2 / w0 - 1 / 1.2) < 0.02, `zoom out scales the drawing by 1/1.2 (${w0} → ${w2})`);
    // The wheel zooms at the pointer.
    const spot = await emptySpot();
    await page.mouse.move(spot.x, spot.y);
    const z2 = await zoomPercent();
    await page.mouse.wheel(0, -200);
    await until(async () => (await zoomPercent()) > z2, { what: 'wheel zoom' });
    assert.ok((await procBox(page, ids.gen)).width > w2, 'the wheel enlarges the drawing');
    await fitView(page);
  });

  it('draws the flow and the visible area on the minimap, and moves the view from it', async () => {
    const minimap = page.locator(tid('minimap'));
    await minimap.waitFor({ state: 'visible' });
    // Deselect, so the processor is drawn in its run-state colour.
    const spot = await emptySpot();
    await page.mouse.click(spot.x, spot.y);
    const read = () => page.evaluate((pid) => {
      const el = document.querySelector('[data-testid="minimap"]');
      const g = document.querySelector(`[data-testid="processor-${pid}"]`);
      const cssVar = { running: '--run', stopped: '--stop', invalid: '--warn', disabled: '--muted' }[g.dataset.state];
      const probe = document.createElement('canvas').getContext('2d');
      probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue(cssVar).trim();
      const hex = probe.fillStyle;
      const [r, gr, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      const { data, width } = el.getContext('2d').getImageData(0, 0, el.width, el.height);
      let n = 0, sx = 0, sy = 0, hash = 0, painted = 0;
      for (let i = 0; i < data.length; i += 4) {
        hash = (Math.imul(hash, 31) + data[i] + data[i + 1] * 3 + data[i + 2] * 7 + data[i + 3] * 11) | 0;
        if (data[i + 3]) painted++;
        if (data[i] === r && data[i + 1] === gr && data[i + 2] === b && data[i + 3] === 255) {
          const p = i / 4;
          n++;
          sx += p % width;
          sy += Math.floor(p / width);
        }
      }
      const box = el.getBoundingClientRect();
      const scale = box.width / width;
      return { n, hash, painted, x: box.left + (sx / n + 0.5) * scale, y: box.top + (sy / n + 0.5) * scale };
    }, ids.gen);
    const first = await until(async () => { const m = await read(); return m.n > 20 && m; }, { what: 'the processor drawn on the minimap' });

    // Panning the canvas moves the visible-area frame on the minimap.
    const before = await procBox(page, ids.gen);
    const start = await emptySpot();
    await drag(page, start, { x: start.x - 250, y: start.y - 150 });
    await until(async () => {
      const b = await procBox(page, ids.gen);
      return Math.abs(b.x - before.x + 250) < 1 && Math.abs(b.y - before.y + 150) < 1;
    }, { what: 'the canvas to pan with the pointer' });
    await until(async () => (await read()).hash !== first.hash, { what: 'the minimap to follow the pan' });

    // Clicking the processor on the minimap centres the view on it.
    const m = await until(async () => { const x = await read(); return x.n > 20 && x; }, { what: 'processor on the minimap' });
    await page.mouse.click(m.x, m.y);
    const svg = await page.locator(tid('canvas')).boundingBox();
    await until(async () => {
      const b = await procBox(page, ids.gen);
      return Math.abs(b.x + b.width / 2 - (svg.x + svg.width / 2)) < 25 && Math.abs(b.y + b.height / 2 - (svg.y + svg.height / 2)) < 25;
    }, { what: 'the view centred on the processor clicked on the minimap' });
    await screenshot(page, '10-minimap');
  });

  it('shows why a processor is invalid on hover and in its panel', async () => {
    const id = ids.gen;
    await page.waitForSelector(`${tid(`processor-${id}`)}[data-state="invalid"]`);
    const tip = await tooltipOf(tid(`state-${id}`), 'Invalid');
    assert.match(tip, /relationship 'success' is not connected/);
    await openProcessorPanel(page, id);
    await until(async () => (await page.locator(tid('validation-errors')).textContent()).includes("relationship 'success' is not connected"), { what: 'reason listed in the panel' });
    assert.match(await page.locator(tid('panel-state')).textContent(), /invalid/);
    await page.click(tid('side-close'));
    // Fixing it (auto-terminate on the canvas) clears the state and the reasons.
    await page.click(tid(`autoterminate-${id}`));
    await page.waitForSelector(`${tid(`processor-${id}`)}[data-state="stopped"]`);
    assert.equal(await tooltipOf(tid(`state-${id}`), 'Stopped'), 'Stopped');
  });

  it('finds processor types by name and by description, in the palette and in quick-add', async () => {
    const types = (await api(server.url, 'GET', '/api/processor-types')).processor_types;
    // A word found only in one type's description (not in any name, tag or other description).
    const words = (t) => (t.description || '').toLowerCase().split(/[^a-z]+/).filter((w) => w.length >= 7);
    let target = null;
    let word = null;
    for (const t of types) {
      word = words(t).find((w) => types.every((o) => !o.type.toLowerCase().includes(w) && !(o.tags || []).some((x) => x.toLowerCase().startsWith(w))
        && (o === t || !(o.description || '').toLowerCase().includes(w))));
      if (word) { target = t.type; break; }
    }
    assert.ok(target, 'some type has a word of its own in its description');
    await page.fill(tid('palette-search'), word);
    await until(async () => (await page.locator('[data-testid^="palette-item-"]').count()) === 1, { what: `palette filtered by "${word}"` });
    assert.ok(await page.locator(tid(`palette-item-${target}`)).isVisible(), `"${word}" finds ${target} by its description`);
    // By name: names that start with the query come first.
    await page.fill(tid('palette-search'), 'split');
    await until(async () => (await page.locator('[data-testid^="palette-item-"]').first().getAttribute('data-type')) === 'SplitJson', { what: 'palette filtered by name' });
    const listed = await page.locator('[data-testid^="palette-item-"]').evaluateAll((els) => els.map((e) => e.dataset.type));
    assert.deepEqual(listed.slice(0, 2), ['SplitJson', 'SplitText']);
    assert.ok(!listed.includes('GenerateFlowFile'));
    await page.fill(tid('palette-search'), '');

    // Quick-add at the pointer: by description, then by name.
    for (const [query, type] of [[word, target], ['replacet', 'ReplaceText']]) {
      const n = (await flow()).processors.length;
      const spot = await emptySpot();
      await page.mouse.dblclick(spot.x, spot.y);
      await page.waitForSelector(tid('quick-add-input'));
      await page.keyboard.type(query);
      await until(async () => (await page.locator(`${tid('quick-add')} li[role="option"]`).first().getAttribute('data-testid')) === `quick-add-item-${type}`, { what: `quick-add offers ${type} first for "${query}"` });
      await page.keyboard.press('Enter');
      const f = await until(async () => { const f = await flow(); return f.processors.length === n + 1 && f; }, { what: `${type} quick-added` });
      const p = f.processors.find((x) => x.type === type && !Object.values(ids).includes(x.id));
      assert.ok(p, `${type} was added`);
      ids[type] = p.id;
      await page.waitForSelector(tid(`processor-${p.id}`));
      const b = await procBox(page, p.id);
      assert.ok(Math.abs(b.x + b.width / 2 - spot.x) < 30 && Math.abs(b.y + b.height / 2 - spot.y) < 30, `${type} placed at the pointer`);
    }
  });

  it('hints at expression language on the fields that support it', async () => {
    await fitView(page);
    await openProcessorPanel(page, ids.gen);
    const badge = page.locator(tid('el-badge-Custom Text'));
    await badge.waitFor({ state: 'visible' });
    assert.equal(await badge.textContent(), '${EL}');
    assert.equal(await page.locator(tid('el-badge-Batch Size')).count(), 0, 'no hint on a field without expression language');
    const hint = page.locator(tid('el-hint-Custom Text'));
    assert.ok(await hint.isHidden(), 'the hint shows only while the field has focus');
    await page.focus(tid('prop-Custom Text'));
    await hint.waitFor({ state: 'visible' });
    assert.match(await hint.textContent(), /\$\{attribute\}.*\$\{uuid\}/);
    await screenshot(page, '11-expression-language-hint');
    await page.focus(tid('prop-Batch Size'));
    await hint.waitFor({ state: 'hidden' });
    assert.match(await tooltipOf(tid('el-badge-Custom Text'), 'Expression language'), /\$\{filename:toUpper\(\)\}/);
    await page.click(tid('side-close'));
  });

  it('masks a sensitive property and never shows its value back', async () => {
    const secret = 'hunter2-Sluice-7f3a';
    const http = await api(server.url, 'POST', '/api/processors', { type: 'InvokeHTTP', name: 'Caller', position: { x: 0, y: 320 }, properties: { 'Remote URL': 'http://127.0.0.1:9/x' } });
    ids.http = http.id;
    await page.waitForSelector(tid(`processor-${http.id}`));
    await fitView(page);
    await openProcessorPanel(page, http.id);
    const field = page.locator(tid('prop-Basic Authentication Password'));
    assert.equal(await field.getAttribute('type'), 'password', 'typed into a masked field');
    await field.fill(secret);
    await page.click(tid('panel-apply'));
    const saved = await until(async () => { const p = await proc(http.id); return p.properties['Basic Authentication Password'] && p; }, { what: 'sensitive property saved' });
    assert.equal(saved.properties['Basic Authentication Password'], '********', 'the API answers a mask');
    assert.ok(!JSON.stringify(saved).includes(secret));
    const leaks = () => page.evaluate((s) => document.documentElement.outerHTML.includes(s)
      || [...document.querySelectorAll('input, textarea')].some((i) => i.value.includes(s)), secret);
    // The panel reloads from the server: set, but empty and masked.
    await until(async () => (await field.getAttribute('placeholder') || '').includes('set; type to replace'), { what: 'field shown as set' });
    assert.equal(await field.inputValue(), '');
    assert.equal(await field.getAttribute('type'), 'password');
    assert.equal(await leaks(), false, 'the secret is nowhere in the page after applying');
    await page.click(tid('side-close'));
    await openProcessorPanel(page, http.id);
    await until(async () => (await page.locator(tid('prop-Basic Authentication Password')).getAttribute('placeholder') || '').includes('set'), { what: 'reopened panel shows the value as set' });
    assert.equal(await page.locator(tid('prop-Basic Authentication Password')).inputValue(), '');
    assert.equal(await leaks(), false, 'nor after reopening the panel');
    // Editing another property keeps the secret on the server.
    await page.fill(tid('prop-Basic Authentication Username'), 'ops');
    await page.click(tid('panel-apply'));
    await until(async () => (await proc(http.id)).properties['Basic Authentication Username'] === 'ops', { what: 'other property saved' });
    assert.equal((await proc(http.id)).properties['Basic Authentication Password'], '********', 'the secret is still set');
    await page.click(tid('side-close'));
  });

  it('saves scheduling: cron strategy, concurrent tasks, penalty, yield and retry', async () => {
    const id = ids.ReplaceText;
    await fitView(page);
    await openProcessorPanel(page, id);
    await page.click(tid('tab-scheduling'));
    await page.selectOption(tid('sched-strategy'), 'CRON_DRIVEN');
    const periodLabel = page.locator(`${tid('tabpanel-scheduling')} label[for="${await page.locator(tid('sched-period')).getAttribute('id')}"]`);
    assert.match(await periodLabel.textContent(), /Cron expression/);
    assert.equal(await page.inputValue(tid('sched-period')), '0 * * * * ?', 'a cron default replaces the timer period');
    await page.fill(tid('sched-period'), '0 0');
    await until(async () => /6 or 7 fields/.test(await page.locator(`${tid('tabpanel-scheduling')} .field.invalid`).first().textContent()), { what: 'a short cron expression flagged' });
    await page.fill(tid('sched-period'), '0 */5 * * * ?');
    await page.fill(tid('sched-concurrent_tasks'), '3');
    await page.fill(tid('sched-penalty'), '45 sec');
    await page.fill(tid('sched-yield'), '2 sec');
    await page.check(tid('retry-failure'));
    await page.fill(tid('retry-attempts'), '4');
    await page.fill(tid('retry-max-backoff'), '2 mins');
    assert.equal(await page.locator(`${tid('tabpanel-scheduling')} .field.invalid`).count(), 0, 'no field flagged');
    await screenshot(page, '12-scheduling');
    await page.click(tid('panel-apply'));
    const p = await until(async () => { const p = await proc(id); return p.scheduling.strategy === 'CRON_DRIVEN' && p.retry && p; }, { what: 'scheduling saved' });
    assert.deepEqual(p.scheduling, { ...p.scheduling, strategy: 'CRON_DRIVEN', period: '0 */5 * * * ?', concurrent_tasks: 3, penalty: '45 sec', yield: '2 sec' });
    assert.deepEqual(p.retry, { relationships: ['failure'], attempts: 4, max_backoff: '2 mins' });
    // Once applied, the panel is drawn again from what the server kept.
    // (The Relationships tab's Retry box is only ticked by that redraw.)
    await until(() => page.isChecked(tid('rel-retry-failure')), { what: 'panel redrawn from the server, retry shown on the Relationships tab too' });
    assert.equal(await page.inputValue(tid('sched-strategy')), 'CRON_DRIVEN');
    assert.equal(await page.inputValue(tid('sched-period')), '0 */5 * * * ?');
    assert.equal(await page.inputValue(tid('sched-concurrent_tasks')), '3');
    assert.ok(await page.locator(tid('panel-apply')).isDisabled(), 'nothing left to apply');
  });

  it('auto-terminates relationships from the Relationships tab', async () => {
    const id = ids.ReplaceText;
    await page.click(tid('tab-relationships'));
    const tipOf = () => page.locator(tid(`unconnected-${id}`)).getAttribute('data-tip');
    assert.match(await tipOf(), /auto-terminated: success, failure\./);
    assert.match(await page.locator(tid('rel-failure')).getAttribute('class'), /unconnected/);
    await page.check(tid('autoterm-failure'));
    await page.click(tid('panel-apply'));
    await until(async () => JSON.stringify((await proc(id)).auto_terminated_relationships) === '["failure"]', { what: 'failure auto-terminated on the server' });
    await until(async () => /auto-terminated: success\. /.test(await tipOf()), { what: 'canvas to list only success as unconnected' });
    // One click for every unconnected relationship.
    await page.click(tid('panel-autoterminate-all'));
    assert.ok(await page.isChecked(tid('autoterm-success')));
    await page.click(tid('panel-apply'));
    await until(async () => JSON.stringify([...(await proc(id)).auto_terminated_relationships].sort()) === '["failure","success"]', { what: 'both auto-terminated' });
    await page.waitForSelector(tid(`unconnected-${id}`), { state: 'hidden' });
    // Unticking gives the relationship back.
    await page.uncheck(tid('autoterm-failure'));
    await page.click(tid('panel-apply'));
    await until(async () => JSON.stringify((await proc(id)).auto_terminated_relationships) === '["success"]', { what: 'failure no longer auto-terminated' });
    await page.waitForSelector(tid(`unconnected-${id}`), { state: 'visible' });
    await page.click(tid('side-close'));
  });

  it('shows a bulletin badge on a processor that posts bulletins, opening its bulletins', async () => {
    const missing = `/nonexistent-sluice-e2e-${process.pid}/in`;
    const g = await api(server.url, 'POST', '/api/processors', { type: 'GetFile', name: 'Reader', position: { x: 640, y: 320 }, properties: { 'Input Directory': missing }, auto_terminated_relationships: ['success'] });
    await page.waitForSelector(tid(`processor-${g.id}`));
    await fitView(page);
    const badge = page.locator(tid(`bulletin-badge-${g.id}`));
    assert.ok(await badge.isHidden(), 'no badge before any bulletin');
    await api(server.url, 'POST', `/api/processors/${g.id}/start`);
    await badge.waitFor({ state: 'visible', timeout: 20000 });
    assert.ok(Number(await badge.textContent()) >= 1, 'the badge counts the bulletins');
    assert.match(await badge.getAttribute('aria-label'), /^\d+ bulletins?$/);
    await api(server.url, 'POST', `/api/processors/${g.id}/stop`);
    await screenshot(page, '13-bulletin-badge');
    await badge.click();
    await page.waitForSelector(tid('bulletins-table'), { state: 'visible' });
    assert.equal(await page.inputValue(tid('bulletins-component')), g.id, 'filtered to the processor');
    const row = page.locator(`${tid('bulletins-table')} tr[data-testid^="bulletin-"]`).first();
    await row.waitFor();
    assert.match(await row.textContent(), new RegExp(`Reader.*cannot read ${missing}`));
    await page.click(tid('drawer-close'));
    assert.deepEqual(browser.errors, []);
  });
});
