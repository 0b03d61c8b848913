// The editor end to end, on a real sluice server in headless Chromium: build
// GenerateFlowFile → UpdateAttribute → LogAttribute by drag and drop from an empty canvas,
// configure, run, look at the queue and provenance, undo a deletion, and watch a second
// browser follow along. Every wait is on state.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openEditor, screenshot, api, drag, center, tid, until } from './helpers.mjs';

describe('flow editor', () => {
  let server;
  let browser;
  let page;
  const ids = {};
  const conn = {};

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = browser.page;
    await openEditor(page, server.url);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) {
      server.saveLog('editor');
      await server.cleanup();
    }
  });

  const flow = () => api(server.url, 'GET', '/api/flow');
  const count = async (testid) => Number(await page.locator(tid(testid)).getAttribute('data-count'));

  it('starts on an empty canvas with the palette of every processor type', async () => {
    await page.waitForSelector(tid('empty-hint'), { state: 'visible' });
    const descriptors = (await api(server.url, 'GET', '/api/processor-types')).processor_types;
    const types = descriptors.map((t) => t.type);
    for (const t of ['GenerateFlowFile', 'UpdateAttribute', 'LogAttribute']) assert.ok(types.includes(t), `${t} is a type`);
    for (const t of types) await page.waitForSelector(tid(`palette-item-${t}`));
    // Search by tag narrows the palette.
    // The types the server tags "logging" (or names or describes so), and no others.
    const logging = descriptors.filter((t) => t.type.toLowerCase().includes('logging')
      || (t.tags || []).some((x) => x.toLowerCase().startsWith('logging'))
      || (t.description || '').toLowerCase().includes('logging')).map((t) => t.type);
    assert.ok(logging.includes('LogAttribute') && logging.length < types.length, `logging matches ${logging}`);
    await page.fill(tid('palette-search'), 'logging');
    await until(async () => (await page.locator('.palette-item').count()) === logging.length, { what: 'palette filtered by tag' });
    for (const t of logging) assert.ok(await page.locator(tid(`palette-item-${t}`)).isVisible(), `${t} shown`);
    await page.fill(tid('palette-search'), '');
  });

  it('adds three processors by dragging them from the palette', async () => {
    const canvas = await page.locator(tid('canvas')).boundingBox();
    const spots = { GenerateFlowFile: [150, 170], UpdateAttribute: [520, 170], LogAttribute: [890, 170] };
    for (const [type, [x, y]] of Object.entries(spots)) {
      const before = (await flow()).processors.length;
      await drag(page, await center(page.locator(tid(`palette-item-${type}`))), { x: canvas.x + x, y: canvas.y + y });
      const f = await until(async () => { const f = await flow(); return f.processors.length === before + 1 && f; }, { what: `${type} created` });
      const p = f.processors.find((q) => q.type === type);
      ids[type] = p.id;
      await page.waitForSelector(tid(`processor-${p.id}`));
    }
    assert.equal(await page.locator('g.proc').count(), 3);
    await page.waitForSelector(tid('empty-hint'), { state: 'hidden' });
  });

  it('connects processors by dragging from an output to another processor', async () => {
    const pairs = [['GenerateFlowFile', 'UpdateAttribute'], ['UpdateAttribute', 'LogAttribute']];
    for (const [a, b] of pairs) {
      await drag(page, await center(page.locator(tid(`port-out-${ids[a]}`))), await center(page.locator(`${tid(`processor-${ids[b]}`)} .proc-box`)));
      await page.waitForSelector(tid('connect-popover'));
      assert.ok(await page.locator(tid('connect-rel-success')).isChecked(), 'unconnected relationship is chosen by default');
      await page.click(tid('connect-confirm'));
      const c = await until(async () => (await flow()).connections.find((x) => x.source === ids[a] && x.destination === ids[b]), { what: `connection ${a} → ${b}` });
      conn[a] = c.id;
      await page.waitForSelector(tid(`connection-${c.id}`), { state: 'attached' });
      await page.waitForSelector(tid(`queue-count-${c.id}`));
    }
  });

  it('shows unconnected relationships and auto-terminates them in one click', async () => {
    const log = ids.LogAttribute;
    await page.waitForSelector(tid(`unconnected-${log}`), { state: 'visible' });
    await page.click(tid(`autoterminate-${log}`));
    await page.waitForSelector(tid(`unconnected-${log}`), { state: 'hidden' });
    const p = await api(server.url, 'GET', `/api/processors/${log}`);
    assert.deepEqual(p.auto_terminated_relationships, ['success']);
  });

  it('configures properties in the side panel, validated by the server as you type', async () => {
    const gen = ids.GenerateFlowFile;
    await page.dblclick(`${tid(`processor-${gen}`)} .proc-name`);
    await page.waitForSelector(tid('processor-panel'));
    await page.fill(tid('prop-Batch Size'), 'lots');
    await until(async () => (await page.locator(tid('field-error-Batch Size')).textContent()).includes('lots'), { what: 'server validation message for Batch Size' });
    await page.fill(tid('prop-Batch Size'), '3');
    await until(async () => (await page.locator(tid('field-error-Batch Size')).textContent()) === '', { what: 'validation message to clear' });
    await page.fill(tid('prop-Custom Text'), '{"order": 42, "item": "sluice gate"}');
    await screenshot(page, '02-configuration-panel');
    // Scheduling: run every 100 ms instead of the type's default.
    await page.click(tid('tab-scheduling'));
    await page.fill(tid('sched-period'), '100 ms');
    await page.click(tid('panel-apply'));
    await until(async () => {
      const p = await api(server.url, 'GET', `/api/processors/${gen}`);
      return p.properties['Batch Size'] === '3' && p.scheduling.period === '100 ms';
    }, { what: 'Batch Size and run schedule saved' });
    // A dynamic property on UpdateAttribute.
    await page.dblclick(`${tid(`processor-${ids.UpdateAttribute}`)} .proc-name`);
    await page.waitForSelector(`${tid('processor-panel')} ${tid('add-dynamic-property')}`);
    await page.click(tid('add-dynamic-property'));
    await page.fill(tid('dyn-new-name'), 'color');
    await page.fill(tid('prop-new'), 'blue');
    await page.click(tid('panel-apply'));
    await until(async () => (await api(server.url, 'GET', `/api/processors/${ids.UpdateAttribute}`)).properties.color === 'blue', { what: 'dynamic property saved' });
    await page.click(tid('side-close'));
  });

  it('starts a selection and the connection count moves live', async () => {
    const c2 = conn.UpdateAttribute;
    assert.equal(await count(`queue-count-${c2}`), 0);
    await page.click(`${tid(`processor-${ids.GenerateFlowFile}`)} .proc-name`);
    await page.click(`${tid(`processor-${ids.UpdateAttribute}`)} .proc-name`, { modifiers: ['Shift'] });
    await page.keyboard.press('s');
    await until(async () => (await count(`queue-count-${c2}`)) > 0, { what: 'queue count to move on screen' });
    const first = await count(`queue-count-${c2}`);
    await until(async () => (await count(`queue-count-${c2}`)) > first, { what: 'queue count to keep moving' });
    await until(async () => Number((await page.locator(tid(`processor-out-${ids.GenerateFlowFile}`)).textContent()).replace(/,/g, '')) > 0, { what: 'processor out count' });
    await page.click('.canvas-bg');
    await screenshot(page, '01-canvas-live');
  });

  it('lists the queue page by page and shows a flowfile with its content', async () => {
    const c2 = conn.UpdateAttribute;
    await page.dblclick(`${tid(`connection-label-${c2}`)} .conn-rels`);
    await page.waitForSelector(tid('connection-panel'));
    await page.click(tid('panel-list-queue'));
    await page.waitForSelector(`${tid('queue-view')} tr[data-uuid]`);
    await page.click(tid('side-close'));
    // Page size 25; once more than 25 are queued, page 2 is reachable (not capped).
    await page.selectOption(tid('queue-page-size'), '25');
    await until(async () => {
      await page.click(tid('queue-refresh'));
      return Number((await page.locator(tid('queue-total')).textContent()).replace(/,/g, '')) > 25;
    }, { what: 'more than 25 queued', timeout: 30000, interval: 500 });
    await page.click(tid('queue-next'));
    await until(async () => (await page.locator(tid('queue-page')).textContent()).startsWith('Page 2'), { what: 'page 2' });
    await page.waitForSelector(`${tid('queue-view')} tr[data-uuid]`);
    await page.click(tid('queue-prev'));
    await until(async () => (await page.locator(tid('queue-page')).textContent()).startsWith('Page 1'), { what: 'page 1' });
    await page.click(`${tid('queue-view')} tr[data-uuid] >> nth=0`);
    await page.waitForSelector(tid('flowfile-attributes'));
    const attrs = await page.locator(tid('flowfile-attributes')).textContent();
    assert.match(attrs, /color\s*blue/);
    await until(async () => (await page.locator(tid('flowfile-content-body')).textContent()).includes('"order": 42'), { what: 'pretty JSON content' });
    await page.click(tid('flowfile-content-mode-hex'));
    await until(async () => (await page.locator(tid('flowfile-content-body')).textContent()).startsWith('00000000'), { what: 'hex view' });
    await page.click(tid('flowfile-content-mode-json'));
    await screenshot(page, '03-queue-view');
  });

  it('opens the provenance of a flowfile, an event with its attribute changes, and its lineage', async () => {
    const uuid = await page.locator(tid('flowfile-uuid')).textContent();
    await page.click(tid('flowfile-provenance'));
    await page.waitForSelector(`${tid('provenance-view')} tr[data-event-type]`);
    assert.equal(await page.inputValue(tid('prov-flowfile')), uuid);
    const row = page.locator(`${tid('provenance-view')} tr[data-event-type="ATTRIBUTES_MODIFIED"]`).first();
    await row.click();
    await page.waitForSelector(`${tid('event-attributes')} tr[data-attr="color"][data-change="added"]`);
    await screenshot(page, '04-provenance-event');
    await page.click(tid('event-lineage'));
    await page.waitForSelector(`${tid('lineage-graph')} .lin-event`);
    const nodes = await page.locator(`${tid('lineage-graph')} .lin-node`).count();
    assert.ok(nodes >= 3, `lineage has ${nodes} nodes`);
    const createNode = page.locator(`${tid('lineage-graph')} .lin-event`).first();
    await createNode.click();
    await until(async () => ((await page.locator(tid('event-type')).textContent()) || '').length > 0, { what: 'event opened from the lineage' });
    await screenshot(page, '05-lineage');
    await page.click(tid('drawer-close'));
  });

  it('deletes a processor with a guard for its non-empty queue, then undoes it', async () => {
    await page.click(tid('btn-stop'));
    await until(async () => (await flow()).processors.every((p) => p.state !== 'RUNNING'), { what: 'all stopped' });
    const log = ids.LogAttribute;
    const c2 = conn.UpdateAttribute;
    await until(async () => (await count(`queue-count-${c2}`)) > 0, { what: 'queue to hold flowfiles' });
    await page.click(`${tid(`processor-${log}`)} .proc-name`);
    await page.keyboard.press('Delete');
    await page.waitForSelector(tid('delete-guard'));
    await page.click(`${tid('delete-guard')} ${tid('confirm-ok')}`);
    await until(async () => !(await flow()).processors.some((p) => p.id === log), { what: 'processor deleted' });
    await page.waitForSelector(tid(`processor-${log}`), { state: 'detached' });
    await page.keyboard.press('Control+z');
    const f = await until(async () => { const f = await flow(); return f.processors.some((p) => p.id === log) && f.connections.some((c) => c.destination === log) && f; }, { what: 'undo to restore the processor and its connection' });
    assert.deepEqual(f.processors.find((p) => p.id === log).auto_terminated_relationships, ['success']);
    await page.waitForSelector(tid(`processor-${log}`));
    await page.waitForSelector(tid(`connection-label-${f.connections.find((c) => c.destination === log).id}`));
  });

  it('shows one browser\'s edits live in a second browser', async () => {
    const other = await launchBrowser();
    try {
      const page2 = other.page;
      await openEditor(page2, server.url);
      const gen = ids.GenerateFlowFile;
      await page2.waitForSelector(tid(`processor-${gen}`));
      // Rename in the first browser.
      await page.dblclick(`${tid(`processor-${gen}`)} .proc-name`);
      await page.fill(tid('processor-name-input'), 'Orders');
      await page.click(tid('panel-apply'));
      await until(async () => (await page2.locator(tid(`processor-name-${gen}`)).textContent()) === 'Orders', { what: 'rename to reach the second browser' });
      // Add a processor in the first; it appears in the second.
      const canvas = await page.locator(tid('canvas')).boundingBox();
      const n = (await flow()).processors.length;
      await drag(page, await center(page.locator(tid('palette-item-LogAttribute'))), { x: canvas.x + 300, y: canvas.y + 420 });
      const f = await until(async () => { const f = await flow(); return f.processors.length === n + 1 && f; }, { what: 'processor added' });
      const added = f.processors.find((p) => !Object.values(ids).includes(p.id));
      await page2.waitForSelector(tid(`processor-${added.id}`));
      assert.deepEqual(other.errors, []);
    } finally {
      await other.close();
    }
    assert.deepEqual(browser.errors, []);
  });
});
