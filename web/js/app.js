// The "Certificación electrónica" view: filters, the students table with
// its selection, and the actions the user's permissions allow.
import { ApiError, call, path } from './api.js';
import { adoptTokenFromAddress, permissions, session, signIn, signOut } from './auth.js';
import { follow, jobPath, jobResult, runBatch } from './batch.js';
import { download, toCsv } from './csv.js';
import { OBSERVACIONES, STATUS_LABELS, badge, date, el, longDateOf, plural, todayInMexico } from './format.js';
import { openStudent } from './student.js';

const $ = (id) => document.getElementById(id);
const SAVED = 'certifica.vista';
const PAGE = 50;

const state = {
  perms: new Map(),
  institution: null,
  schools: [],
  plans: [],
  /** The filters the table was loaded with. */
  query: null,
  rows: [],
  /** Cursors of the pages before the current one, and the next one. */
  back: [],
  cursor: null,
  next: null,
  /** Selected students across pages: matrícula → its row (status, plan). */
  selected: new Map(),
  /** How many students match the filters (from the summary). */
  total: 0,
};

function notice(text, info = false) {
  const n = $('aviso');
  n.textContent = text;
  n.className = info ? 'notice info' : 'notice';
  n.hidden = !text;
}

function message(text) {
  $('d-mensaje-texto').textContent = text;
  const d = $('d-mensaje');
  d.querySelector('.close').onclick = () => d.close();
  d.showModal();
}

function can(permission) {
  const school = $('f-escuela').value;
  return state.perms.get(school)?.has(permission) ?? false;
}

function school() {
  return state.schools.find((s) => s.id === $('f-escuela').value);
}

function setCredits(n) {
  $('creditos').textContent = n == null ? '' : `Créditos disponibles: ${n.toLocaleString('es-MX')}`;
}

function save() {
  const q = {
    escuela: $('f-escuela').value,
    ciclo: $('f-ciclo').value,
    plan: $('f-plan').value,
    estado: $('f-estado').value,
    desde: $('f-desde').value,
    hasta: $('f-hasta').value,
    grupo: $('f-grupo').value,
    buscar: $('f-buscar').value,
  };
  sessionStorage.setItem(SAVED, JSON.stringify(q));
  return q;
}

function saved() {
  try {
    return JSON.parse(sessionStorage.getItem(SAVED) || 'null');
  } catch {
    return null;
  }
}

function options(select, items, { keep, empty } = {}) {
  const previous = keep ?? select.value;
  select.replaceChildren(...(empty ? [el('option', { value: '' }, empty)] : []), ...items.map(([v, label]) => el('option', { value: v }, label)));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}

async function loadSchoolChoices(keep = {}) {
  const id = $('f-escuela').value;
  if (!id) return;
  const [cycles, plans] = await Promise.all([
    call(path('schools', id, 'cycles')),
    call(path('schools', id, 'plans')),
  ]);
  options($('f-ciclo'), cycles.cycles.map((c) => [c.id, c.name]), { keep: keep.ciclo });
  state.plans = plans.plans;
  options($('f-plan'), plans.plans.map((p) => [p.id, `${p.name} (${p.clavePlan})`]), { keep: keep.plan, empty: 'Todos los planes' });
  const s = school();
  setCredits(s?.creditsAvailable);
  applyPermissions();
}

/** Shows only the actions the user may take in the selected school. */
function applyPermissions() {
  for (const node of document.querySelectorAll('[data-permiso]')) node.hidden = !can(node.dataset.permiso);
  updatePreview();
  updateSelection();
}

function independentPlans() {
  return new Set(state.plans.filter((p) => p.recognition === 'independent').map((p) => p.id));
}

/** "Vista previa" exists only for plans of independent recognition. */
function updatePreview() {
  const independent = independentPlans();
  const plan = $('f-plan').value;
  $('a-vista-previa').hidden = !can('ver') || (plan ? !independent.has(plan) : independent.size === 0);
}

function selectedRows() {
  return [...state.selected.values()];
}

