// Drives weir's admin dashboard in headless Chromium (playwright-core, the system's
// /usr/bin/chromium) against a running weir with traffic flowing. Run by
// tests/integration/test_dashboard.py:
//
//   node dashboard.spec.mjs '{"adminUrl": "http://127.0.0.1:PORT", "token": "...",
//     "upstream": "web", "drain": "ADDRESS", "unhealthy": "ADDRESS",
//     "healthControl": "http://127.0.0.1:PORT/__health", "screenshot": "FILE.png",
//     "phoneScreenshot": "FILE.png", "reloadError": "TEXT"}'
//
// Checks, in order: the page renders its charts and they gain points while traffic flows (over
// server-sent events); a failed reload is shown with its errors (when reloadError is given); the server whose health check is made to fail turns unhealthy in the
// table and on the timeline; the drain button asks for the token once, drains the server, and
// the token is reused for the next change; the page made no request to any other origin, and
// no CSP violation or script error. Saves screenshots. Exits 0 when all hold, 1 otherwise.
import { chromium } from 'playwright-core';

const opts = JSON.parse(process.argv[2] || '{}');
const OVERALL_MS = 50_000;
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run'];

function log(...args) { console.log('[dashboard]', ...args); }

const deadline = setTimeout(() => {
  console.error('[dashboard] FAIL: over the time limit of', OVERALL_MS, 'ms');
  process.exit(1);
}, OVERALL_MS);

function check(condition, message) {
  if (!condition) throw new Error(message);
  log('ok:', message);
}

