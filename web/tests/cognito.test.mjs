// Cloud sign-in: the client in Cognito mode (config.json) signs in with
// the authorization code and PKCE against a local stand-in of Cognito's
// managed login (authorize, token, logout), and signs out through it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { newPage, root, startBrowser, startServer } from './support.mjs';

let server;
let browser;
let login;
let web;
const seen = { authorize: null, token: null, logout: null };

function base64url(buffer) {
  return buffer.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Cognito's managed-login endpoints, as far as the client uses them. */
function startLogin(token) {
  const pending = new Map();
  const http = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/oauth2/authorize') {
      seen.authorize = Object.fromEntries(url.searchParams);
      const code = `codigo-${pending.size + 1}`;
      pending.set(code, url.searchParams.get('code_challenge'));
      const back = new URL(url.searchParams.get('redirect_uri'));
      back.search = new URLSearchParams({ code, state: url.searchParams.get('state') }).toString();
      res.writeHead(302, { location: back.toString() }).end();
    } else if (url.pathname === '/oauth2/token' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = Object.fromEntries(new URLSearchParams(body));
      const challenge = pending.get(form.code);
      const verified = challenge && base64url(createHash('sha256').update(form.code_verifier).digest()) === challenge;
      seen.token = { ...form, verified };
      const headers = { 'content-type': 'application/json', 'access-control-allow-origin': req.headers.origin || '*' };
      if (!verified || form.grant_type !== 'authorization_code') {
        res.writeHead(400, headers).end(JSON.stringify({ error: 'invalid_grant' }));
      } else {
        pending.delete(form.code);
        res.writeHead(200, headers).end(JSON.stringify({ id_token: token, access_token: 'acceso', token_type: 'Bearer', expires_in: 3600 }));
      }
    } else if (url.pathname === '/logout') {
      seen.logout = Object.fromEntries(url.searchParams);
      res.writeHead(302, { location: url.searchParams.get('logout_uri') }).end();
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => http.listen(0, '127.0.0.1', () => ok(http)));
}

before(async () => {
  // The same files, with a cloud config.json: the sign-in service is the stand-in.
  web = mkdtempSync(join(tmpdir(), 'certifica-web-nube-'));
  cpSync(join(root, 'web'), web, { recursive: true, filter: (src) => !src.includes(`${join(root, 'web', 'tests')}`) });
  // The address is known once the server starts: it is written after.
  server = await startServer({ web });
  login = await startLogin(server.token);
  const domain = `http://127.0.0.1:${login.address().port}`;
  writeFileSync(
    join(web, 'config.json'),
    JSON.stringify({
      apiBase: '/v1',
      auth: { mode: 'cognito', domain, clientId: 'cliente-web', redirectUri: `${server.base}/acceso.html`, logoutUri: `${server.base}/acceso.html` },
    }),
  );
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  login?.close();
  rmSync(web, { recursive: true, force: true });
});

it('inicia sesión con código de autorización y PKCE, y cierra sesión', async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/`);
  await page.locator('#f-ciclo option').first().waitFor({ state: 'attached' });
  assert.equal(new URL(page.url()).pathname, '/', 'back where the user started');
  const a = seen.authorize;
  assert.equal(a.response_type, 'code');
  assert.equal(a.client_id, 'cliente-web');
  assert.equal(a.code_challenge_method, 'S256');
  assert.match(a.code_challenge, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(a.redirect_uri, `${server.base}/acceso.html`);
  assert.ok(seen.token.verified, 'the verifier matches the challenge');
  assert.equal(seen.token.redirect_uri, a.redirect_uri);
  await page.getByRole('button', { name: 'Ver detalles' }).click();
  await page.locator('#tabla tbody tr').first().waitFor();
  await page.getByRole('button', { name: 'Cerrar sesión' }).click();
  await page.waitForURL(/acceso\.html/);
  assert.equal(seen.logout.client_id, 'cliente-web');
  await page.getByRole('button', { name: 'Iniciar sesión' }).waitFor();
  await page.close();
});