function updateSelection() {
  const n = state.selected.size;
  $('seleccion').textContent = n ? `${plural(n, 'alumno seleccionado', 'alumnos seleccionados')}` : 'Ningún alumno seleccionado';
  const rows = selectedRows();
  const stamped = rows.filter((r) => r.status === 'timbrado').length;
  $('a-generar').disabled = n === 0;
  $('a-bloque').disabled = n < 2;
  $('a-bloque').title = n < 2 ? 'Seleccione dos o más alumnos' : '';
  $('a-cancelar').disabled = stamped === 0;
  $('a-cancelar').title = stamped === 0 ? 'Solo se cancelan certificados timbrados' : '';
  $('a-correo').disabled = stamped === 0;
  const independent = independentPlans();
  $('a-vista-previa').disabled = !(n === 1 && independent.has(rows[0].planId));
  $('a-vista-previa').title = n === 1 ? '' : 'Seleccione un alumno de un plan de reconocimiento independiente';
  const boxes = [...document.querySelectorAll('#tabla tbody input[type=checkbox]')];
  $('todos').checked = boxes.length > 0 && boxes.every((b) => b.checked);
  $('todos').indeterminate = !$('todos').checked && boxes.some((b) => b.checked);
  const offer = $('seleccionar-filtro');
  offer.hidden = !(boxes.length > 0 && $('todos').checked && state.total > n);
  $('a-seleccionar-filtro').textContent = `Seleccionar los ${state.total.toLocaleString('es-MX')} alumnos que coinciden con los filtros`;
}

function listQuery(q, extra = {}) {
  const params = new URLSearchParams();
  if (q.plan) params.set('plan', q.plan);
  if (q.estado && q.estado !== 'todos') params.set('status', q.estado);
  if (q.desde) params.set('issuedFrom', q.desde);
  if (q.hasta) params.set('issuedTo', q.hasta);
  if (q.grupo) params.set('group', q.grupo);
  if (q.buscar.trim()) params.set('q', q.buscar.trim());
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return params;
}

function studentsPath(q) {
  return path('schools', q.escuela, 'cycles', q.ciclo, 'students');
}

async function loadSummary(q) {
  const params = listQuery(q);
  params.delete('status');
  params.delete('issuedFrom');
  params.delete('issuedTo');
  const summary = await call(`${path('schools', q.escuela, 'cycles', q.ciclo, 'summary')}?${params}`);
  const c = summary.counts;
  const issued = c.timbrado + c.sellado;
  $('conteos').replaceChildren(
    el('strong', {}, plural(summary.total, 'alumno', 'alumnos')),
    ` · ${c.porCertificar.toLocaleString('es-MX')} por certificar · ${issued.toLocaleString('es-MX')} emitidos (${c.timbrado.toLocaleString('es-MX')} timbrados, ${c.sellado.toLocaleString('es-MX')} sellados) · ${c.error.toLocaleString('es-MX')} con error · ${c.cancelado.toLocaleString('es-MX')} cancelados`,
  );
  options($('f-grupo'), summary.groups.map((g) => [g, g]), { keep: q.grupo, empty: 'Todos los grupos' });
  const byStatus = { todos: summary.total, por_certificar: c.porCertificar, ...c };
  state.total = byStatus[q.estado] ?? summary.total;
}

/** Loads the table with the current filters, from its first page. */
async function load() {
  const form = $('filtros');
  if (!$('f-escuela').value || !$('f-ciclo').value) {
    form.reportValidity();
    notice('Seleccione la escuela y el ciclo escolar.');
    return;
  }
  const q = save();
  const changed = JSON.stringify(q) !== JSON.stringify(state.query);
  state.query = q;
  state.back = [];
  state.cursor = null;
  if (changed) state.selected.clear();
  for (const r of document.querySelectorAll('input[name=vista]')) r.checked = r.value === q.estado;
  await loadPage(null);
  loadSummary(q).then(updateSelection, (e) => notice(e.message));
}

async function loadPage(cursor) {
  const q = state.query;
  const button = $('ver-detalles');
  button.disabled = true;
  try {
    const page = await call(`${studentsPath(q)}?${listQuery(q, { limit: PAGE, ...(cursor ? { cursor } : {}) })}`);
    state.rows = page.students;
    state.cursor = cursor;
    state.next = page.nextCursor;
    notice('');
    render();
    $('resultados').hidden = false;
  } catch (e) {
    notice(e.message);
  } finally {
    button.disabled = false;
  }
}

function documentButton(row, pdf) {
  return el(
    'button',
    {
      type: 'button',
      class: 'small',
      onclick: () => openDocument(row.matricula, pdf),
      'aria-label': `Descargar ${pdf ? 'PDF' : 'XML'} de ${row.name}`,
    },
    pdf ? 'PDF' : 'XML',
  );
}

