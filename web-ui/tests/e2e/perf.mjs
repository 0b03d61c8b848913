// Measures the editor in headless Chromium on a real sluice server:
//  - render: a flow of 300 processors and 400 connections (PUT /api/flow), from the flow
//    request to the canvas painted, and from navigation start;
//  - pan: frames per second while the view pans programmatically every animation frame
//    (requestAnimationFrame counting), at 100 % zoom and with the whole flow in view;
//  - live delay: from an engine change to the number on screen (a rename through the API;
//    a generator started through the API until its queue count moves), and the lag of the
//    status messages to the DOM.
// Usage: node perf.mjs   (SLUICE_BIN as for the tests). Prints figures and a JSON line.
import { startServer, launchBrowser, openEditor, api, until } from './helpers.mjs';

const P = 300;
const CHAINS = P / 3;

const RUN = process.env.PERF_STOPPED ? 'STOPPED' : 'RUNNING';

function definition() {
  const processors = [];
  const connections = [];
  const perRow = 6;
  for (let k = 0; k < CHAINS; k++) {
    const row = Math.floor(k / perRow);
    const col = (k % perRow) * 3;
    const y = row * 176;
    const gen = `gen-${k}`, upd = `upd-${k}`, log = `log-${k}`;
    processors.push(
      { id: gen, type: 'GenerateFlowFile', name: `Generate ${k}`, position: { x: col * 320, y }, properties: { 'Batch Size': '1', 'File Size': '64 B' }, state: RUN, auto_terminated_relationships: [], scheduling: { strategy: 'TIMER_DRIVEN', period: '1 sec', concurrent_tasks: 1, penalty: '30 sec', yield: '1 sec', run_duration: '0 ms' } },
      { id: upd, type: 'UpdateAttribute', name: `Tag ${k}`, position: { x: (col + 1) * 320, y }, properties: { chain: String(k) }, state: RUN, auto_terminated_relationships: [] },
      { id: log, type: 'LogAttribute', name: `Log ${k}`, position: { x: (col + 2) * 320, y }, properties: { 'Log Level': 'debug' }, state: k % 2 ? RUN : 'STOPPED', auto_terminated_relationships: ['success'] },
    );
    connections.push(
      { id: `c-${k}-a`, source: gen, relationships: ['success'], destination: upd, back_pressure_object_threshold: 50, back_pressure_data_size_threshold: '1 GB' },
      { id: `c-${k}-b`, source: upd, relationships: ['success'], destination: log, back_pressure_object_threshold: 50, back_pressure_data_size_threshold: '1 GB' },
      { id: `c-${k}-c`, source: gen, relationships: ['success'], destination: log, back_pressure_object_threshold: 50, back_pressure_data_size_threshold: '1 GB' },
    );
    if (k % 1 === 0 && k + 1 < CHAINS) connections.push({ id: `c-${k}-d`, source: upd, relationships: ['success'], destination: `log-${k + 1}`, back_pressure_object_threshold: 50, back_pressure_data_size_threshold: '1 GB' });
  }
  // 100 chains give 399 connections; one more makes 400.
  connections.push({ id: 'c-extra', source: 'upd-99', relationships: ['success'], destination: 'log-0', back_pressure_object_threshold: 50, back_pressure_data_size_threshold: '1 GB' });
  return { version: 1, name: 'Perf 300/400', processors, connections };
}

async function panFps(page, ms, dx) {
  return page.evaluate(async ({ ms, dx }) => {
    const cv = window.__sluice.canvas;
    const frames = [];
    let dir = 1;
    let moved = 0;
    const start = performance.now();
    await new Promise((resolve) => {
      const step = (t) => {
        frames.push(t);
        cv.panBy(dir * dx, dir * dx * 0.4);
        moved += dx;
        if (moved > 1600) { dir = -dir; moved = 0; }
        if (t - start < ms) requestAnimationFrame(step);
        else resolve();
      };
      requestAnimationFrame(step);
    });
    const gaps = frames.slice(1).map((t, i) => t - frames[i]).sort((a, b) => a - b);
    const secs = (frames[frames.length - 1] - frames[0]) / 1000;
    return { fps: (frames.length - 1) / secs, p50: gaps[Math.floor(gaps.length / 2)], p95: gaps[Math.floor(gaps.length * 0.95)], max: gaps[gaps.length - 1], frames: frames.length };
  }, { ms, dx });
}

