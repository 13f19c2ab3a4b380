// The sign-in page. In the cloud: Cognito's managed login (and its
// redirect back here). Locally: the demo users `certifica serve --demo`
// offers, each with its permissions, or a token from `certifica token`.
import { config } from './config.js';
import { completeSignIn, permissions, returnAddress, signIn, storeToken } from './auth.js';
import { el } from './format.js';

const $ = (id) => document.getElementById(id);
const LABELS = { ver: 'ver', timbrar: 'timbrar', editar: 'editar', administrar: 'administrar' };

function enter(token) {
  storeToken(token);
  location.assign(returnAddress());
}

function describe(token) {
  try {
    const claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return [...permissions(claims)].map(([school, perms]) => `${school}: ${[...perms].map((p) => LABELS[p]).join(', ')}`).join(' · ');
  } catch {
    return '';
  }
}

async function local() {
  $('local').hidden = false;
  $('con-token').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    if (token.split('.').length !== 3) {
      $('estado').textContent = 'Eso no parece un token; cópielo completo de la salida de «certifica token».';
      return;
    }
    enter(token);
  });
  const response = await fetch('/local/demo-users', { headers: { accept: 'application/json' } }).catch(() => null);
  if (!response?.ok) return;
  const { users } = await response.json();
  $('demo').hidden = false;
  $('usuarios').replaceChildren(
    ...users.map((u) =>
      el(
        'li',
        {},
        el(
          'button',
          { type: 'button', onclick: () => enter(u.token) },
          el('strong', {}, u.name),
          el('span', { class: 'perms' }, `${u.institution} — ${u.description}`),
          el('span', { class: 'perms' }, describe(u.token)),
        ),
      ),
    ),
  );
}

async function boot() {
  const { auth } = await config();
  if (auth?.mode === 'cognito') {
    try {
      const back = await completeSignIn();
      if (back) {
        location.assign(back);
        return;
      }
    } catch (e) {
      $('estado').textContent = e.message;
    }
    $('nube').hidden = false;
    $('entrar').addEventListener('click', () => signIn(returnAddress()));
    return;
  }
  await local();
}

boot();