function render() {
  const tbody = $('tabla').querySelector('tbody');
  if (state.rows.length === 0) {
    tbody.replaceChildren(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'Ningún alumno coincide con los filtros.')));
  } else {
    tbody.replaceChildren(...state.rows.map(rowOf));
  }
  $('anterior').disabled = state.back.length === 0;
  $('siguiente').disabled = !state.next;
  $('pagina').textContent = `Página ${state.back.length + 1}`;
  updateSelection();
}

/** A plan as clerks know it: its name and key. */
function planName(id) {
  const p = state.plans.find((x) => x.id === id);
  return p ? `${p.name} (${p.clavePlan})` : id;
}

function rowOf(row) {
  const c = row.certificate;
  const box = el('input', {
    type: 'checkbox',
    checked: state.selected.has(row.matricula),
    'aria-label': `Seleccionar a ${row.name} (${row.matricula})`,
  });
  const tr = el('tr', { class: state.selected.has(row.matricula) ? 'selected' : '' });
  box.onchange = () => {
    if (box.checked) state.selected.set(row.matricula, row);
    else state.selected.delete(row.matricula);
    tr.className = box.checked ? 'selected' : '';
    updateSelection();
  };
  const actions = [
    el('button', { type: 'button', class: 'small', onclick: () => viewStudent(row.matricula), 'aria-label': `Ver datos de ${row.name}` }, 'Ver datos'),
  ];
  if (c && (c.status === 'timbrado' || c.status === 'cancelado')) actions.push(documentButton(row, false), documentButton(row, true));
  if (c?.status === 'timbrado' && can('timbrar')) {
    actions.push(
      el('button', { type: 'button', class: 'small', onclick: () => email([row]), 'aria-label': `Enviar por correo el certificado de ${row.name}` }, 'Enviar'),
    );
  }
  const retryable = c?.status === 'error' || (c?.status === 'sellado' && school()?.certificationMode === 'electronic');
  if (retryable && can('timbrar')) {
    actions.push(
      el('button', { type: 'button', class: 'small', onclick: () => issue([row.matricula], null), 'aria-label': `Reintentar el timbrado de ${row.name}` }, 'Reintentar'),
    );
  }
  tr.append(
    el('td', { class: 'check' }, box),
    el('td', {}, row.matricula),
    el('td', {}, el('div', { class: 'name' }, row.name), el('div', { class: 'sub' }, planName(row.planId))),
    el('td', {}, row.group),
    el(
      'td',
      {},
      badge(row.status),
      row.gradesEdited ? el('div', { class: 'edited' }, 'Calificaciones editadas') : null,
      c?.status === 'error' && c.lastError ? el('p', { class: 'authority-error' }, c.lastError) : null,
    ),
    el('td', {}, c ? date(c.issueDate) : ''),
    el('td', {}, el('div', { class: 'row-actions' }, actions)),
  );
  return tr;
}

async function viewStudent(matricula) {
  const q = state.query;
  await openStudent({
    school: q.escuela,
    cycle: q.ciclo,
    matricula,
    canEdit: can('editar'),
    onChanged: () => loadPage(state.cursor),
  });
}

/** Opens a certificate's XML or PDF through its short-lived link. */
async function openDocument(matricula, pdf) {
  const q = state.query;
  try {
    const { url } = await call(path('schools', q.escuela, 'cycles', q.ciclo, 'students', matricula, pdf ? 'certificate.pdf' : 'certificate.xml'));
    location.assign(url);
  } catch (e) {
    message(e.message);
  }
}

/** Every student matching the filters, a page of 200 at a time. */
async function everyRow(q) {
  const rows = [];
  let cursor = null;
  do {
    const page = await call(`${studentsPath(q)}?${listQuery(q, { limit: 200, ...(cursor ? { cursor } : {}) })}`);
    rows.push(...page.students);
    cursor = page.nextCursor;
  } while (cursor);
  return rows;
}

async function refreshCredits() {
  try {
    const s = await call('/schools');
    state.schools = s.schools;
    setCredits(school()?.creditsAvailable);
  } catch {
    /* the next action shows any problem */
  }
}

async function afterBatch() {
  state.selected.clear();
  await Promise.all([loadPage(state.cursor), refreshCredits(), loadSummary(state.query).catch(() => {})]);
  updateSelection();
}

function cyclePath(...rest) {
  return path('schools', state.query.escuela, 'cycles', state.query.ciclo, ...rest);
}

/** `POST …/certificates/{action}` of the cycle in view, once per `key`. */
function postCertificates(action, body, key) {
  return call(cyclePath('certificates', action), { method: 'POST', body, headers: { 'idempotency-key': key } });
}