async function main() {
  const origin = new URL(opts.adminUrl).origin;
  const browser = await chromium.launch({
    executablePath: opts.chromium || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  const problems = [];
  const requests = [];
  let page = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push('console error: ' + m.text());
    });
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    // Expected 401 answers to the first (token-less) change show up as console errors in
    // Chromium: they are filtered below by their text.

    // 1. The page, within a second or two: history, charts, the table.
    const started = Date.now();
    await page.goto(opts.adminUrl + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => Number(document.body.dataset.samples) >= 2);
    await page.waitForSelector(`#server-rows tr[data-server="${opts.drain}"]`);
    log('page rendered with samples in', Date.now() - started, 'ms');
    const csp = (await page.request.get(opts.adminUrl + '/dashboard')).headers()['content-security-policy'];
    check(csp && csp.includes("script-src 'self'") && csp.includes("style-src 'self'"),
      'the page is served with a CSP: ' + csp);

    await page.waitForFunction(() => document.body.dataset.mode === 'events');
    check(true, 'live updates come over server-sent events');

    if (opts.reloadError) {
      check(await page.isVisible('#reload-errors'), 'the failed reload is shown');
      const text = await page.textContent('#reload-error-list');
      check(text.includes(opts.reloadError), 'with its errors: ' + text.trim());
      check((await page.textContent('#reload')).includes('failed'), 'the header says it failed');
    }

    const points = () => page.evaluate(() => {
      const ids = ['chart-requests', 'chart-responses', 'chart-latency', 'chart-connections',
        'chart-bytes', 'chart-route-requests', 'chart-route-errors'];
      const out = {};
      for (const id of ids) {
        const chart = Chart.getChart(document.getElementById(id));
        out[id] = chart ? chart.data.datasets.map((d) => d.data.length) : null;
      }
      const req = Chart.getChart(document.getElementById('chart-requests')).data.datasets[0].data;
      out.lastRequests = req.slice(-3).map((p) => p.y);
      out.upstreamCharts = document.querySelectorAll('.upstream canvas:not(.tl-canvas)').length;
      return out;
    });
    const before = await points();
    for (const [id, lengths] of Object.entries(before)) {
      if (id.startsWith('chart-')) check(lengths && lengths.length > 0 && lengths[0] > 0, `${id} has data`);
    }
    check(before.upstreamCharts >= 2, 'the upstream has its requests and p99 charts');
    await page.waitForTimeout(3000);
    const after = await points();
    check(after['chart-requests'][0] >= before['chart-requests'][0] + 2,
      `the requests chart gains points (${before['chart-requests'][0]} -> ${after['chart-requests'][0]})`);
    check(after.lastRequests.some((y) => y > 0), 'requests per second show the traffic: ' + after.lastRequests);
    const routeErrors = await page.evaluate(() =>
      Chart.getChart(document.getElementById('chart-route-errors')).data.datasets.length);
    check(routeErrors >= 2, 'every route has its error-rate series');

    // 2. A failing health check: unhealthy in the table and on the timeline.
    const rowB = `#server-rows tr[data-server="${opts.unhealthy}"]`;
    const lineB = `.upstream[data-upstream="${opts.upstream}"] .tl-row[data-server="${opts.unhealthy}"]`;
    check(await page.getAttribute(rowB, 'data-state') === 'healthy', 'the server starts healthy');
    const flip = await fetch(opts.healthControl + '?status=503', { headers: { Connection: 'close' } });
    check(flip.ok, 'its /healthz now answers 503');
    await page.waitForSelector(`${rowB}[data-state="unhealthy"]`);
    check(true, 'the table shows it unhealthy');
    await page.waitForSelector(`${lineB}[data-state="unhealthy"]`);
    const pixel = await page.evaluate((sel) => {
      const canvas = document.querySelector(sel + ' canvas');
      const ctx = canvas.getContext('2d');
      const p = ctx.getImageData(canvas.width - 2, Math.floor(canvas.height / 2), 1, 1).data;
      return [p[0], p[1], p[2], p[3]];
    }, lineB);
    check(pixel[0] > 180 && pixel[1] < 110 && pixel[2] < 110 && pixel[3] > 0,
      'the timeline ends in the unhealthy colour: rgba(' + pixel + ')');
    const greenBefore = await page.evaluate((sel) => {
      const canvas = document.querySelector(sel + ' canvas');
      const ctx = canvas.getContext('2d');
      // Somewhere in the drawn part before the change: scan from the right for a healthy pixel.
      for (let x = canvas.width - 3; x > 0; x--) {
        const p = ctx.getImageData(x, Math.floor(canvas.height / 2), 1, 1).data;
        if (p[1] > 130 && p[0] < 90) return true;
      }
      return false;
    }, lineB);
    check(greenBefore, 'the timeline still shows the healthy time before');

    // 3. Drain with the token (asked once, kept for the tab), then one more change without
    // being asked again.
    const rowA = `#server-rows tr[data-server="${opts.drain}"]`;
    await page.click(`${rowA} button[data-action="drain"]`);
    await page.waitForSelector('#token-dialog[open]');
    check(true, 'the first change asks for the admin token');
    await page.fill('#token-input', opts.token);
    await page.click('#token-ok');
    await page.waitForSelector(`${rowA}[data-admin="draining"]`);
    check(true, 'the drain button drained the server');
    await page.waitForSelector(`${rowA}[data-state="draining"]`);
    const kept = await page.evaluate(() => sessionStorage.getItem('weir.admin.token'));
    check(kept === opts.token, 'the token is kept in sessionStorage (this tab only)');
    const inLocal = await page.evaluate(() => localStorage.length);
    check(inLocal === 0, 'nothing is kept in localStorage');

    await page.click(`${rowB} button[data-action="disable"]`);
    await page.waitForSelector(`${rowB}[data-admin="disabled"]`);
    check(!(await page.isVisible('#token-dialog[open]')), 'the next change does not ask again');
    await page.waitForSelector(`${lineB}[data-state="disabled"]`);

    // 4. Screenshots: wide, then phone-sized.
    await page.waitForTimeout(1200);
    await page.screenshot({ path: opts.screenshot, fullPage: true });
    log('screenshot', opts.screenshot);
    if (opts.phoneScreenshot) {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(700);
      const overflow = await page.evaluate(() =>
        document.documentElement.scrollWidth - document.documentElement.clientWidth);
      check(overflow <= 1, 'no sideways scrolling on a phone (overflow ' + overflow + 'px)');
      await page.screenshot({ path: opts.phoneScreenshot, fullPage: true });
      log('screenshot', opts.phoneScreenshot);
    }

    // 5. Nothing but the admin endpoint; no CSP violation or script error.
    const foreign = requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin);
    check(foreign.length === 0, `all ${requests.length} requests went to ${origin}` +
      (foreign.length ? ': not ' + foreign.join(', ') : ''));
    const paths = new Set(requests.filter((u) => !u.startsWith('data:')).map((u) => new URL(u).pathname));
    for (const p of ['/', '/dashboard.css', '/dashboard.js', '/chart.umd.js', '/stats/history', '/events']) {
      check(paths.has(p), 'the page loaded ' + p);
    }
    const real = problems.filter((p) => !/status of 401/.test(p));
    check(real.length === 0, 'no script error or CSP violation' + (real.length ? ': ' + real.join(' | ') : ''));
  } catch (e) {
    // What the page looked like when it failed, next to the normal screenshot.
    if (page && opts.screenshot) {
      const file = opts.screenshot.replace(/\.png$/, '') + '-failure.png';
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.error('[dashboard] failure screenshot', file);
    }
    if (problems.length) console.error('[dashboard] page problems:', problems.join(' | '));
    throw e;
  } finally {
    await browser.close();
  }
}

main().then(() => {
  clearTimeout(deadline);
  log('PASS');
  process.exit(0);
}, (e) => {
  console.error('[dashboard] FAIL:', e && e.stack ? e.stack : e);
  process.exit(1);
});
