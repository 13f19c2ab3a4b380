// What the browser tests share: `certifica serve --demo` on a free port of
// 127.0.0.1 with its own data folder, Debian's chromium driven by
// playwright-core (no browser download), es-MX in Mexico City's time zone,
// screenshots under target/, and an axe-core scan.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '../..');
const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Where screenshots go (not committed). */
export const shots = join(root, 'target', 'web-screenshots');
mkdirSync(shots, { recursive: true });

/** The `certifica` binary the tests run (built by the test command). */
export function certificaBinary() {
  return process.env.CERTIFICA_BIN || join(root, 'target', 'debug', 'certifica');
}

/**
 * Starts `certifica serve --demo` (serving the client from `web` when given,
 * with `options` as its command-line options) and resolves once it prints
 * its address and token.
 */
export async function startServer({ web, options = [] } = {}) {
  const data = mkdtempSync(join(tmpdir(), 'certifica-web-'));
  const args = ['serve', '--demo', '--data', data, '--addr', '127.0.0.1:0', ...(web ? ['--web', web] : []), ...options];
  const child = spawn(certificaBinary(), args, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const info = await new Promise((ok, fail) => {
    let text = '';
    const timer = setTimeout(() => fail(new Error(`certifica serve did not start:\n${text}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const base = text.match(/Certifica escucha en (\S+)/)?.[1];
      const link = text.match(/Abra la vista de certificación[^:]*: (\S+)/)?.[1];
      if (base && link) {
        clearTimeout(timer);
        ok({ base, link, token: new URL(link).hash.slice('#token='.length) });
      }
    });
    child.on('exit', (code) => fail(new Error(`certifica serve exited (${code}):\n${text}`)));
  });
  child.stdout.resume();
  return {
    ...info,
    data,
    async stop() {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Headless chromium as the probe showed it runs here, in es-MX. */
export async function startBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // The browser's own language (date fields, messages) follows the process locale.
    env: { ...process.env, LANG: 'es_MX.UTF-8', LANGUAGE: 'es_MX:es' },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--lang=es-MX',
    ],
  });
  return browser;
}

export async function newPage(browser) {
  const context = await browser.newContext({
    locale: 'es-MX',
    timezoneId: 'America/Mexico_City',
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => {
    throw new Error(`error de JavaScript en la página: ${e.message}`);
  });
  return page;
}

/** A screenshot for review: the whole page, or only what is on screen (a dialog). */
export async function screenshot(page, name, { fullPage = true } = {}) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage });
}

/** Serious or critical axe-core violations of the page as it is now. */
export async function axeViolations(page) {
  // Evaluated, not added as a script tag: the page's CSP (rightly) refuses inline scripts.
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** A call to the API as the test's own client (for setup and checks). */
export async function api(server, method, path, body, token = server.token) {
  const response = await fetch(`${server.base}/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: response.status, json, text };
}
