// The deployment's settings, read once from config.json: where the API is
// and how users sign in. The same files run locally and in the cloud.
let loaded;

export function config() {
  loaded ??= fetch(new URL('../config.json', import.meta.url), { cache: 'no-store' }).then((r) => {
    if (!r.ok) throw new Error('No se pudo leer config.json');
    return r.json();
  });
  return loaded;
}

/** The API's base URL, without a trailing slash. */
export async function apiBase() {
  const c = await config();
  return (c.apiBase || '/v1').replace(/\/$/, '');
}