async function main() {
  const server = await startServer();
  const browser = await launchBrowser({ width: 1280, height: 800 });
  const out = {};
  try {
    // Baseline: the same pan on an empty canvas shows what this machine gives at all.
    await openEditor(browser.page, server.url);
    out.pan_empty = await panFps(browser.page, 2000, 6);
    const def = definition();
    await api(server.url, 'PUT', '/api/flow', def);
    const f = await api(server.url, 'GET', '/api/flow');
    out.processors = f.processors.length;
    out.connections = f.connections.length;
    const page = browser.page;
    // Warm-up load (compiles modules), then the measured one.
    await openEditor(page, server.url);
    const runs = [];
    for (let i = 0; i < 3; i++) {
      await page.reload();
      await page.waitForSelector('html[data-ready="true"]', { timeout: 30000 });
      runs.push(await page.evaluate(() => ({ ...window.__sluice.metrics, nodes: document.querySelectorAll('#canvas *').length, procs: document.querySelectorAll('g.proc').length, conns: document.querySelectorAll('g.conn').length })));
    }
    await page.waitForSelector('[data-testid="ws-status"][data-state="live"]');
    const best = runs.sort((a, b) => a.renderMs - b.renderMs)[Math.floor(runs.length / 2)];
    out.render = { median_ms: +best.renderMs.toFixed(1), fetch_ms: +best.fetchMs.toFixed(1), build_ms: +best.buildMs.toFixed(1), from_navigation_ms: +best.sinceNavigationMs.toFixed(1), svg_elements: best.nodes, drawn_processors: best.procs, drawn_connections: best.conns, runs_ms: runs.map((r) => +r.renderMs.toFixed(1)) };

    // Pan at 100 % zoom, then with the whole flow in view.
    await page.evaluate(() => { const c = window.__sluice.canvas; c.view = { x: 0, y: 0, k: 1 }; c.applyView(); });
    out.pan_100 = await panFps(page, 3000, 6);
    await page.evaluate(() => { window.__sluice.canvas.fit(); });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    out.pan_fit = await panFps(page, 3000, 3);
    out.pan_fit.zoom = await page.evaluate(() => window.__sluice.canvas.view.k);
    await page.evaluate(() => { const c = window.__sluice.canvas; c.view = { x: 0, y: 0, k: 1 }; c.applyView(); });

    // Status message → DOM lag (server timestamp vs browser clock; same machine).
    const lags = await page.evaluate(() => new Promise((resolve) => {
      const ls = [];
      setTimeout(() => resolve(ls.length ? ls : [NaN]), 20000);
      const off = window.__sluice.canvas.on('status-rendered', (msg) => {
        ls.push(Date.now() - msg.timestamp_millis);
        if (ls.length >= 8) { off(); resolve(ls); }
      });
    }));
    lags.sort((a, b) => a - b);
    out.status_to_dom_ms = { median: lags[Math.floor(lags.length / 2)], max: lags[lags.length - 1] };

    // A rename through the API until the new name is on screen.
    const renames = [];
    for (let i = 0; i < 5; i++) {
      const name = `Renamed ${i}`;
      const watch = page.evaluate((name) => new Promise((resolve) => {
        const el = document.querySelector('[data-testid="processor-name-gen-0"]');
        setTimeout(() => resolve(NaN), 15000);
        const mo = new MutationObserver(() => { if (el.textContent === name) { mo.disconnect(); resolve(Date.now()); } });
        mo.observe(el, { childList: true, characterData: true, subtree: true });
      }), name);
      const t0 = Date.now();
      await api(server.url, 'PATCH', '/api/processors/gen-0', { name });
      renames.push((await watch) - t0);
    }
    renames.sort((a, b) => a - b);
    out.rename_to_screen_ms = { median: renames[Math.floor(renames.length / 2)], max: renames[renames.length - 1] };

    // Start a stopped source through the API until its queue count moves on screen.
    await api(server.url, 'POST', '/api/flow/stop', { ids: ['gen-0'] });
    await api(server.url, 'DELETE', '/api/connections/c-0-c/queue');
    await until(async () => (await page.getAttribute('[data-testid="queue-count-c-0-c"]', 'data-count')) === '0', { what: 'queue empty on screen', timeout: 10000 });
    const watchCount = page.evaluate(() => new Promise((resolve) => {
      const el = document.querySelector('[data-testid="queue-count-c-0-c"]');
      setTimeout(() => resolve(NaN), 15000);
      const mo = new MutationObserver(() => { if (el.getAttribute('data-count') !== '0') { mo.disconnect(); resolve(Date.now()); } });
      mo.observe(el, { attributes: true });
    }));
    const t0 = Date.now();
    await api(server.url, 'POST', '/api/processors/gen-0/start');
    out.start_to_queue_count_ms = (await watchCount) - t0;
    out.page_errors = browser.errors;
  } finally {
    await browser.close();
    await server.cleanup();
  }
  const r = out.render;
  console.log(`flow: ${out.processors} processors, ${out.connections} connections`);
  console.log(`render: ${r.median_ms} ms median from the flow request to painted (fetch ${r.fetch_ms} ms, DOM build ${r.build_ms} ms; ${r.from_navigation_ms} ms from navigation start; runs ${r.runs_ms.join(', ')} ms; ${r.svg_elements} SVG elements)`);
  console.log(`pan on an empty canvas (this machine's baseline): ${out.pan_empty.fps.toFixed(1)} fps`);
  console.log(`pan at 100%: ${out.pan_100.fps.toFixed(1)} fps (frame p50 ${out.pan_100.p50.toFixed(1)} ms, p95 ${out.pan_100.p95.toFixed(1)} ms, max ${out.pan_100.max.toFixed(1)} ms)`);
  console.log(`pan with the whole flow in view (zoom ${(out.pan_fit.zoom * 100).toFixed(0)}%): ${out.pan_fit.fps.toFixed(1)} fps (p50 ${out.pan_fit.p50.toFixed(1)} ms, p95 ${out.pan_fit.p95.toFixed(1)} ms, max ${out.pan_fit.max.toFixed(1)} ms)`);
  console.log(`status message → DOM: median ${out.status_to_dom_ms.median} ms, max ${out.status_to_dom_ms.max} ms`);
  console.log(`rename via API → on screen: median ${out.rename_to_screen_ms.median} ms, max ${out.rename_to_screen_ms.max} ms`);
  console.log(`start a generator via API → its queue count moves on screen: ${out.start_to_queue_count_ms} ms`);
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
