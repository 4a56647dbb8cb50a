// lib.mjs — what every console scenario shares: Debian's Chromium driven by
// playwright-core, accessibility checks by axe-core, screenshots, named steps,
// small embedding pages, and the runner that turns any failure into exit 1.
//
// A scenario is `scenarios/<name>.mjs`, started by crates/lockstep/tests/support/browser.rs
// as `node scenarios/<name>.mjs` with its inputs in environment variables
// (read them with `input(NAME)`). It looks like:
//
//     import { scenario, step, launch, checkA11y, shot, input } from '../lib.mjs';
//     scenario(async () => {
//       const page = await (await launch()).newPage();
//       await step('open the page', () => page.goto(input('LOCKSTEP_BASE_URL')));
//       await checkA11y(page, 'the page');
//       await shot(page, 'page');
//     });
//
// Nothing here downloads anything: the browser is /usr/bin/chromium and axe-core
// is read from node_modules. Every server a scenario starts listens on 127.0.0.1.

import { chromium } from 'playwright-core';
import { readFile, mkdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKSPACE = path.resolve(HERE, '../../../..');

export const CHROMIUM = '/usr/bin/chromium';
// No background traffic of Chromium's own: the only addresses a scenario reaches
// are the ones it opens (all on 127.0.0.1).
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

/** Under the Rust side's hard kill (120 s): a slow scenario still closes Chromium itself. */
const SCENARIO_DEADLINE_MS = 100_000;
const ACTION_TIMEOUT_MS = 15_000;
const NAVIGATION_TIMEOUT_MS = 20_000;

/** The scenario's name: its file name without `.mjs`; it prefixes its screenshots. */
export const SCENARIO = path.basename(process.argv[1] ?? 'scenario', '.mjs');

let browser = null;
let lastPage = null;
let currentStep = null;
const cleanups = [];

/** The environment variable `name`; a scenario's inputs all come this way. */
export function input(name) {
  const value = process.env[name];
  if (!value) throw new Error(`scenario input ${name} is not set`);
  return value;
}

/**
 * A fresh browser context (no cookies, no storage) in the one Chromium of this
 * process, launched on first use: 1280×900, or 390×844 with `{ phone: true }`.
 */
export async function launch({ phone = false } = {}) {
  if (!browser) {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    log(`  chromium ${browser.version()} at ${CHROMIUM}`);
  }
  const context = await browser.newContext({ viewport: phone ? PHONE : DESKTOP });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
  context.on('page', watchPage);
  return context;
}

// The newest page is the one a failure screenshot shows; its script errors and
// failed loads go to the log, where a failing test prints them.
function watchPage(page) {
  lastPage = page;
  page.on('pageerror', (error) => log(`  [page error] ${error.message}`));
  page.on('console', (message) => {
    // "Failed to load resource" names no URL: the response line below does.
    const text = message.text();
    const ours = text.startsWith('Failed to load resource') || (injectingAxe && text.includes('Content Security Policy'));
    if ((message.type() === 'error' || message.type() === 'warning') && !ours) {
      log(`  [console ${message.type()}] ${text}`);
    }
  });
  page.on('response', (response) => {
    // Chromium asks every origin for a favicon on its own; that 404 is not the page's.
    if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) {
      log(`  [${response.status()}] ${response.request().method()} ${response.url()}`);
    }
  });
}

let axeSource = null;
// While checkA11y tries an inline script tag, the page's CSP refusal of it is
// the harness's doing, not the page's: it stays out of the log.
let injectingAxe = false;

/**
 * Runs axe-core on the page and throws listing every `serious` or `critical`
 * violation (rule id, help text, the offending nodes' selectors).
 */
export async function checkA11y(page, label) {
  axeSource ??= await readFile(path.join(HERE, 'node_modules/axe-core/axe.min.js'), 'utf8');
  const hasAxe = () => page.evaluate(() => typeof window.axe === 'object');
  if (!(await hasAxe())) {
    injectingAxe = true;
    await page.addScriptTag({ content: axeSource }).catch(() => {});
    injectingAxe = false;
    // The console's Content-Security-Policy refuses inline scripts, and so the
    // tag above: evaluate the same source through DevTools, which CSP does not
    // govern, rather than weaken the page's policy (bypassCSP) for the whole test.
    if (!(await hasAxe())) await page.evaluate(axeSource);
  }
  const results = await page.evaluate(() => window.axe.run(document));
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length > 0) {
    const lines = bad.map(
      (v) => `- ${v.id} (${v.impact}): ${v.help}\n    at ${v.nodes.map((n) => n.target.join(' ')).join(' | ')}`,
    );
    throw new Error(`${label}: ${bad.length} serious or critical accessibility violation(s):\n${lines.join('\n')}`);
  }
  log(`  a11y ok: ${label} (${results.passes.length} rules passed, ${results.violations.length} minor findings)`);
}

