// Who is signed in. Locally the token comes from `certifica serve --demo`'s
// link (#token=…) or the sign-in page; in the cloud from Cognito's managed
// login (authorization code with PKCE). The token lives in sessionStorage:
// closing the browser signs out.
import { config } from './config.js';

const KEY = 'certifica.token';
const PKCE = 'certifica.pkce';
const RETURN = 'certifica.return';

function decode(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '='))
        .split('')
        .map((c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0'))
        .join(''),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

/** Takes a token handed over in the address (#token=…), then hides it. */
export function adoptTokenFromAddress() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const token = hash.get('token');
  if (!token) return;
  sessionStorage.setItem(KEY, token);
  hash.delete('token');
  const rest = hash.toString();
  history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
}

/** The signed-in session: the token and its claims, or null when absent or expired. */
export function session() {
  const token = sessionStorage.getItem(KEY);
  if (!token) return null;
  const claims = decode(token);
  if (!claims || (claims.exp && claims.exp * 1000 < Date.now())) {
    sessionStorage.removeItem(KEY);
    return null;
  }
  return { token, claims };
}

export function storeToken(token) {
  sessionStorage.setItem(KEY, token);
}

/**
 * Per-school permissions from the token's claims (`norte=certificacion:ver …`,
 * also as Cognito's `custom:permissions`): a Map of school → Set of ver,
 * timbrar, editar, administrar. Only for showing buttons: the API decides.
 */
export function permissions(claims) {
  const text = (claims.permissions ?? claims['custom:permissions'] ?? '').replace(/[[\]]/g, ' ');
  const names = {
    'certificacion:ver': 'ver',
    'certificacion.timbrar:editar': 'timbrar',
    'certificacion.editar:editar': 'editar',
    'certificacion:administrar': 'administrar',
  };
  const out = new Map();
  for (const pair of text.split(/[\s,]+/).filter(Boolean)) {
    const [school, claim] = pair.split('=');
    if (!school || !names[claim]) continue;
    if (!out.has(school)) out.set(school, new Set());
    out.get(school).add(names[claim]);
  }
  return out;
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Sends the user to sign in, coming back to `returnTo` afterwards. */
export async function signIn(returnTo = location.href) {
  sessionStorage.setItem(RETURN, returnTo);
  const { auth } = await config();
  if (auth?.mode === 'cognito') {
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
    const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state }));
    const url = new URL('/oauth2/authorize', auth.domain);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: auth.clientId,
      redirect_uri: auth.redirectUri,
      scope: auth.scope || 'openid email',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    location.assign(url.toString());
    return;
  }
  location.assign(new URL('../acceso.html', import.meta.url).toString());
}

/**
 * Cognito's redirect back (?code=…&state=…): exchanges the code for tokens
 * with the PKCE verifier. Answers the address to return to, or null when
 * this is not such a redirect.
 */
export async function completeSignIn() {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  if (!code) return null;
  const { auth } = await config();
  const pending = JSON.parse(sessionStorage.getItem(PKCE) || 'null');
  sessionStorage.removeItem(PKCE);
  if (!pending || pending.state !== params.get('state')) {
    throw new Error('La respuesta del inicio de sesión no corresponde a esta ventana; vuelva a iniciar sesión.');
  }
  const response = await fetch(new URL('/oauth2/token', auth.domain), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: auth.clientId,
      code,
      redirect_uri: auth.redirectUri,
      code_verifier: pending.verifier,
    }),
  });
  if (!response.ok) throw new Error('No se pudo completar el inicio de sesión; vuelva a intentarlo.');
  const tokens = await response.json();
  // The ID token carries the institution and permissions the API reads.
  storeToken(tokens.id_token);
  const back = sessionStorage.getItem(RETURN) || new URL('../index.html', import.meta.url).toString();
  sessionStorage.removeItem(RETURN);
  return back;
}

/** The address saved before signing in (where to go back). */
export function returnAddress() {
  const back = sessionStorage.getItem(RETURN);
  sessionStorage.removeItem(RETURN);
  return back || new URL('../index.html', import.meta.url).toString();
}

export async function signOut() {
  sessionStorage.removeItem(KEY);
  const { auth } = await config();
  if (auth?.mode === 'cognito') {
    const url = new URL('/logout', auth.domain);
    url.search = new URLSearchParams({ client_id: auth.clientId, logout_uri: auth.logoutUri }).toString();
    location.assign(url.toString());
    return;
  }
  location.assign(new URL('../acceso.html', import.meta.url).toString());
}