/** Issues `students` (a whole class is one job on the server). */
async function issue(students, issueDate) {
  const body = (list) => ({ students: list, ...(issueDate ? { issueDate } : {}) });
  await runBatch({
    title: 'Generar certificados',
    verb: 'Emitiendo',
    students,
    send: async (chunk, key) => {
      const answer = await postCertificates('issue', body(chunk), key);
      setCredits(answer.creditsAvailable);
      return answer.results.map(jobResult);
    },
    queue: (list, key) => postCertificates('issue', body(list), key),
    failed: (r) => ['error', 'rechazado', 'fallo', 'fallido'].includes(r.outcome) || (r.outcome === 'sellado' && /crédito/.test(r.detail)),
  });
  await afterBatch();
}

async function cancel(rows, motive, reason) {
  const body = (list) => ({ students: list, motive, ...(reason ? { reason } : {}) });
  await runBatch({
    title: 'Cancelar certificados',
    verb: 'Cancelando',
    students: rows.map((r) => r.matricula),
    send: async (chunk, key) => {
      const answer = await postCertificates('cancel', body(chunk), key);
      return answer.results.map((r) => ({ matricula: r.matricula, outcome: r.ok ? 'cancelado' : 'rechazado', detail: r.detail || '' }));
    },
    queue: (list, key) => postCertificates('cancel', body(list), key),
    failed: (r) => r.outcome !== 'cancelado',
  });
  await afterBatch();
}

async function email(rows) {
  await runBatch({
    title: 'Enviar por correo',
    verb: 'Enviando',
    students: rows.map((r) => r.matricula),
    send: async (chunk, key) => {
      const answer = await postCertificates('email', { students: chunk }, key);
      return answer.results.map((r) => ({ matricula: r.matricula, outcome: r.ok ? 'enviado' : 'rechazado', detail: r.detail || '' }));
    },
    queue: (list, key) => postCertificates('email', { students: list }, key),
    failed: (r) => r.outcome !== 'enviado',
  });
  await afterBatch();
}

async function bulkGrades(students, grade) {
  await runBatch({
    title: 'Datos de calificaciones en bloque',
    verb: 'Aplicando',
    students,
    send: async (chunk, key) => {
      const answer = await call(cyclePath('grades', 'bulk'), {
        method: 'POST',
        body: { students: chunk, grades: [grade] },
        headers: { 'idempotency-key': key },
      });
      return answer.results.map((r) => ({ matricula: r.matricula, outcome: r.ok ? 'aplicado' : 'rechazado', detail: r.detail || '' }));
    },
    failed: (r) => r.outcome !== 'aplicado',
    // The API applies bulk data to two or more students per call.
    minChunk: 2,
  });
  await afterBatch();
}

function openIssueDialog() {
  const d = $('d-generar');
  const today = todayInMexico();
  const n = state.selected.size;
  $('d-generar-cuantos').textContent = `Se generarán los certificados de ${plural(n, 'alumno', 'alumnos')}.`;
  $('d-generar-hoy').textContent = longDateOf(today);
  $('d-generar-personalizada').checked = false;
  $('d-generar-campo').hidden = true;
  $('d-generar-fecha').value = today;
  $('d-generar-fecha').max = today;
  $('d-generar-personalizada').onchange = (e) => {
    $('d-generar-campo').hidden = !e.target.checked;
  };
  d.querySelector('.close').onclick = () => d.close();
  d.onclose = async () => {
    if (d.returnValue !== 'ok') return;
    const custom = $('d-generar-personalizada').checked ? $('d-generar-fecha').value : null;
    $('a-generar').disabled = true;
    await issue([...state.selected.keys()], custom);
  };
  d.returnValue = '';
  d.showModal();
}