/** A full-page screenshot: `$LOCKSTEP_SCREENSHOT_DIR/<scenario>-<name>.png`. */
export async function shot(page, name) {
  const dir = process.env.LOCKSTEP_SCREENSHOT_DIR || path.join(WORKSPACE, 'target/console-screenshots');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${SCENARIO}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log(`  screenshot: ${file}`);
  return file;
}

/** Runs one named step, logging its start, end and time; a failure names the step. */
export async function step(name, fn) {
  currentStep = name;
  const started = Date.now();
  log(`▶ ${name}`);
  const value = await fn();
  log(`✓ ${name} (${Date.now() - started} ms)`);
  currentStep = null;
  return value;
}

/** Throws `message` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * Serves `html` at every path on 127.0.0.1:`port` (0: any free port) until the
 * scenario ends; answers `{ url, close }`.
 */
export async function servePage(port, html) {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    response.end(html);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}/`;
  let open = true;
  const close = async () => {
    if (!open) return;
    open = false;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    log(`  stopped the page server at ${url}`);
  };
  cleanups.push(close);
  log(`  serving a page at ${url}`);
  return { url, close };
}

function log(line) {
  console.log(line);
}

async function closeEverything() {
  for (const close of cleanups.splice(0).reverse()) await close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  browser = null;
}

/**
 * The top level of a scenario: runs `body`, then closes the page servers and the
 * browser. On any failure it prints which step failed and why, saves a
 * screenshot named `failure` of the newest page, and exits 1.
 */
export function scenario(body) {
  const fail = async (error) => {
    const where = currentStep ? ` in step "${currentStep}"` : '';
    console.error(`\nSCENARIO ${SCENARIO} FAILED${where}:\n${error?.stack ?? error}`);
    if (lastPage && !lastPage.isClosed()) {
      try {
        console.error(`  (page at failure: ${lastPage.url()})`);
        await shot(lastPage, 'failure');
      } catch (shotError) {
        console.error(`  (no failure screenshot: ${shotError.message})`);
      }
    }
    await closeEverything();
    process.exit(1);
  };
  process.on('unhandledRejection', fail);
  const deadline = setTimeout(() => fail(new Error(`not done after ${SCENARIO_DEADLINE_MS} ms`)), SCENARIO_DEADLINE_MS);
  log(`scenario ${SCENARIO}`);
  Promise.resolve()
    .then(body)
    .then(async () => {
      clearTimeout(deadline);
      await closeEverything();
      log(`scenario ${SCENARIO}: passed`);
      process.exit(0);
    }, fail);
}

/**
 * Calls Lockstep's API as the tenant admin (`LOCKSTEP_BASE_URL`,
 * `LOCKSTEP_ADMIN_TOKEN`, or `token`): `body` goes as JSON (a PATCH of a
 * record as a JSON merge patch). Throws unless the answer is a success;
 * answers the parsed body (or null).
 */
export async function api(method, path, body, { token = input('LOCKSTEP_ADMIN_TOKEN') } = {}) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) {
    headers['content-type'] = method === 'PATCH' && path.startsWith('/v1/records/') ? 'application/merge-patch+json' : 'application/json';
  }
  const response = await fetch(`${input('LOCKSTEP_BASE_URL')}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Waits until `condition()` (sync or async) answers truthy, asking again every
 * `every` ms, at most `timeout` ms; then throws naming `what`. For conditions
 * outside the page (the API); in the page, use locators or waitForFunction.
 */
export async function waitUntil(what, condition, { timeout = 20_000, every = 100 } = {}) {
  const started = Date.now();
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() - started > timeout) throw new Error(`not within ${timeout} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/** Asserts the page has exactly one h1, whose text is `text` (or matches the RegExp). */
export async function expectH1(page, text) {
  const h1 = page.getByRole('heading', { level: 1 });
  await h1.first().waitFor();
  const texts = (await h1.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
  const ok = texts.length === 1 && (text instanceof RegExp ? text.test(texts[0]) : texts[0] === text);
  check(ok, `expected one h1 ${text} at ${page.url()}, found ${JSON.stringify(texts)}`);
}
