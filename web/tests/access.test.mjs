// Who sees what: the local sign-in page lists the demo users with their
// permissions; a user who may only see gets no issue, cancel or edit
// buttons; a token the API refuses sends the user to sign in again; the
// public verification page reads well on a phone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, axeViolations, newPage, screenshot, startBrowser, startServer } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

describe('acceso y permisos', () => {
  it('la página de acceso lista los usuarios de demostración con sus permisos', async () => {
    const page = await newPage(browser);
    await page.goto(`${server.base}/acceso.html`);
    await page.getByRole('heading', { name: 'Usuarios de demostración' }).waitFor();
    const users = await page.locator('#usuarios button').allTextContents();
    assert.ok(users.length >= 4, users.join(' | '));
    assert.ok(users.some((u) => /Consulta.*solo consulta/.test(u)), users.join(' | '));
    assert.ok(users.some((u) => /norte: ver, timbrar, editar/.test(u)), users.join(' | '));
    await screenshot(page, '10-acceso');
    assert.deepEqual(await axeViolations(page), []);
    await page.close();
  });

  it('quien solo puede ver no tiene botones para emitir, cancelar ni editar', async () => {
    const page = await newPage(browser);
    await page.goto(`${server.base}/acceso.html`);
    await page.locator('#usuarios button', { has: page.getByText('Consulta', { exact: true }) }).click();
    await page.waitForURL(/index\.html|\/$/);
    await page.locator('#f-ciclo option').first().waitFor({ state: 'attached' });
    await page.getByRole('button', { name: 'Ver detalles' }).click();
    await page.locator('#tabla tbody tr').first().waitFor();
    for (const name of ['Generar certificados', 'Cancelar', 'Datos de calificaciones en bloque', 'Enviar por correo']) {
      assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, name);
    }
    assert.ok(await page.getByRole('button', { name: 'Exportar CSV' }).isVisible());
    assert.ok(await page.getByText('Descargar', { exact: true }).isVisible());
    await page.locator('#tabla tbody tr').first().getByRole('button', { name: /Ver datos/ }).click();
    await page.locator('#d-alumno').getByRole('heading', { name: 'Materias' }).waitFor();
    assert.equal(await page.locator('#d-alumno input.grade-input').count(), 0, 'no grade editing');
    assert.equal(await page.getByRole('button', { name: 'Guardar calificaciones' }).count(), 0);
    await screenshot(page, '11-solo-ver');
    await page.close();
  });

  it('un token que la API rechaza lleva a iniciar sesión de nuevo', async () => {
    const page = await newPage(browser);
    const [header, payload] = server.token.split('.');
    await page.goto(`${server.base}/#token=${header}.${payload}.firma-alterada`);
    await page.waitForURL(/acceso\.html/);
    await page.getByRole('heading', { name: 'Iniciar sesión' }).waitFor();
    await page.close();
  });

  it('la página de verificación se lee en un teléfono: válido y desconocido', async () => {
    const issued = await api(server, 'POST', '/schools/norte/cycles/2026/certificates/issue', { students: ['A20010'] });
    assert.equal(issued.status, 200, issued.text);
    const folio = issued.json.results[0].folioDigital;
    assert.ok(folio, issued.text);
    const page = await newPage(browser);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.base}/verificar/?folio=${folio}`);
    await page.getByRole('heading', { name: 'Certificado válido' }).waitFor();
    const text = await page.locator('.verdict').textContent();
    assert.match(text, /Universidad del Valle de Anáhuac/);
    assert.match(text, /Campus Norte/);
    assert.match(text, /A\*+ F\*+ R\*+/, 'the holder partly masked');
    assert.doesNotMatch(text, /Andrea|Flores/, 'never the whole name');
    const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scroll <= 390, `no sideways scroll on a phone (${scroll}px)`);
    await screenshot(page, '12-verificacion-valido');
    assert.deepEqual(await axeViolations(page), []);
    await page.goto(`${server.base}/verificar/?folio=00000000-0000-4000-8000-000000000000`);
    await page.getByRole('heading', { name: 'Folio desconocido' }).waitFor();
    await screenshot(page, '13-verificacion-desconocido');
    await page.close();
  });
});