function openCancelDialog() {
  const d = $('d-cancelar');
  const rows = selectedRows().filter((r) => r.status === 'timbrado');
  const others = state.selected.size - rows.length;
  $('d-cancelar-cuantos').textContent =
    `Se cancelarán ${plural(rows.length, 'certificado timbrado', 'certificados timbrados')}.` +
    (others ? ` ${plural(others, 'alumno seleccionado no tiene', 'alumnos seleccionados no tienen')} certificado timbrado y no se tocará.` : '') +
    ' Sus PDF quedarán marcados como CANCELADO y se podrá emitir uno nuevo.';
  const motive = $('d-cancelar-motivo');
  const reason = $('d-cancelar-razon');
  const error = $('d-cancelar-error');
  error.hidden = true;
  reason.value = '';
  const sync = () => {
    $('d-cancelar-obligatoria').hidden = motive.value !== 'R5';
    reason.required = motive.value === 'R5';
  };
  motive.onchange = sync;
  sync();
  d.querySelector('.close').onclick = () => d.close();
  $('d-cancelar-ok').onclick = (e) => {
    if (motive.value === 'R5' && !reason.value.trim()) {
      e.preventDefault();
      error.textContent = 'Con el motivo R5 (Otro) explique la razón de la cancelación.';
      error.hidden = false;
      reason.focus();
    }
  };
  d.onclose = async () => {
    if (d.returnValue !== 'ok') return;
    await cancel(rows, motive.value, reason.value.trim());
  };
  d.returnValue = '';
  d.showModal();
}

function openBulkDialog() {
  const d = $('d-bloque');
  const rows = selectedRows();
  $('d-bloque-cuantos').textContent = `Se aplicará a ${plural(rows.length, 'alumno seleccionado', 'alumnos seleccionados')}.`;
  const pick = $('d-bloque-materia');
  pick.replaceChildren(el('option', { value: '' }, 'Cargando materias…'));
  loadSubjects(pick, rows);
  options($('d-bloque-observacion'), OBSERVACIONES);
  $('d-bloque-error').hidden = true;
  d.querySelector('.close').onclick = () => d.close();
  $('d-bloque-ok').onclick = (e) => {
    const value = $('d-bloque-calificacion').value.trim();
    const ciclo = $('d-bloque-ciclo').value.trim();
    if (!pick.value || !value || !ciclo) {
      e.preventDefault();
      $('d-bloque-error').textContent = 'Indique la materia, la calificación y el ciclo en que se cursó.';
      $('d-bloque-error').hidden = false;
    }
  };
  d.onclose = async () => {
    if (d.returnValue !== 'ok') return;
    const grade = {
      subjectClave: pick.value,
      value: $('d-bloque-calificacion').value.trim(),
      ciclo: $('d-bloque-ciclo').value.trim(),
      observacion: $('d-bloque-observacion').value,
    };
    const students = rows.map((r) => r.matricula);
    await bulkGrades(students, grade);
  };
  d.returnValue = '';
  d.showModal();
}

/** The subjects of the selected students' plans, from one student's "Ver datos" per plan. */
async function loadSubjects(pick, rows) {
  const byPlan = new Map();
  for (const r of rows) if (!byPlan.has(r.planId)) byPlan.set(r.planId, r.matricula);
  const subjects = new Map();
  try {
    for (const matricula of byPlan.values()) {
      const s = await call(cyclePath('students', matricula));
      for (const m of s.subjects) subjects.set(m.clave, m.nombre);
    }
    pick.replaceChildren(
      el('option', { value: '' }, 'Seleccione una materia'),
      ...[...subjects].map(([clave, nombre]) => el('option', { value: clave }, `${clave} — ${nombre}`)),
    );
  } catch (e) {
    pick.replaceChildren(el('option', { value: '' }, e.message));
  }
}

