// The certification view, walked as a control-escolar clerk would, in a
// real browser against `certifica serve --demo`: filters, search, groups,
// "Ver datos", grade edits, bulk grades, preview, issuing (today and a
// custom date), an authority failure and its retry, downloads, mail,
// cancellation and the verification page it leads to.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, axeViolations, newPage, screenshot, startBrowser, startServer } from './support.mjs';

let server;
let browser;
let page;

const row = (matricula) => page.locator('#tabla tbody tr', { has: page.getByRole('cell', { name: matricula, exact: true }) });

async function showTable() {
  await page.getByRole('button', { name: 'Ver detalles' }).click();
  await page.locator('#tabla tbody tr').first().waitFor();
  await page.locator('#conteos strong').waitFor();
}

async function select(...matriculas) {
  for (const m of matriculas) await row(m).getByRole('checkbox').check();
}

/** Waits for the progress dialog's summary, answers its counts line, and closes it. */
async function finishBatch() {
  const dialog = page.locator('#d-progreso');
  await dialog.getByRole('button', { name: 'Cerrar' }).and(page.locator(':enabled')).waitFor({ timeout: 60_000 });
  const counts = await page.locator('#d-progreso-conteos').textContent();
  return counts;
}

async function closeBatch() {
  await page.locator('#d-progreso').getByRole('button', { name: 'Cerrar' }).click();
  await page.locator('#d-progreso').waitFor({ state: 'hidden' });
}

async function downloaded(action) {
  const [download] = await Promise.all([page.waitForEvent('download'), action()]);
  return readFileSync(await download.path());
}

function pdfText(bytes, name) {
  const file = join(server.data, name);
  execFileSync('sh', ['-c', 'cat > "$1"', 'sh', file], { input: bytes });
  return execFileSync('pdftotext', ['-layout', file, '-']).toString();
}

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  page = await newPage(browser);
  await page.goto(server.link);
  await page.locator('#f-ciclo option').first().waitFor({ state: 'attached' });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

