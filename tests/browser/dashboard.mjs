// Drives headless Chromium (Debian's `chromium`, through playwright-core) against ferry's
// dashboard and checks what a person sees. Started by tests/dashboard_browser.rs:
//
//   node tests/browser/dashboard.mjs <dashboard URL> <screenshot.png> [--hostile] [--min-chains N]
//
// Prints one JSON line ({"ok": true, ...figures}) and exits 0 when every check held; prints
// the failed checks and exits 1 otherwise. The load time is reported, never asserted.
import { chromium } from 'playwright-core';

const [url, shot, ...rest] = process.argv.slice(2);
if (!url || !shot) {
  console.error('usage: dashboard.mjs <url> <screenshot.png> [--hostile] [--min-chains N]');
  process.exit(2);
}
const hostile = rest.includes('--hostile');
const minAt = rest.indexOf('--min-chains');
const minChains = minAt >= 0 ? Number(rest[minAt + 1]) : 1;
const executablePath = process.env.FERRY_CHROMIUM || '/usr/bin/chromium';

const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Root in a container has no user namespaces for Chromium's sandbox.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const result = { ok: false };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  const cspViolations = [];
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));

  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 120000 });
  const state = await page.evaluate(() => document.body.dataset.state);
  check(state === 'ready', `the page loaded its data (state ${state}: ${await page.textContent('#error')})`);

  // The figure: from navigation start to the first full render of every chain.
  result.renderedMs = await page.evaluate(() => {
    const m = performance.getEntriesByName('ferry-dashboard-rendered')[0];
    return m ? Math.round(m.startTime) : null;
  });
  const nav = await page.evaluate(() => performance.getEntriesByType('navigation')[0].toJSON());
  result.domContentLoadedMs = Math.round(nav.domContentLoadedEventEnd);

  const total = Number(await page.textContent('[data-tile="chains"] b'));
  result.chains = total;
  check(total >= minChains, `the summary counts at least ${minChains} chains (it says ${total})`);
  const rows = await page.locator('tr.chain-row').count();
  result.rowsShown = rows;
  check(rows > 0 && rows <= 50, `chain rows are shown, one page at a time (${rows})`);
  const breached = await page.locator('tr.chain-row.rpo-breached').count();
  result.breachedRows = breached;
  check(breached > 0, 'a chain behind its RPO is highlighted');
  if (breached > 0) {
    const bg = await page.locator('tr.chain-row.rpo-breached').first().evaluate((e) => getComputedStyle(e).backgroundColor);
    check(bg !== 'rgba(0, 0, 0, 0)' && bg !== 'rgb(255, 255, 255)', `a breached row is coloured (${bg})`);
    check(await page.locator('tr.chain-row.rpo-breached .badge.breached').first().isVisible(), 'the breach badge is visible');
  }
  const bars = await page.locator('tr.chain-row .track .bar').count();
  result.timelineBars = bars;
  check(bars > 0, 'timeline bars are drawn');
  const outcomes = await page.$$eval('tr.chain-row .bar', (bs) => [...new Set(bs.map((b) => b.dataset.outcome))].sort());
  result.outcomesShown = outcomes;
  check(outcomes.includes('succeeded'), 'succeeded copies are on the timeline');
  const firstBar = await page.locator('tr.chain-row .track .bar').first().boundingBox();
  check(firstBar && firstBar.width >= 2 && firstBar.height >= 10, 'a timeline bar has a visible size');
  const alerts = await page.locator('#alerts li').count();
  check(alerts > 0, 'recent alerts are listed');

  // Filtering narrows the rows; clearing it brings them back.
  await page.fill('#filter', 'westus2');
  const westus = await page.$$eval('tr.chain-row .name', (ns) => ns.map((n) => n.textContent));
  check(westus.length > 0 && westus.every((t) => t.includes('westus2')), 'the filter keeps only matching chains');
  await page.fill('#filter', '');
  await page.check('#behind');
  const onlyBehind = await page.locator('tr.chain-row').count();
  check(onlyBehind === await page.locator('tr.chain-row.rpo-breached').count(), '"only behind" shows only breached chains');
  await page.uncheck('#behind');
  if (total > 50) {
    await page.click('#next');
    check((await page.textContent('#page-info')).startsWith('page 2 of'), 'the pager moves to page 2');
    await page.click('#prev');
  }

  if (hostile) {
    await page.fill('#filter', 'hostile');
    const text = await page.textContent('#rows');
    check(text.includes('<img src=x onerror=alert(1)>'), 'the hostile VM name is shown as text');
    const alertText = await page.textContent('#alerts');
    check(alertText.includes('<script>alert(2)</script>'), 'the hostile failure text is shown as text in the alerts');
    check(await page.locator('#rows img, #alerts img, #rows script, #alerts script').count() === 0, 'no element was made from the hostile text');
    const flying = await page.textContent('tr.chain-row td:nth-child(3)');
    check(flying.includes('rp-hostile-2') && flying.includes('40 %') && flying.includes('read 30 min ago') && flying.includes('started 3.0 h ago'),
      `the copy in flight shows its last reading and its age (${flying})`);
    check(await page.locator('tr.chain-row .bar[data-outcome="inflight"]').count() === 1, 'the copy in flight is an open bar on the timeline');
    await page.hover('tr.chain-row .name');
    await page.fill('#filter', '');
  }
  await page.waitForTimeout(300); // let any injected handler (there must be none) run
  check(dialogs.length === 0, `no script from the data ran (dialogs: ${JSON.stringify(dialogs)})`);
  check(pageErrors.length === 0, `no script errors (${JSON.stringify(pageErrors)})`);
  check(cspViolations.length === 0, `no Content-Security-Policy violations (${JSON.stringify(cspViolations)})`);
  const origin = new URL(url).origin;
  const foreign = requests.filter((r) => !r.startsWith(origin) && !r.startsWith('data:'));
  check(foreign.length === 0, `the page asks only its own origin (${JSON.stringify(foreign)})`);

  await page.screenshot({ path: shot, fullPage: false });
  result.screenshot = shot;
  result.ok = failures.length === 0;
} catch (e) {
  failures.push(`browser session failed: ${e && e.stack ? e.stack : e}`);
} finally {
  await browser.close();
}
if (failures.length) {
  result.failures = failures;
  console.log(JSON.stringify(result));
  process.exit(1);
}
console.log(JSON.stringify(result));