async function preview() {
  const [row] = selectedRows();
  try {
    const response = await call(cyclePath('certificates', 'preview'), { method: 'POST', body: { student: row.matricula }, raw: true, headers: { accept: 'application/pdf' } });
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: `vista-previa-${row.matricula}.pdf` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (e) {
    message(e instanceof ApiError && Array.isArray(e.problems) ? `${e.message}: ${e.problems.map((p) => p.detail ?? p).join('; ')}` : e.message);
  }
}

/**
 * The cycle's zip: XML and PDF of timbrados and sellados, or XML only. A
 * large cycle's zip is a job on the server: its progress is followed, and
 * its link asked for once it is ready.
 */
async function downloadAll(format) {
  document.querySelector('.menu').open = false;
  notice('Preparando el archivo; puede tardar unos segundos…', true);
  try {
    const body = format === 'xml' ? { format: 'xml' } : { format: 'xml+pdf', statuses: ['timbrado', 'sellado'] };
    let answer = await call(cyclePath('certificates', 'download'), { method: 'POST', body });
    if (answer.job) {
      const path = jobPath(answer.job);
      const count = plural(answer.job.total, 'certificado', 'certificados');
      notice(`Preparando el archivo de ${count}; puede tardar unos minutos. Le avisaremos también por correo cuando esté listo.`, true);
      const job = await follow(path, () => {});
      if (job.status !== 'terminado') {
        throw new Error('No se pudo preparar el archivo. Intente de nuevo; si el problema continúa, avise a soporte.');
      }
      answer = await call(`${path}/download`);
    }
    notice(`Archivo listo: ${plural(answer.certificates, 'certificado', 'certificados')}.`, true);
    location.assign(answer.url);
  } catch (e) {
    notice(e.message);
  }
}

async function exportCsv() {
  const q = state.query;
  try {
    const rows = await everyRow(q);
    const text = toCsv(
      ['Matrícula', 'Nombre', 'Grupo', 'Plan', 'Estado', 'Fecha de emisión', 'Folio de control', 'Folio digital', 'Calificaciones editadas'],
      rows.map((r) => [
        r.matricula,
        r.name,
        r.group,
        r.planId,
        STATUS_LABELS[r.status] || r.status,
        r.certificate ? date(r.certificate.issueDate) : '',
        r.certificate?.folioControl ?? '',
        r.certificate?.folioDigital ?? '',
        r.gradesEdited ? 'Sí' : 'No',
      ]),
    );
    download(`alumnos-${q.escuela}-${q.ciclo}.csv`, text);
  } catch (e) {
    notice(e.message);
  }
}

async function selectEveryMatch() {
  const button = $('a-seleccionar-filtro');
  button.disabled = true;
  try {
    for (const r of await everyRow(state.query)) state.selected.set(r.matricula, r);
    render();
  } catch (e) {
    notice(e.message);
  } finally {
    button.disabled = false;
  }
}

function wire() {
  $('filtros').addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  $('f-escuela').addEventListener('change', () => loadSchoolChoices().catch((e) => notice(e.message)));
  $('f-plan').addEventListener('change', updatePreview);
  for (const r of document.querySelectorAll('input[name=vista]')) {
    r.addEventListener('change', () => {
      $('f-estado').value = r.value;
      load();
    });
  }
  $('f-grupo').addEventListener('change', () => load());
  let typing;
  $('f-buscar').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(load, 350);
  });
  $('todos').addEventListener('change', (e) => {
    for (const row of state.rows) {
      if (e.target.checked) state.selected.set(row.matricula, row);
      else state.selected.delete(row.matricula);
    }
    render();
  });
  $('a-seleccionar-filtro').addEventListener('click', selectEveryMatch);
  $('anterior').addEventListener('click', () => loadPage(state.back.pop() ?? null));
  $('siguiente').addEventListener('click', () => {
    state.back.push(state.cursor);
    loadPage(state.next);
  });
  $('a-generar').addEventListener('click', openIssueDialog);
  $('a-cancelar').addEventListener('click', openCancelDialog);
  $('a-bloque').addEventListener('click', openBulkDialog);
  $('a-correo').addEventListener('click', () => email(selectedRows().filter((r) => r.status === 'timbrado')));
  $('a-vista-previa').addEventListener('click', preview);
  $('a-descargar').addEventListener('click', () => downloadAll('xml+pdf'));
  $('a-descargar-xml').addEventListener('click', () => downloadAll('xml'));
  $('a-csv').addEventListener('click', exportCsv);
  $('salir').addEventListener('click', signOut);
}

async function boot() {
  adoptTokenFromAddress();
  const s = session();
  if (!s) {
    await signIn();
    return;
  }
  state.perms = permissions(s.claims);
  $('usuario').textContent = s.claims.email || s.claims.sub;
  wire();
  try {
    const answer = await call('/schools');
    state.institution = answer.institution;
    state.schools = answer.schools;
    $('institucion').textContent = answer.institution?.name ?? '';
    if (answer.schools.length === 0) {
      notice('Su usuario no tiene permiso de certificación en ninguna escuela. Pida acceso al administrador.');
      return;
    }
    const keep = saved() ?? {};
    options($('f-escuela'), answer.schools.map((x) => [x.id, x.name]), { keep: keep.escuela });
    await loadSchoolChoices(keep);
    if (keep.escuela === $('f-escuela').value && keep.ciclo === $('f-ciclo').value) {
      for (const [id, key] of [['f-estado', 'estado'], ['f-desde', 'desde'], ['f-hasta', 'hasta'], ['f-buscar', 'buscar']]) {
        if (keep[key] !== undefined) $(id).value = keep[key];
      }
      if (keep.grupo) options($('f-grupo'), [[keep.grupo, keep.grupo]], { keep: keep.grupo, empty: 'Todos los grupos' });
      await load();
    }
  } catch (e) {
    notice(e.message);
  }
}

boot();
