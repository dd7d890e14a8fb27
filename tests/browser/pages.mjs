// Browser test of the pages saluran serves, driven by tests/pages.rs.
// Env: SALURAN_BASE (http://127.0.0.1:port), SALURAN_TOKEN (revenue manager),
// SALURAN_HK_TOKEN (housekeeping), SALURAN_PROPERTY, SALURAN_CHECK_IN,
// SALURAN_CHECK_OUT, SALURAN_ROOM, SALURAN_ROOM2, SALURAN_SCREENSHOTS (dir), SALURAN_CHROMIUM.
// Prints one "RESULT {json}" line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`missing env ${k}`);
  return v;
};
const base = env('SALURAN_BASE');
const token = env('SALURAN_TOKEN');
const hkToken = env('SALURAN_HK_TOKEN');
const property = env('SALURAN_PROPERTY');
const checkIn = env('SALURAN_CHECK_IN');
const checkOut = env('SALURAN_CHECK_OUT');
const roomNo = env('SALURAN_ROOM');
const shots = env('SALURAN_SCREENSHOTS');
const exe = env('SALURAN_CHROMIUM', '/usr/bin/chromium');

mkdirSync(shots, { recursive: true });
const userDataDir = mkdtempSync(join(tmpdir(), 'saluran-chromium-'));
const problems = [];
const result = {};

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: exe,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 1400, height: 800 },
  timeout: 30000,
});

