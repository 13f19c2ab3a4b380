// A whole class from the browser: 120 students selected across pages,
// issued as one job on the server (above the API's batch size) whose
// progress the bar follows, ending with 120 certificates stamped and no
// credit spent twice; then the cycle's zip, above the server's inline
// limit (set to 50 here), prepared as a job and downloaded.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { api, certificaBinary, newPage, screenshot, startBrowser, startServer } from './support.mjs';

const CLASS = 120;
let server;
let browser;

/** A CURP of valid form and check digit for test student `n`. */
function curp(n) {
  const first17 = `NUXA99${String(1 + (n % 12)).padStart(2, '0')}${String(1 + (n % 28)).padStart(2, '0')}MDFNXN0`;
  const alphabet = '0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ';
  const total = [...first17].reduce((sum, c, i) => sum + alphabet.indexOf(c) * (18 - i), 0);
  return first17 + ((10 - (total % 10)) % 10);
}

before(async () => {
  server = await startServer({ options: ['--inline-download-limit', '50'] });
  browser = await startBrowser();
  // More credits, bought as an operator provisions them.
  const purchase = join(server.data, 'compra.json');
  writeFileSync(
    purchase,
    JSON.stringify({
      institution: { id: 'uva', mecId: '090456', name: 'Universidad del Valle de Anáhuac', kind: 'IPES', mode: 'electronic' },
      creditPurchase: { reference: 'PRUEBA-CLASE', amount: 100 },
    }),
  );
  execFileSync(certificaBinary(), [
    'provision',
    '--file',
    purchase,
    '--data',
    server.data,
  ]);
  // The class: every subject of the plan graded, as "Ver datos" lists them.
  const sample = (await api(server, 'GET', '/schools/norte/cycles/2026/students/A20000')).json;
  const grades = sample.subjects.map((s, i) => ({ subjectClave: s.clave, value: String(7 + (i % 4)), ciclo: `20${22 + Math.floor(i / 8)}-${1 + (i % 2)}` }));
  const students = Array.from({ length: CLASS }, (_, n) => ({
    controlNumber: `G${String(n).padStart(5, '0')}`,
    curp: curp(n),
    nombre: 'Estudiante',
    primerApellido: 'De Prueba',
    segundoApellido: `Número ${n}`,
    genero: n % 2 ? 'Hombre' : 'Mujer',
    fechaNacimiento: `${1990 + (n % 10)}-${String(1 + (n % 12)).padStart(2, '0')}-${String(1 + (n % 28)).padStart(2, '0')}`,
    group: '8Z',
    gradeLevel: sample.gradeLevel,
    active: true,
    planId: sample.planId,
    grades,
  }));
  const imported = await api(server, 'POST', '/schools/norte/cycles/2026/students/import', { students });
  assert.equal(imported.status, 200, imported.text);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A new page on the certification view, the cycle's table shown. */
async function openCycle() {
  const page = await newPage(browser);
  await page.goto(server.link);
  await page.locator('#f-ciclo option').first().waitFor({ state: 'attached' });
  await page.getByRole('button', { name: 'Ver detalles' }).click();
  await page.locator('#conteos strong').waitFor();
  return page;
}

it('una selección de 120 alumnos se emite como un trabajo con barra de progreso y termina con 120 timbrados', async () => {
  const page = await openCycle();
  await page.getByLabel('Grupo').selectOption('8Z');
  await page.waitForFunction(() => /^120 alumnos/.test(document.querySelector('#conteos').textContent));
  await page.getByRole('checkbox', { name: 'Seleccionar todos los alumnos de la página' }).check();
  assert.match(await page.locator('#seleccion').textContent(), /50 alumnos seleccionados/);
  await page.getByRole('button', { name: 'Seleccionar los 120 alumnos que coinciden con los filtros' }).click();
  await page.waitForFunction(() => /120 alumnos seleccionados/.test(document.querySelector('#seleccion').textContent));
  await page.getByRole('button', { name: 'Generar certificados' }).click();
  await page.locator('#d-generar').getByRole('button', { name: 'Generar' }).click();
  // Part way: the bar says how far it went.
  const bar = page.locator('#d-progreso-barra');
  await page.waitForFunction(() => {
    const b = document.querySelector('#d-progreso-barra');
    return b.max === 120 && b.value >= 50;
  });
  assert.ok(await bar.isVisible());
  assert.match(await page.locator('#d-progreso-texto').textContent(), /^Emitiendo: \d+ de 120/);
  await screenshot(page, '14-clase-en-progreso', { fullPage: false });
  await page.locator('#d-progreso').getByRole('button', { name: 'Cerrar' }).and(page.locator(':enabled')).waitFor({ timeout: 120_000 });
  assert.equal(await page.locator('#d-progreso-conteos').textContent(), 'Timbrado: 120');
  assert.equal(await page.locator('#d-progreso-filas tr').count(), 120);
  assert.ok(await page.getByRole('button', { name: /Reintentar los fallidos/ }).isHidden());
  await screenshot(page, '15-clase-resumen', { fullPage: false });
  await page.locator('#d-progreso').getByRole('button', { name: 'Cerrar' }).click();
  await page.waitForFunction(() => /120 timbrados/.test(document.querySelector('#conteos').textContent));
  // 200 credits, 120 spent: one each.
  await page.waitForFunction(() => /Créditos disponibles: 80/.test(document.querySelector('#creditos').textContent));
  const schools = await api(server, 'GET', '/schools');
  assert.equal(schools.json.schools[0].creditsAvailable, 80);
  // One request, one job: the server did the work.
  const jobs = (await api(server, 'GET', '/schools/norte/cycles/2026/jobs')).json.jobs;
  assert.equal(jobs.length, 1);
  assert.deepEqual([jobs[0].kind, jobs[0].status, jobs[0].total, jobs[0].counts], ['issue', 'terminado', 120, { timbrado: 120 }]);
  await page.close();
});

it('el zip de un ciclo grande se prepara como un trabajo, se descarga y se avisa por correo', async () => {
  const page = await openCycle();
  await page.getByText('Descargar', { exact: true }).click();
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 120_000 }),
    page.getByRole('button', { name: 'Todos los certificados en formato XML' }).click(),
  ]);
  const zip = readFileSync(await download.path());
  assert.equal(zip.subarray(0, 2).toString(), 'PK');
  assert.ok(zip.includes(Buffer.from('G00119/')) && !zip.includes(Buffer.from('.pdf')), 'the whole class, XML only');
  await page.getByText(/Archivo listo: \d+ certificados/).waitFor();
  await screenshot(page, '16-descarga-como-trabajo', { fullPage: false });
  const jobs = (await api(server, 'GET', '/schools/norte/cycles/2026/jobs')).json.jobs;
  assert.deepEqual([jobs[0].kind, jobs[0].status], ['download', 'terminado']);
  assert.ok(jobs[0].total >= 120, 'the class, and any demo certificates');
  const outbox = join(server.data, 'bandeja-de-salida');
  const told = readdirSync(outbox).map((f) => readFileSync(join(outbox, f), 'utf8')).filter((m) => /descarga[_ ]de[_ ]certificados/i.test(m));
  assert.equal(told.length, 1, 'the requester is told once');
  await page.close();
});
