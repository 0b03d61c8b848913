// Controller services from the editor on a real server: a DBCPConnectionPool added from the
// Services view (invalid until its URL is set, its password masked and never shown back),
// enabled, chosen in a PutSQL processor's property (with the "New service…" shortcut and "Open"),
// the 409 shown when disabling it while that processor runs, then stop, disable, the 409 of
// deleting it while referenced, and the delete. Every wait is on state; what the server keeps
// is checked through its HTTP API.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, launchBrowser, openEditor, screenshot, api, tid, until, fitView, openProcessorPanel, openServicesView,
} from './helpers.mjs';

const PROP = 'Database Connection Pooling Service';
const URL_PROP = 'Database Connection URL';
const SECRET = 'pool-Secret-e2e-4b1d';

describe('controller services', () => {
  let server;
  let browser;
  let page;
  let dbDir;
  let dbFile;
  const ids = {};

  before(async () => {
    dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-sqlite-'));
    dbFile = path.join(dbDir, 'e2e.db');
    server = await startServer();
    const post = (p, body) => api(server.url, 'POST', p, body);
    // Rows (GenerateFlowFile, one statement an hour) → Writer (PutSQL, no pool of its own).
    ids.rows = (await post('/api/processors', { type: 'GenerateFlowFile', name: 'Rows', position: { x: 0, y: 0 },
      properties: { 'Custom Text': "CREATE TABLE IF NOT EXISTS t (v text); INSERT INTO t VALUES ('e2e')", 'Batch Size': '1' }, scheduling: { period: '1 hour' } })).id;
    ids.writer = (await post('/api/processors', { type: 'PutSQL', name: 'Writer', position: { x: 400, y: 0 },
      auto_terminated_relationships: ['success', 'failure', 'retry'] })).id;
    await post('/api/connections', { source: ids.rows, destination: ids.writer, relationships: ['success'] });
    browser = await launchBrowser();
    page = browser.page;
    await openEditor(page, server.url);
    await page.waitForSelector(tid(`processor-${ids.writer}`));
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) {
      server.saveLog('services');
      await server.cleanup();
    }
    if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
  });

  const services = async () => (await api(server.url, 'GET', '/api/controller-services')).controller_services;
  const service = (id) => api(server.url, 'GET', `/api/controller-services/${id}`);
  const proc = (id) => api(server.url, 'GET', `/api/processors/${id}`);
  const text = (sel) => page.locator(sel).textContent();
  const leaks = (s) => page.evaluate((x) => document.documentElement.outerHTML.includes(x)
    || [...document.querySelectorAll('input, textarea, select')].some((i) => i.value.includes(x)), s);
  /** Screenshots without the passing toasts over the table. */
  const shot = async (name) => {
    await page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await screenshot(page, name);
  };
  const placeholderSet = async (name) => (await page.locator(tid(`prop-${name}`)).getAttribute('placeholder') || '').includes('set; type to replace');

  it('adds a pool from the Services view: invalid until its URL is set, the password masked', async () => {
    await openServicesView(page);
    await page.waitForSelector(tid('services-empty'));
    await page.click(tid('services-add'));
    // Every registered type is offered with what it provides; choose the pool.
    const radio = page.locator(tid('service-type-DBCPConnectionPool'));
    await radio.check();
    assert.ok(await radio.isChecked());
    assert.match(await text(`label[for="${await radio.getAttribute('id')}"]`), /provides DatabaseConnectionPool/);
    // The type's description is shown with it (and describes the radio for screen readers).
    const descId = await radio.getAttribute('aria-describedby');
    assert.match(await text(`#${descId}`), /pool of database connections/i);
    await page.fill(tid('service-add-name'), 'Shared pool');
    await page.click(tid('service-add-confirm'));
    const created = await until(async () => { const l = await services(); return l.length === 1 && l[0]; }, { what: 'service added' });
    ids.pool = created.id;
    assert.equal(created.type, 'DBCPConnectionPool');
    assert.equal(created.name, 'Shared pool');
    assert.equal(created.state, 'DISABLED');

    // Its row: disabled, invalid, the reason shown; its configuration opens in the side panel.
    const row = tid(`service-row-${ids.pool}`);
    await page.waitForSelector(row);
    assert.equal(await text(tid(`service-state-${ids.pool}`)), 'DISABLED');
    await page.waitForSelector(tid(`service-state-${ids.pool}-invalid`));
    assert.match(await text(tid(`service-errors-${ids.pool}`)), /'Database Connection URL' is required/);
    assert.match(await text(row), /DatabaseConnectionPool/);
    await page.waitForSelector(tid('service-panel'));
    assert.equal(await page.inputValue(tid('service-name-input')), 'Shared pool');
    assert.match(await text(tid(`field-error-${URL_PROP}`)), /is required/, 'the reason sits under its field');
    assert.ok(await page.locator(`[data-field="${URL_PROP}"] .req`).isVisible(), 'required mark');
    assert.match(await text(`[data-field="Max Total Connections"] .field-desc`), /Default: 8/);

    // A password, typed into a masked field: the API answers a mask and the page never shows it back.
    const pw = page.locator(tid('prop-Password'));
    assert.equal(await pw.getAttribute('type'), 'password');
    await pw.fill(SECRET);
    await page.click(tid('panel-apply'));
    await until(async () => (await service(ids.pool)).properties.Password === '********', { what: 'password saved, masked' });
    assert.ok(!JSON.stringify(await services()).includes(SECRET));
    await until(() => placeholderSet('Password'), { what: 'password field shown as set' });
    assert.equal(await pw.inputValue(), '');
    assert.equal(await leaks(SECRET), false, 'the secret is nowhere in the page');
    assert.match(await text(tid(`service-errors-${ids.pool}`)), /is required/, 'still invalid');

    // The URL (sensitive too) makes it valid, live in the table and the panel.
    await page.fill(tid(`prop-${URL_PROP}`), `sqlite:${dbFile}`);
    await page.click(tid('panel-apply'));
    await until(async () => { const s = await service(ids.pool); return s.validation_errors.length === 0 && s.properties[URL_PROP] === '********'; }, { what: 'URL saved, service valid' });
    await page.waitForSelector(tid(`service-state-${ids.pool}-invalid`), { state: 'detached' });
    await until(async () => (await page.getAttribute(tid(`service-errors-${ids.pool}`), 'data-count')) === '0', { what: 'no reasons left in the table' });
    assert.equal(await page.locator(tid(`field-error-${URL_PROP}`)).textContent(), '');
    assert.equal(await leaks(dbFile), false, 'the URL is masked too');
    assert.equal(await leaks(SECRET), false);
  });

  it('enables the pool; PutSQL chooses it in its property, with "New service…" and "Open"', async () => {
    await page.click(tid('panel-enable'));
    await until(async () => (await service(ids.pool)).state === 'ENABLED', { what: 'service enabled' });
    await until(async () => (await text(tid(`service-state-${ids.pool}`))) === 'ENABLED', { what: 'table shows ENABLED' });
    await until(async () => (await text(tid('service-panel-state'))) === 'ENABLED', { what: 'panel shows ENABLED' });
    // Enabled: read-only, as in NiFi.
    await page.waitForSelector(tid('service-locked-note'));
    assert.ok(await page.locator(tid('prop-Password')).isDisabled());
    assert.ok(await page.locator(tid('panel-delete')).isDisabled(), 'an enabled service cannot be deleted');
    assert.ok(await page.locator(tid(`service-delete-${ids.pool}`)).isDisabled());
    assert.equal(await leaks(SECRET), false);
    await shot('20-controller-services');

    // The processor's property is a select of the services providing its API, with their state.
    await fitView(page);
    await openProcessorPanel(page, ids.writer);
    const sel = tid(`prop-${PROP}`);
    assert.equal(await page.getAttribute(sel, 'data-service-api'), 'DatabaseConnectionPool');
    const options = await page.locator(`${sel} option`).evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
    assert.deepEqual(options, [['', '(none)'], [ids.pool, 'Shared pool (enabled)']]);
    assert.ok(await page.locator(tid(`prop-open-service-${PROP}`)).isDisabled(), 'nothing to open yet');
    await page.selectOption(sel, ids.pool);
    await page.click(tid('panel-apply'));
    await until(async () => (await proc(ids.writer)).properties[PROP] === ids.pool, { what: 'reference saved' });
    await until(async () => (await proc(ids.writer)).validation_errors.length === 0, { what: 'Writer valid with the pool' });
    // The table counts it as a user, live.
    await until(async () => (await page.getAttribute(tid(`service-refs-${ids.pool}`), 'data-count')) === '1', { what: 'table counts one referencing processor' });
    assert.match(await text(tid(`service-refs-${ids.pool}`)), /Writer/);

    // "Open" shows the service over the processor's panel; "Back" returns to it.
    await page.click(tid(`prop-open-service-${PROP}`));
    await page.waitForSelector(tid('service-panel'));
    assert.equal(await page.inputValue(tid('service-name-input')), 'Shared pool');
    await page.click(tid('tab-references'));
    assert.match(await text(tid('service-references')), /Writer/);
    assert.match(await text(tid('panel-back')), /Back to Writer/);
    await page.click(tid('panel-back'));
    await page.waitForSelector(tid('processor-panel'));
    assert.equal(await page.inputValue(sel), ids.pool);
    // By keyboard: Enter on "Open", Esc comes back, focus where it was.
    await page.focus(tid(`prop-open-service-${PROP}`));
    await page.keyboard.press('Enter');
    await page.waitForSelector(tid('service-panel'));
    await until(() => page.evaluate(() => document.querySelector('#side-panel').contains(document.activeElement)), { what: 'focus in the service panel' });
    await page.keyboard.press('Escape');
    await page.waitForSelector(tid('processor-panel'));
    await until(() => page.evaluate((t) => document.activeElement?.dataset.testid === t, `prop-open-service-${PROP}`), { what: 'focus back on Open' });

    // "New service…": a service of the right type, created and chosen (not applied until Apply).
    await page.click(tid(`prop-create-service-${PROP}`));
    await page.waitForSelector(tid('service-create-popover'));
    // Only the types that provide the property's API are offered.
    assert.deepEqual(await page.locator(`${tid('service-create-popover')} input[type=radio]`).evaluateAll((rs) => rs.map((r) => [r.value, r.checked])), [['DBCPConnectionPool', true]]);
    await page.fill(`${tid('service-create-popover')} ${tid('service-add-name')}`, 'Spare pool');
    await page.click(`${tid('service-create-popover')} ${tid('service-add-confirm')}`);
    const spare = await until(async () => (await services()).find((s) => s.name === 'Spare pool'), { what: 'second service added' });
    await until(async () => (await page.inputValue(sel)) === spare.id, { what: 'new service chosen in the select' });
    assert.match(await page.locator(`${sel} option[value="${spare.id}"]`).textContent(), /Spare pool \(disabled, invalid\)/);
    assert.ok(await page.locator(tid('panel-apply')).isEnabled(), 'the choice waits for Apply');
    assert.equal((await proc(ids.writer)).properties[PROP], ids.pool);
    await page.click(tid('panel-revert'));
    assert.equal(await page.inputValue(sel), ids.pool);
    await shot('21-service-property');

    // Enabling a service that is not valid yet: the server's 400 and its reason, in words.
    await page.click(tid(`service-enable-${spare.id}`));
    await page.waitForSelector(tid('services-error'), { state: 'visible' });
    assert.equal(await page.getAttribute(tid('services-error'), 'data-status'), '400');
    assert.match(await text(tid('services-error-text')), /^Could not enable Spare pool: controller service 'Spare pool' cannot be enabled: 'Database Connection URL' is required/);
    assert.equal((await service(spare.id)).state, 'DISABLED');
    await page.click(tid('services-error-dismiss'));
    await page.waitForSelector(tid('services-error'), { state: 'hidden' });

    // Removed elsewhere (a script): gone from the table and from the choices, live.
    await api(server.url, 'DELETE', `/api/controller-services/${spare.id}`);
    await page.waitForSelector(tid(`service-row-${spare.id}`), { state: 'detached' });
    await page.waitForSelector(`${sel} option[value="${spare.id}"]`, { state: 'detached' });
  });

  it('shows the 409 when disabling the pool while PutSQL runs; stop, disable, delete', async () => {
    // Writer starts from its panel; Rows sends it one statement through the shared pool.
    await page.click(tid('panel-run'));
    await until(async () => (await proc(ids.writer)).state === 'RUNNING', { what: 'Writer running' });
    await api(server.url, 'POST', `/api/processors/${ids.rows}/start`);
    await until(async () => (await proc(ids.writer)).status.flowfiles_in >= 1 && fs.existsSync(dbFile), { what: 'a statement written through the pool', timeout: 20000 });

    await page.click(tid(`service-disable-${ids.pool}`));
    await page.waitForSelector(tid('services-error'), { state: 'visible' });
    assert.equal(await page.getAttribute(tid('services-error'), 'data-status'), '409');
    assert.equal(await text(tid('services-error-text')),
      "Could not disable Shared pool: controller service 'Shared pool' is used by running processors 'Writer'; stop them first");
    assert.equal((await service(ids.pool)).state, 'ENABLED', 'still enabled');
    assert.equal(await text(tid(`service-state-${ids.pool}`)), 'ENABLED');
    await shot('22-service-disable-refused');

    // NiFi's way out: stop the referencing processors, then disable.
    assert.match(await text(tid('services-error-action')), /Stop 1 processor, then disable/);
    await page.click(tid('services-error-action'));
    await until(async () => (await proc(ids.writer)).state === 'STOPPED', { what: 'Writer stopped' });
    await until(async () => (await service(ids.pool)).state === 'DISABLED', { what: 'service disabled' });
    await until(async () => (await text(tid(`service-state-${ids.pool}`))) === 'DISABLED', { what: 'table shows DISABLED' });
    await page.waitForSelector(tid('services-error'), { state: 'hidden' });
    await api(server.url, 'POST', `/api/processors/${ids.rows}/stop`);
    // The processor now says why it cannot run, under the property that names the service.
    await until(async () => (await proc(ids.writer)).validation_errors.some((e) => /Shared pool' is disabled/.test(e)), { what: 'Writer invalid: service disabled' });
    await until(async () => /is disabled; enable it first/.test(await text(tid(`field-error-${PROP}`))), { what: 'reason under the service property' });
    assert.match(await page.locator(`${tid(`prop-${PROP}`)} option[value="${ids.pool}"]`).textContent(), /Shared pool \(disabled\)/);

    // Delete while Writer still references it: confirmed, then refused with the server's words.
    await page.click(tid(`service-delete-${ids.pool}`));
    await page.waitForSelector(tid('confirm-popover'));
    assert.match(await text(tid('confirm-popover')), /Delete controller service “Shared pool”\? 1 processor still references it/);
    await page.click(tid('confirm-ok'));
    await page.waitForSelector(tid('services-error'), { state: 'visible' });
    assert.equal(await page.getAttribute(tid('services-error'), 'data-status'), '409');
    assert.match(await text(tid('services-error-text')), /^Could not delete Shared pool: controller service 'Shared pool' is referenced by processors 'Writer'; change them first/);
    assert.equal((await services()).length, 1);

    // Writer lets go of it; the table follows; the delete goes through.
    await page.selectOption(tid(`prop-${PROP}`), '');
    await page.click(tid('panel-apply'));
    await until(async () => (await proc(ids.writer)).properties[PROP] === undefined, { what: 'reference removed' });
    await until(async () => (await page.getAttribute(tid(`service-refs-${ids.pool}`), 'data-count')) === '0', { what: 'no user left' });
    await page.click(tid(`service-delete-${ids.pool}`));
    await page.click(tid('confirm-ok'));
    await until(async () => (await services()).length === 0, { what: 'service deleted' });
    await page.waitForSelector(tid(`service-row-${ids.pool}`), { state: 'detached' });
    await page.waitForSelector(tid('services-empty'));
    const opts = await page.locator(`${tid(`prop-${PROP}`)} option`).evaluateAll((os) => os.map((o) => o.textContent));
    assert.deepEqual(opts, ['(none: no DatabaseConnectionPool service yet)']);
    assert.equal(await leaks(SECRET), false);
    assert.deepEqual(browser.errors, []);
  });
});