function watch(page, name) {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${name} console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${name} page error: ${e.message}`));
}

async function login(page, path, tok) {
  await page.goto(base + path);
  await page.fill('#token', tok);
  await page.fill('#property', property);
  await page.click('#open');
  await page.waitForSelector(`body[data-subscribed]`, { timeout: 10000 });
  await page.waitForSelector('#conn.live', { timeout: 10000 });
}

try {
  // (a) the grid shows a booking made through the API within 1 s.
  const grid = await context.newPage();
  watch(grid, 'grid');
  await login(grid, '/', token);
  const cell = `td.avail[data-rt="STD"][data-date="${checkIn}"]`;
  await grid.waitForSelector(cell, { timeout: 10000 });
  const before = await grid.$eval(cell, (td) => ({ sold: td.dataset.sold, available: td.dataset.available }));
  const sent = Date.now();
  const resp = await fetch(`${base}/api/v1/properties/${property}/reservations`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ room_type: 'STD', rate_plan: 'STD-BAR', check_in: checkIn, check_out: checkOut, adults: 2, guest: { name: 'Browser Test' } }),
  });
  if (resp.status !== 201 && resp.status !== 200) throw new Error(`booking failed: ${resp.status} ${await resp.text()}`);
  const booked = Date.now();
  await grid.waitForFunction(
    ([sel, sold]) => { const td = document.querySelector(sel); return td && td.dataset.sold !== sold; },
    [cell, before.sold],
    { timeout: 1000, polling: 'raf' },
  );
  const seen = Date.now();
  const after = await grid.$eval(cell, (td) => ({ sold: td.dataset.sold, available: td.dataset.available, flash: td.classList.contains('flash') }));
  result.grid = { cell: { room_type: 'STD', date: checkIn }, before, after, ms_after_response: seen - booked, ms_after_request: seen - sent };
  if (Number(after.sold) !== Number(before.sold) + 1) throw new Error(`sold went ${before.sold} → ${after.sold}, expected +1`);
  if (Number(after.available) !== Number(before.available) - 1) throw new Error(`available went ${before.available} → ${after.available}, expected -1`);
  result.grid.badges = await grid.evaluate(() => ({
    stop_sell: document.querySelectorAll('.badge.ss').length,
    cta: document.querySelectorAll('.badge.cta').length,
    ctd: document.querySelectorAll('.badge.ctd').length,
    min_stay: document.querySelectorAll('.badge.ms').length,
    overbooked_cells: document.querySelectorAll('td.avail.over').length,
  }));
  const gridShot = join(shots, 'grid.png');
  await grid.screenshot({ path: gridShot, fullPage: true });

  // (b) a status tapped on one housekeeping page appears on another.
  const hkA = await context.newPage();
  const hkB = await context.newPage();
  for (const [p, n] of [[hkA, 'hkA'], [hkB, 'hkB']]) {
    watch(p, n);
    await p.setViewportSize({ width: 390, height: 844 });
    await login(p, '/housekeeping', hkToken);
    await p.waitForSelector(`[data-room="${roomNo}"]`, { timeout: 10000 });
  }
  const from = await hkB.$eval(`[data-room="${roomNo}"]`, (b) => b.dataset.status);
  await hkA.click(`[data-room="${roomNo}"]`);
  await hkA.waitForSelector('#pick[open] [data-next]', { timeout: 5000 });
  const next = await hkA.$eval('#pick [data-next]', (b) => b.dataset.next);
  const pickShot = join(shots, 'housekeeping-pick.png');
  await hkA.screenshot({ path: pickShot });
  const tapped = Date.now();
  await hkA.click(`#pick [data-next="${next}"]`);
  await hkB.waitForSelector(`[data-room="${roomNo}"][data-status="${next}"]`, { timeout: 2000 });
  result.housekeeping = { room: roomNo, from, to: next, ms_to_other_page: Date.now() - tapped };
  await hkA.waitForSelector(`[data-room="${roomNo}"][data-status="${next}"]`, { timeout: 2000 });
  const hkShot = join(shots, 'housekeeping.png');
  await hkB.screenshot({ path: hkShot, fullPage: true });

  // (d) reconnect: page B loses its socket, a room changes meanwhile, and B
  // gets the missed event by resubscribing with "recover" (no reload).
  const room2 = env('SALURAN_ROOM2');
  const frames = [];
  hkB.on('websocket', (ws) => ws.on('framesent', (f) => frames.push(String(f.payload))));
  await hkB.evaluate(() => window.saluranHub.ws.close());
  await hkB.waitForSelector('#conn.down', { timeout: 2000 });
  const patched = await fetch(`${base}/api/v1/properties/${property}/rooms/${room2}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${hkToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ status: 'vacant_dirty' }),
  });
  if (!patched.ok) throw new Error(`PATCH ${room2}: ${patched.status} ${await patched.text()}`);
  const resubscribedTooEarly = frames.some((f) => f.includes('pusher:subscribe'));
  await hkB.waitForSelector(`[data-room="${room2}"][data-status="vacant_dirty"]`, { timeout: 10000 });
  const sub = frames.map((f) => JSON.parse(f)).find((m) => m.event === 'pusher:subscribe');
  if (!sub || !sub.data.recover) throw new Error(`no recover in the resubscribe: ${JSON.stringify(frames)}`);
  if (resubscribedTooEarly) throw new Error('reconnected before the change: recovery not exercised');
  result.reconnect = { room: room2, to: 'vacant_dirty', recover: sub.data.recover };

  // The PWA bits: manifest linked, service worker registered.
  result.pwa = await hkB.evaluate(async () => {
    const reg = await Promise.race([navigator.serviceWorker.ready, new Promise((r) => setTimeout(() => r(null), 5000))]);
    return { manifest: document.querySelector('link[rel=manifest]')?.href, service_worker: reg ? reg.active?.scriptURL : null };
  });
  if (!result.pwa.service_worker) problems.push('service worker did not activate');

  result.screenshots = [gridShot, hkShot, pickShot];
  const csp = problems.filter((p) => /Content Security Policy/i.test(p));
  if (problems.length) result.problems = problems;
  if (csp.length) throw new Error(`CSP violations: ${csp.join('; ')}`);
  if (problems.length) throw new Error(`browser errors: ${problems.join('; ')}`);
  console.log('RESULT ' + JSON.stringify(result));
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
} catch (e) {
  result.error = String(e && e.stack || e);
  result.problems = problems;
  console.log('RESULT ' + JSON.stringify(result));
  try {
    for (const [i, p] of context.pages().entries()) await p.screenshot({ path: join(shots, `failure-${i}.png`) });
  } catch (_) { /* best effort */ }
  await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}
