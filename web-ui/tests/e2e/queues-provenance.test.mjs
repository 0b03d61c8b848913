// Connections, queues and provenance on a real server with data in it: the back-pressure
// fill colours, the connection's settings saved from its panel, the text mode of the content
// viewer, provenance searched by component, type and attribute, an event's input and output
// content and its replay, panning and zooming the lineage graph, and emptying queues. The
// flow is Source (GenerateFlowFile) → Tag (UpdateAttribute) → Rewrite (ReplaceText) → Sink
// (LogAttribute, never started, so the last queue keeps what arrives).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, openEditor, screenshot, api, drag, tid, until,
  fitView, openConnectionPanel, cssVarColor,
} from './helpers.mjs';

const ORIGINAL = '{"order": 7, "item": "gate"}';
const REWRITTEN = '{"order": 7, "item": "sluice"}';
const rowsSel = `${tid('prov-results')} tbody tr[data-event-type]`;

describe('queues and provenance', () => {
  let server;
  let browser;
  let page;
  const p = {};
  const c = {};

  before(async () => {
    server = await startServer();
    const post = (path, body) => api(server.url, 'POST', path, body);
    p.gen = (await post('/api/processors', { type: 'GenerateFlowFile', name: 'Source', position: { x: 0, y: 0 }, properties: { 'Custom Text': ORIGINAL, 'Batch Size': '1' }, scheduling: { period: '50 ms' } })).id;
    p.upd = (await post('/api/processors', { type: 'UpdateAttribute', name: 'Tag', position: { x: 400, y: 0 }, properties: { stage: 'updated' } })).id;
    p.rep = (await post('/api/processors', { type: 'ReplaceText', name: 'Rewrite', position: { x: 800, y: 0 }, properties: { 'Replacement Strategy': 'Literal Replace', 'Search Value': 'gate', 'Replacement Value': 'sluice' }, auto_terminated_relationships: ['failure'] })).id;
    p.log = (await post('/api/processors', { type: 'LogAttribute', name: 'Sink', position: { x: 1200, y: 0 }, auto_terminated_relationships: ['success'] })).id;
    c.c1 = (await post('/api/connections', { source: p.gen, destination: p.upd, relationships: ['success'] })).id;
    c.c2 = (await post('/api/connections', { source: p.upd, destination: p.rep, relationships: ['success'] })).id;
    c.c3 = (await post('/api/connections', { source: p.rep, destination: p.log, relationships: ['success'] })).id;
    for (const id of [p.upd, p.rep, p.gen]) await post(`/api/processors/${id}/start`);
    await until(async () => (await queued(c.c3)) >= 8, { what: '8 flowfiles through the flow', timeout: 30000 });
    // Stop the source, let the rest drain into the last queue, then stop everything.
    const idle = async (id) => { const x = await api(server.url, 'GET', `/api/processors/${id}`); return x.state === 'STOPPED' && !x.active_tasks; };
    await post(`/api/processors/${p.gen}/stop`);
    await until(() => idle(p.gen), { what: 'the source to stop' });
    await until(async () => (await queued(c.c1)) === 0 && (await queued(c.c2)) === 0, { what: 'the middle queues to drain', timeout: 30000 });
    for (const id of [p.upd, p.rep]) {
      await post(`/api/processors/${id}/stop`);
      await until(() => idle(id), { what: 'processors to stop' });
    }
    browser = await launchBrowser();
    page = browser.page;
    await openEditor(page, server.url);
    await page.waitForSelector(tid(`connection-label-${c.c3}`));
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) {
      server.saveLog('queues-provenance');
      await server.cleanup();
    }
  });

  const conn = (id) => api(server.url, 'GET', `/api/connections/${id}`);
  async function queued(id) {
    const s = (await conn(id)).status;
    return s.queued_count + (s.in_flight || 0);
  }
  const shownCount = async (id) => Number(await page.locator(tid(`queue-count-${id}`)).getAttribute('data-count'));
  const rows = () => page.locator(rowsSel).evaluateAll((trs) => trs.map((tr) => ({
    id: tr.dataset.testid.replace('prov-row-', ''), type: tr.dataset.eventType, component: tr.cells[2].textContent, flowfile: tr.cells[3].title,
  })));
  const provenance = async (q) => (await api(server.url, 'GET', `/api/provenance?${new URLSearchParams({ limit: '100', ...q })}`)).events;
  /** Sets the search form (component id, type, attribute), searches, and waits for the table to show what the API finds. */
  async function searchUi({ component = '', type = '', attribute = '' }) {
    await page.selectOption(tid('prov-component'), component);
    await page.selectOption(tid('prov-type'), type);
    await page.fill(tid('prov-attribute'), attribute);
    await page.click(tid('prov-search'));
    const q = {};
    if (component) q.component = component;
    if (type) q.type = type;
    if (attribute) q.attribute = attribute;
    return until(async () => {
      const want = (await provenance(q)).map((e) => String(e.id));
      const got = await rows();
      if (!want.length) return (await page.locator(`${tid('prov-results')} tbody`).textContent()).includes('No events match.') && got.length === 0 && [];
      return got.length === want.length && got.every((r, i) => r.id === want[i]) && got;
    }, { what: `provenance table for ${JSON.stringify(q)}` });
  }

  it('colours the back-pressure fill bar green, yellow and red as the queue nears its threshold', async () => {
    await fitView(page);
    const q = (await conn(c.c3)).status.queued_count;
    assert.ok(q >= 8);
    const label = page.locator(tid(`connection-label-${c.c3}`));
    const bar = page.locator(tid(`queue-fill-${c.c3}`));
    for (const [level, threshold, cssVar] of [['yellow', Math.round(q / 0.72), '--yellow'], ['red', q + 1, '--red'], ['green', q * 4, '--ok']]) {
      await api(server.url, 'PATCH', `/api/connections/${c.c3}`, { back_pressure_object_threshold: threshold });
      await page.waitForSelector(`${tid(`connection-label-${c.c3}`)}[data-level="${level}"]`);
      const want = await cssVarColor(page, cssVar);
      await until(async () => (await bar.evaluate((el) => getComputedStyle(el).fill)) === want, { what: `${level} bar (${want})` });
      const width = Number(await bar.getAttribute('width'));
      assert.ok(Math.abs(width - Math.round((q / threshold) * 122)) <= 1, `${level}: the bar is ${q}/${threshold} full (width ${width})`);
      assert.ok(await label.locator('.conn-full-tag').isHidden(), 'not marked FULL');
      assert.equal(await page.locator(tid(`connection-${c.c3}`)).getAttribute('data-level'), level);
      if (level === 'yellow') await screenshot(page, '14-fill-yellow');
    }
    // The other two queues are empty: green with an empty bar.
    assert.equal(await page.locator(tid(`connection-label-${c.c2}`)).getAttribute('data-level'), 'green');
    assert.equal(Number(await page.locator(tid(`queue-fill-${c.c2}`)).getAttribute('width')), 0);
  });

  it('configures a connection\'s thresholds, prioritizers and expiration in its panel', async () => {
    await openConnectionPanel(page, c.c3);
    await page.fill(tid('conn-size-threshold'), 'lots');
    await until(async () => /A size such as/.test(await page.locator(tid('connection-panel')).textContent()), { what: 'invalid size flagged' });
    await page.fill(tid('conn-object-threshold'), '500');
    await page.fill(tid('conn-size-threshold'), '20 MB');
    await page.fill(tid('conn-expiration'), '1 hour');
    await page.click(tid('prio-add-OldestFlowFileFirstPrioritizer'));
    await page.click(tid('prio-add-PriorityAttributePrioritizer'));
    await page.click(`${tid('connection-panel')} button[aria-label="Move Priority attribute (lower first) up"]`);
    assert.equal(await page.locator(`${tid('connection-panel')} .field-error:not(:empty)`).count(), 0, 'no field flagged');
    await screenshot(page, '15-connection-panel');
    await page.click(tid('panel-apply'));
    const saved = await until(async () => { const x = await conn(c.c3); return x.back_pressure_object_threshold === 500 && x; }, { what: 'connection settings saved' });
    assert.equal(saved.back_pressure_data_size_threshold, '20 MB');
    assert.equal(saved.flowfile_expiration, '1 hour');
    assert.deepEqual(saved.prioritizers, ['PriorityAttributePrioritizer', 'OldestFlowFileFirstPrioritizer']);
    // The panel shows what the server kept, and the live fill bar follows the new threshold.
    const meter = page.locator(`${tid('panel-queue-live')} .fill-bar.lvl-green[role="meter"]`);
    const pct = String(Math.round((saved.status.queued_count / 500) * 100));
    await until(async () => (await meter.getAttribute('aria-valuenow')) === pct, { what: `panel fill meter at ${pct}% of the new threshold` });
    assert.equal(await page.inputValue(tid('conn-object-threshold')), '500');
    assert.ok(await page.locator(tid('panel-apply')).isDisabled(), 'nothing left to apply');
  });

  it('shows a queued flowfile\'s content as text as well as JSON', async () => {
    await page.click(tid('panel-list-queue'));
    const row = page.locator(`${tid('queue-view')} tr[data-uuid]`).first();
    await row.click();
    const uuid = await until(async () => page.locator(tid('flowfile-uuid')).textContent(), { what: 'flowfile opened' });
    const raw = await (await fetch(`${server.url}/api/flowfiles/${uuid}/content`)).text();
    assert.equal(raw, REWRITTEN);
    const body = page.locator(tid('flowfile-content-body'));
    await until(async () => (await body.textContent()) === JSON.stringify(JSON.parse(REWRITTEN), null, 2), { what: 'pretty JSON first' });
    await page.click(tid('flowfile-content-mode-text'));
    await until(async () => (await body.textContent()) === raw, { what: 'the content as text, byte for byte' });
    assert.equal(await page.locator(tid('flowfile-content-mode-text')).getAttribute('aria-pressed'), 'true');
    assert.equal(await page.locator(tid('flowfile-content-mode-json')).getAttribute('aria-pressed'), 'false');
    await screenshot(page, '16-content-text');
  });

  it('searches provenance by component, event type and attribute', async () => {
    await page.click(tid('btn-provenance'));
    await until(async () => (await page.locator(tid('prov-summary')).textContent()) !== '', { what: 'first search' });
    // By component.
    let got = await searchUi({ component: p.rep });
    assert.ok(got.length >= 8 && got.every((r) => r.component === 'Rewrite'), 'only Rewrite\'s events');
    assert.ok(got.some((r) => r.type === 'CONTENT_MODIFIED'));
    // By type.
    got = await searchUi({ type: 'CONTENT_MODIFIED' });
    assert.ok(got.length >= 8 && got.every((r) => r.type === 'CONTENT_MODIFIED'));
    // Both.
    got = await searchUi({ component: p.gen, type: 'CREATE' });
    assert.ok(got.length >= 8 && got.every((r) => r.type === 'CREATE' && r.component === 'Source'));
    // By attribute: the flowfiles after Tag carry stage=updated; CREATE came before it.
    got = await searchUi({ attribute: 'stage:updated' });
    assert.ok(got.length >= 16 && !got.some((r) => r.type === 'CREATE'), 'events with stage=updated, none of them a CREATE');
    assert.ok(got.some((r) => r.type === 'ATTRIBUTES_MODIFIED' && r.component === 'Tag') && got.some((r) => r.type === 'CONTENT_MODIFIED' && r.component === 'Rewrite'));
    // One flowfile by its uuid attribute.
    const one = got.find((r) => r.type === 'CONTENT_MODIFIED').flowfile;
    got = await searchUi({ attribute: `uuid:${one}` });
    assert.ok(got.length >= 3 && got.every((r) => r.flowfile === one), 'only that flowfile\'s events');
    assert.ok(['CREATE', 'ATTRIBUTES_MODIFIED', 'CONTENT_MODIFIED'].every((t) => got.some((r) => r.type === t)), 'its whole history');
    // Nothing matches.
    await searchUi({ type: 'CREATE', attribute: 'stage:updated' });
    await screenshot(page, '17-provenance-search');
  });

  it('shows an event\'s input and output content, and replays it into its queue', async () => {
    const got = await searchUi({ component: p.rep, type: 'CONTENT_MODIFIED' });
    const ev = got[0];
    await page.click(tid(`prov-row-${ev.id}`));
    await until(async () => (await page.locator(tid('event-type')).textContent()) === 'CONTENT_MODIFIED', { what: 'event opened' });
    const text = async (which) => (await fetch(`${server.url}/api/provenance/events/${ev.id}/content/${which}`)).text();
    // Output first (it exists), as JSON; then as text, byte for byte.
    await until(async () => (await page.locator(tid('event-content-output-body')).textContent()).includes('"item": "sluice"'), { what: 'output content' });
    await page.click(tid('event-content-output-mode-text'));
    await until(async () => (await page.locator(tid('event-content-output-body')).textContent()) === REWRITTEN, { what: 'output content as text' });
    assert.equal(await text('output'), REWRITTEN);
    await page.click(tid('event-input'));
    assert.equal(await page.locator(tid('event-input')).getAttribute('aria-pressed'), 'true');
    await until(async () => (await page.locator(tid('event-content-input-body')).textContent()).includes('"item": "gate"'), { what: 'input content' });
    await page.click(tid('event-content-input-mode-text'));
    await until(async () => (await page.locator(tid('event-content-input-body')).textContent()) === ORIGINAL, { what: 'input content as text' });
    assert.equal(await text('input'), ORIGINAL);
    await screenshot(page, '18-event-input-content');

    // Replay puts the input flowfile back into Rewrite's input queue (Rewrite is stopped).
    const before = await queued(c.c2);
    await page.click(tid('event-replay'));
    await until(async () => (await page.locator(tid('toast-info')).allTextContents()).some((t) => t.startsWith('Replayed')), { what: 'replay confirmed' });
    await until(async () => (await queued(c.c2)) === before + 1, { what: 'replayed flowfile queued' });
    await until(async () => (await shownCount(c.c2)) === before + 1, { what: 'canvas count to show it' });
    const listing = await api(server.url, 'GET', `/api/connections/${c.c2}/queue?offset=0&limit=10`);
    const replayed = listing.flowfiles[listing.flowfiles.length - 1];
    assert.equal(await (await fetch(`${server.url}/api/flowfiles/${replayed.uuid}/content`)).text(), ORIGINAL, 'with the input content');
    assert.equal(replayed.attributes.stage, 'updated', 'and the input attributes');
  });

  it('pans and zooms the lineage graph', async () => {
    await page.click(tid('event-lineage'));
    const graph = page.locator(tid('lineage-graph'));
    await page.waitForSelector(`${tid('lineage-graph')} .lin-event`);
    const node = page.locator(`${tid('lineage-graph')} .lin-event`).first();
    // The graph is fitted on the next frame: wait for the root transform.
    await until(async () => /scale/.test(await graph.locator(':scope > g').getAttribute('transform') || ''), { what: 'lineage fitted' });
    const box = () => node.boundingBox();
    const blank = await graph.evaluate((svg) => {
      const r = svg.getBoundingClientRect();
      for (let y = r.top + 10; y < r.bottom - 10; y += 13) {
        for (let x = r.left + 10; x < r.right - 10; x += 17) {
          if (document.elementFromPoint(x, y) === svg && document.elementFromPoint(x + 80, y + 50) === svg) return { x, y };
        }
      }
      return null;
    });
    assert.ok(blank, 'a blank spot on the lineage graph');
    const b0 = await box();
    await drag(page, blank, { x: blank.x + 80, y: blank.y + 50 });
    const b1 = await box();
    assert.ok(Math.abs(b1.x - b0.x - 80) < 1.5 && Math.abs(b1.y - b0.y - 50) < 1.5, `dragging pans (${b0.x},${b0.y} → ${b1.x},${b1.y})`);
    await page.mouse.move(blank.x + 80, blank.y + 50);
    await page.mouse.wheel(0, -240);
    const b2 = await until(async () => { const b = await box(); return b.width > b1.width * 1.2 && b; }, { what: 'wheel to zoom in' });
    await page.click(tid('lineage-zoom-out'));
    const b3 = await until(async () => { const b = await box(); return b.width < b2.width && b; }, { what: 'zoom out button' });
    assert.ok(Math.abs(b3.width / b2.width - 0.8) < 0.02);
    await page.click(tid('lineage-zoom-in'));
    const b4 = await until(async () => { const b = await box(); return b.width > b3.width && b; }, { what: 'zoom in button' });
    assert.ok(Math.abs(b4.width / b3.width - 1.25) < 0.02);
    await page.click(tid('lineage-fit'));
    await until(async () => { const b = await box(); return Math.abs(b.width - b0.width) < 1 && Math.abs(b.x - b0.x) < 1.5 && Math.abs(b.y - b0.y) < 1.5; }, { what: 'fit to restore the view' });
    await screenshot(page, '19-lineage-zoomed');
    await page.click(tid('drawer-close'));
  });

  it('empties a queue from the connection panel and from the queue view', async () => {
    await fitView(page);
    await openConnectionPanel(page, c.c3);
    const n = await queued(c.c3);
    assert.ok(n > 0);
    await page.click(tid('panel-empty-queue'));
    await page.click(`${tid('confirm-popover')} ${tid('confirm-ok')}`);
    await until(async () => (await page.locator(tid('toast-info')).allTextContents()).some((t) => t.startsWith(`Dropped ${n} flowfiles`)), { what: 'how many were dropped' });
    await until(async () => (await queued(c.c3)) === 0, { what: 'queue emptied on the server' });
    await until(async () => (await shownCount(c.c3)) === 0, { what: 'canvas count back to 0' });
    await until(async () => (await page.locator(tid('panel-queue-count')).textContent()) === '0', { what: 'panel count back to 0' });
    assert.ok(await page.locator(tid('panel-empty-queue')).isDisabled());
    // The replayed flowfile waits in Rewrite's input queue: empty it from the queue view.
    await page.click(tid('side-close'));
    await openConnectionPanel(page, c.c2);
    await page.click(tid('panel-list-queue'));
    await until(async () => (await page.locator(tid('queue-total')).textContent()) === '1', { what: 'queue view lists 1' });
    await page.click(tid('queue-empty'));
    await page.click(`${tid('confirm-popover')} ${tid('confirm-ok')}`);
    await until(async () => (await page.locator(tid('queue-total')).textContent()) === '0', { what: 'queue view emptied' });
    assert.match(await page.locator(`${tid('queue-table')} tbody`).textContent(), /The queue is empty/);
    assert.equal(await queued(c.c2), 0);
    await until(async () => (await shownCount(c.c2)) === 0, { what: 'canvas count of the emptied queue' });
    assert.deepEqual(browser.errors, []);
  });
});