describe('la vista de certificación', () => {
  it('entra con la dirección que imprime serve --demo y muestra los filtros con sus etiquetas', async () => {
    assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
    for (const label of ['Escuela', 'Ciclo escolar', 'Plan de estudios', 'Estado']) {
      assert.ok(await page.getByLabel(label, { exact: true }).isVisible(), label);
    }
    assert.ok(await page.getByRole('group', { name: 'Fecha de emisión' }).isVisible());
    assert.match(await page.locator('#creditos').textContent(), /Créditos disponibles: 100/);
    const estados = await page.getByLabel('Estado', { exact: true }).locator('option').allTextContents();
    assert.deepEqual(estados, ['Todos', 'Por certificar', 'Sellados', 'Timbrados', 'Error en timbrado', 'Cancelado']);
    await showTable();
    assert.match(await page.locator('#conteos').textContent(), /17 alumnos · 17 por certificar/);
    await screenshot(page, '01-tabla');
    assert.deepEqual(await axeViolations(page), []);
  });

  it('busca por nombre o matrícula y filtra por grupo', async () => {
    await page.getByLabel('Buscar alumno').fill('maria jose');
    await page.waitForFunction(() => document.querySelectorAll('#tabla tbody tr').length === 2);
    const names = await page.locator('#tabla tbody .name').allTextContents();
    assert.ok(names.every((n) => /María José/.test(n)), names.join(', '));
    await page.getByLabel('Buscar alumno').fill('A20010');
    await page.waitForFunction(() => document.querySelectorAll('#tabla tbody tr').length === 1);
    await page.getByLabel('Buscar alumno').fill('');
    await page.waitForFunction(() => document.querySelectorAll('#tabla tbody tr').length === 17);
    await page.getByLabel('Grupo').selectOption('8B');
    await page.waitForFunction(() => document.querySelectorAll('#tabla tbody tr').length < 17);
    const groups = await page.locator('#tabla tbody tr td:nth-child(4)').allTextContents();
    assert.ok(groups.length > 0 && groups.every((g) => g === '8B'), groups.join(', '));
    assert.match(await page.locator('#conteos').textContent(), new RegExp(`^${groups.length} alumnos`));
    await page.getByLabel('Grupo').selectOption('');
    await page.waitForFunction(() => document.querySelectorAll('#tabla tbody tr').length === 17);
  });

  it('«Ver datos» muestra género, créditos, promedio, aprobadas y reprobadas, materias y bitácora', async () => {
    await row('A20000').getByRole('button', { name: /Ver datos/ }).click();
    const dialog = page.locator('#d-alumno');
    await dialog.getByRole('heading', { name: 'Materias' }).waitFor();
    for (const label of ['Género', 'Créditos obtenidos', 'Promedio general', 'Materias aprobadas', 'Materias reprobadas']) {
      assert.ok(await dialog.getByText(label, { exact: true }).isVisible(), label);
    }
    assert.match(await dialog.locator('dd').first().textContent(), /^[FM]$/);
    assert.match(await dialog.textContent(), /de \d+\.\d\d/, 'credits obtained of total');
    await screenshot(page, '02-ver-datos', { fullPage: false });
    assert.deepEqual(await axeViolations(page), []);
    await dialog.getByRole('button', { name: 'Cerrar' }).click();
  });

  it('edita una calificación y la marca como «calificaciones editadas»', async () => {
    await row('A20002').getByRole('button', { name: /Ver datos/ }).click();
    const dialog = page.locator('#d-alumno');
    const first = dialog.locator('input.grade-input').first();
    await first.waitFor();
    await first.fill('9.50');
    await dialog.getByRole('button', { name: 'Guardar calificaciones' }).click();
    await dialog.getByText('Calificaciones editadas en este proceso de certificación').first().waitFor();
    assert.match(await dialog.textContent(), /Calificaciones editadas/);
    await dialog.getByRole('button', { name: 'Cerrar' }).click();
    await row('A20002').getByText('Calificaciones editadas').waitFor();
  });

  it('un conflicto de versión pide volver a abrir «Ver datos»', async () => {
    await row('A20003').getByRole('button', { name: /Ver datos/ }).click();
    const dialog = page.locator('#d-alumno');
    const first = dialog.locator('input.grade-input').first();
    await first.waitFor();
    // Someone else saves first.
    const other = (await api(server, 'GET', '/schools/norte/cycles/2026/students/A20003')).json;
    const grades = other.subjects
      .filter((s) => s.grade)
      .map((s) => ({ subjectClave: s.clave, value: s.grade, ciclo: s.ciclo, observacion: s.observacionCode }));
    const saved = await api(server, 'PUT', '/schools/norte/cycles/2026/students/A20003/grades', { version: other.version, grades });
    assert.equal(saved.status, 200, saved.text);
    await first.fill('8');
    await dialog.getByRole('button', { name: 'Guardar calificaciones' }).click();
    await dialog.getByText(/vuelva a abrir «Ver datos»/).waitFor();
    await dialog.getByRole('button', { name: 'Cerrar' }).click();
  });

  it('aplica datos de calificaciones en bloque a dos o más alumnos', async () => {
    assert.ok(await page.getByRole('button', { name: 'Datos de calificaciones en bloque' }).isDisabled(), 'needs two');
    await select('A20007');
    assert.ok(await page.getByRole('button', { name: 'Datos de calificaciones en bloque' }).isDisabled(), 'still one');
    await select('A20008');
    await page.getByRole('button', { name: 'Datos de calificaciones en bloque' }).click();
    const dialog = page.locator('#d-bloque');
    await dialog.getByLabel('Materia').locator('option').nth(1).waitFor({ state: 'attached' });
    const subject = await dialog.getByLabel('Materia').locator('option').nth(1).getAttribute('value');
    await dialog.getByLabel('Materia').selectOption(subject);
    await dialog.getByLabel('Calificación').fill('9');
    await dialog.getByLabel('Ciclo en que se cursó').fill('2025-2');
    await screenshot(page, '03-calificaciones-en-bloque', { fullPage: false });
    await dialog.getByRole('button', { name: 'Aplicar' }).click();
    assert.match(await finishBatch(), /Aplicado: 2/);
    await closeBatch();
    await row('A20007').getByText('Calificaciones editadas').waitFor();
  });

  it('la vista previa existe solo para planes de reconocimiento independiente', async () => {
    assert.ok(await page.getByRole('button', { name: 'Vista previa' }).isHidden(), 'Campus Norte has an RVOE plan');
    await page.getByLabel('Escuela', { exact: true }).selectOption('sur');
    await page.waitForFunction(() => document.querySelector('#f-plan').options.length > 1);
    await showTable();
    await page.getByRole('button', { name: 'Vista previa' }).waitFor();
    await select('B20040');
    const pdf = await downloaded(() => page.getByRole('button', { name: 'Vista previa' }).click());
    assert.equal(pdf.subarray(0, 4).toString(), '%PDF');
    assert.match(pdfText(pdf, 'vista-previa.pdf'), /VISTA PREVIA/);
    await page.getByLabel('Escuela', { exact: true }).selectOption('norte');
    await page.waitForFunction(() => document.querySelector('#f-escuela').value === 'norte');
    await showTable();
  });

  it('genera certificados con la fecha de hoy en la Ciudad de México', async () => {
    await select('A20000', 'A20005');
    await page.getByRole('button', { name: 'Generar certificados' }).click();
    const dialog = page.locator('#d-generar');
    await dialog.waitFor();
    const today = new Intl.DateTimeFormat('es-MX', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'America/Mexico_City' }).format(new Date());
    assert.equal(await page.locator('#d-generar-hoy').textContent(), today);
    assert.match(await dialog.textContent(), /2 alumnos/);
    await screenshot(page, '04-generar', { fullPage: false });
    assert.deepEqual(await axeViolations(page), []);
    await dialog.getByRole('button', { name: 'Generar' }).click();
    assert.match(await finishBatch(), /Timbrado: 2/);
    await screenshot(page, '05-resumen', { fullPage: false });
    await closeBatch();
    await page.waitForFunction(() => /Créditos disponibles: 98/.test(document.querySelector('#creditos').textContent));
    const dmy = new Intl.DateTimeFormat('es-MX', { day: '2-digit', month: '2-digit', year: 'numeric', timeZone: 'America/Mexico_City' }).format(new Date());
    for (const m of ['A20000', 'A20005']) {
      await row(m).getByText('Timbrado', { exact: true }).waitFor();
      assert.equal(await row(m).locator('td:nth-child(6)').textContent(), dmy);
    }
  });

  it('genera con una fecha personalizada', async () => {
    await select('A20006');
    await page.getByRole('button', { name: 'Generar certificados' }).click();
    const dialog = page.locator('#d-generar');
    await dialog.getByLabel('Fecha personalizada').check();
    await dialog.getByLabel('Fecha de expedición').fill('2026-11-30');
    await dialog.getByRole('button', { name: 'Generar' }).click();
    assert.match(await finishBatch(), /Timbrado: 1/);
    await closeBatch();
    await row('A20006').getByText('Timbrado', { exact: true }).waitFor();
    assert.equal(await row('A20006').locator('td:nth-child(6)').textContent(), '30/11/2026');
  });

  it('un error de la autoridad queda en «Error en timbrado» con su mensaje, y se reintenta', async () => {
    // The simulated authority is told to be unavailable for the next stamp.
    const told = await fetch(`${server.base}/v1/schools`, {
      headers: { authorization: `Bearer ${server.token}`, 'x-simular-autoridad': 'no-disponible' },
    });
    assert.equal(told.status, 200);
    await select('A20001');
    await page.getByRole('button', { name: 'Generar certificados' }).click();
    await page.locator('#d-generar').getByRole('button', { name: 'Generar' }).click();
    assert.match(await finishBatch(), /Error: 1/);
    assert.ok(await page.getByRole('button', { name: /Reintentar los fallidos/ }).isVisible());
    await closeBatch();
    await row('A20001').getByText('Error en timbrado').waitFor();
    assert.match(await row('A20001').textContent(), /no está disponible/);
    await screenshot(page, '06-error-en-timbrado');
    // In Error the clerk corrects a grade in «Ver datos»; the retry seals the corrected data.
    await row('A20001').getByRole('button', { name: /Ver datos/ }).click();
    const dialog = page.locator('#d-alumno');
    const first = dialog.locator('input.grade-input').first();
    await first.waitFor();
    await first.fill('9.50');
    await dialog.getByRole('button', { name: 'Guardar calificaciones' }).click();
    await dialog.getByText('Calificaciones editadas en este proceso de certificación').first().waitFor();
    assert.match(await dialog.textContent(), /se sella de nuevo con los datos actuales/);
    await screenshot(page, '06b-corregir-en-error', { fullPage: false });
    await dialog.getByRole('button', { name: 'Cerrar' }).click();
    await row('A20001').getByRole('button', { name: /Reintentar/ }).click();
    assert.match(await finishBatch(), /Timbrado: 1/);
    await closeBatch();
    await row('A20001').getByText('Timbrado', { exact: true }).waitFor();
    const xml = await downloaded(() => row('A20001').getByRole('button', { name: /XML/ }).click());
    assert.match(xml.toString(), /calificacion="9\.50"/, 'the legal document carries the corrected grade');
  });

  it('descarga el XML y el PDF de un certificado', async () => {
    const xml = await downloaded(() => row('A20000').getByRole('button', { name: /XML/ }).click());
    assert.match(xml.toString(), /<Dec[\s\S]*SepIpes/);
    const pdf = await downloaded(() => row('A20000').getByRole('button', { name: /PDF/ }).click());
    assert.equal(pdf.subarray(0, 4).toString(), '%PDF');
    assert.match(pdfText(pdf, 'A20000.pdf'), /CERTIFICADO/i);
  });

  it('descarga todos los certificados, y todos en XML', async () => {
    await page.getByText('Descargar', { exact: true }).click();
    const zip = await downloaded(() => page.getByRole('button', { name: /Descarga de certificados/ }).click());
    assert.equal(zip.subarray(0, 2).toString(), 'PK');
    assert.ok(zip.includes(Buffer.from('A20000/')) && zip.includes(Buffer.from('.pdf')), 'XML and PDF');
    await page.getByText('Descargar', { exact: true }).click();
    const xmlOnly = await downloaded(() => page.getByRole('button', { name: 'Todos los certificados en formato XML' }).click());
    assert.equal(xmlOnly.subarray(0, 2).toString(), 'PK');
    assert.ok(!xmlOnly.includes(Buffer.from('.pdf')), 'XML only');
  });

  it('exporta la tabla como CSV en UTF-8 con BOM', async () => {
    const csv = await downloaded(() => page.getByRole('button', { name: 'Exportar CSV' }).click());
    assert.deepEqual([...csv.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    const text = csv.subarray(3).toString('utf8');
    assert.match(text, /^Matrícula,Nombre,Grupo,Plan,Estado/);
    assert.match(text, /A20000,María José Hernández Pérez,8A,.*,Timbrado/);
    assert.equal(text.trim().split('\r\n').length, 18);
  });

  it('envía el certificado por correo (aparece el .eml en la bandeja de salida)', async () => {
    await row('A20000').getByRole('button', { name: /Enviar por correo/ }).click();
    assert.match(await finishBatch(), /Enviado: 1/);
    await closeBatch();
    const outbox = join(server.data, 'bandeja-de-salida');
    const mails = readdirSync(outbox).filter((f) => f.endsWith('.eml'));
    assert.equal(mails.length, 1);
    assert.match(readFileSync(join(outbox, mails[0]), 'utf8'), /certificado-A20000\.pdf/);
  });

  it('cancela con un motivo: el PDF queda marcado CANCELADO y la página de verificación lo dice', async () => {
    await select('A20000', 'A20002');
    await page.getByRole('button', { name: 'Cancelar', exact: true }).click();
    const dialog = page.locator('#d-cancelar');
    assert.match(await dialog.textContent(), /Se cancelarán 1 certificado timbrado\. 1 alumno seleccionado no tiene/);
    await dialog.getByLabel('Motivo de cancelación').selectOption('R5');
    await dialog.getByRole('button', { name: 'Cancelar certificados' }).click();
    await dialog.getByText(/explique la razón/).waitFor();
    await dialog.getByLabel('Motivo de cancelación').selectOption('R3');
    await dialog.getByLabel(/Explicación/).fill('Corrección del nombre');
    await screenshot(page, '07-cancelar', { fullPage: false });
    await dialog.getByRole('button', { name: 'Cancelar certificados' }).click();
    assert.match(await finishBatch(), /Cancelado: 1/);
    await closeBatch();
    await row('A20000').getByText('Cancelado', { exact: true }).waitFor();
    const pdf = await downloaded(() => row('A20000').getByRole('button', { name: /PDF/ }).click());
    const text = pdfText(pdf, 'A20000-cancelado.pdf');
    assert.match(text, /CANCELADO/);
    // The address printed under the QR code, as a person would type it.
    const address = text.match(/https?:\/\/\S+\/verificar\/\?folio=[0-9a-f-]+/)?.[0];
    assert.ok(address, 'the PDF prints its verification address');
    const phone = await newPage(browser);
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(address);
    await phone.getByRole('heading', { name: 'Certificado cancelado' }).waitFor();
    assert.match(await phone.locator('.verdict').textContent(), /Universidad del Valle de Anáhuac[\s\S]*M\*+/);
    await screenshot(phone, '08-verificacion-cancelado');
    assert.deepEqual(await axeViolations(phone), []);
    await phone.close();
  });
});
