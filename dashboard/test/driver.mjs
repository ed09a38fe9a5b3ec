// Drives Debian's chromium, headless, for the system tests (tests/src/browser.rs): one JSON
// command per stdin line, one JSON answer per stdout line. It knows no test; the Rust side says
// what to open, what to wait for (a predicate polled in the page against a deadline), what to
// click and where to save screenshots. No browser is downloaded: playwright-core drives the
// system chromium (ANK_CHROMIUM, default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const browser = await chromium.launch({
  executablePath: process.env.ANK_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Root in CI: chromium's sandbox needs user namespaces it may not have.
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
const console_ = [];
page.on('console', (m) => console_.push(`${m.type()}: ${m.text()}`.slice(0, 500)));
page.on('pageerror', (e) => console_.push(`pageerror: ${String(e).slice(0, 500)}`));

async function run(cmd) {
  switch (cmd.op) {
    case 'goto':
      await page.goto(cmd.url, { waitUntil: 'load' });
      return null;
    case 'wait': {
      // A predicate over the page, polled until true or the deadline passes. Polled from here
      // with page.evaluate (which the page's Content-Security-Policy allows, being the
      // debugger's) rather than waitForFunction, whose in-page `new Function` the CSP refuses.
      const deadline = Date.now() + cmd.timeoutMs;
      let last;
      for (;;) {
        try {
          last = await page.evaluate(cmd.js);
          if (last) return last;
        } catch (e) {
          last = `error: ${e.message}`;
        }
        if (Date.now() > deadline) throw new Error(`timed out after ${cmd.timeoutMs} ms; last value: ${JSON.stringify(last)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    case 'eval':
      return await page.evaluate(cmd.js);
    case 'click':
      await page.click(cmd.selector, { timeout: cmd.timeoutMs ?? 10000 });
      return null;
    case 'fill':
      await page.fill(cmd.selector, cmd.value, { timeout: cmd.timeoutMs ?? 10000 });
      return null;
    case 'screenshot':
      await page.screenshot({ path: cmd.path, fullPage: cmd.fullPage ?? false });
      return null;
    case 'console':
      return console_.splice(0);
    case 'close':
      await browser.close();
      process.exit(0);
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
process.stdout.write(JSON.stringify({ ok: true, value: 'ready' }) + '\n');
for await (const line of lines) {
  let answer;
  try {
    answer = { ok: true, value: (await run(JSON.parse(line))) ?? null };
  } catch (e) {
    answer = { ok: false, error: String(e?.message ?? e).slice(0, 4000) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
await browser.close();
