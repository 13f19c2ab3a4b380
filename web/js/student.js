// "Ver datos": a student's personal data, credits, average, approved and
// failed subjects, every subject with its grade, the certificate with its
// history and audit trail — and, for users who may, grade editing (checked
// against the version read, so a concurrent change is never overwritten).
import { ApiError, call, path } from './api.js';
import { AUDIT_LABELS, OBSERVACIONES, STATUS_LABELS, badge, date, el, longDateOf, when } from './format.js';

const dialog = () => document.getElementById('d-alumno');

function fact(label, value, wide = false) {
  return el('div', { class: wide ? 'wide' : null }, el('dt', {}, label), el('dd', {}, value ?? '—'));
}

function certificateSection(c) {
  if (!c) return el('p', {}, 'El alumno aún no tiene certificado en este ciclo.');
  const facts = [
    fact('Estado', badge(c.status)),
    fact('Folio de control', c.folioControl),
    fact('Folio digital', c.folioDigital || '—'),
    fact('Fecha de emisión', longDateOf(c.issueDate)),
  ];
  if (c.stampedAt) facts.push(fact('Timbrado el', when(c.stampedAt)));
  const parts = [el('dl', { class: 'facts' }, facts)];
  if (c.gradesEdited) parts.push(el('p', { class: 'edited' }, 'Calificaciones editadas en este proceso de certificación'));
  if (c.lastError) parts.push(el('p', { class: 'authority-error' }, `Mensaje de la autoridad: ${c.lastError}`));
  if (c.cancellation) {
    const x = c.cancellation;
    parts.push(
      el('p', {}, `Cancelado el ${when(x.at)} por ${x.by}: ${x.motive} ${x.motiveLabel}${x.reason ? ` — ${x.reason}` : ''}`),
    );
  }
  return el('div', {}, parts);
}

/**
 * Opens "Ver datos" for `matricula`. `canEdit`: the user holds the editing
 * permission; `onChanged` runs after grades were saved.
 */
export async function openStudent({ school, cycle, matricula, canEdit, onChanged }) {
  const d = dialog();
  const body = document.getElementById('d-alumno-cuerpo');
  body.replaceChildren(el('p', {}, 'Cargando…'));
  d.querySelector('.close').onclick = () => d.close();
  d.showModal();
  let s;
  try {
    s = await call(path('schools', school, 'cycles', cycle, 'students', matricula));
  } catch (e) {
    body.replaceChildren(el('p', { class: 'error', role: 'alert' }, e.message));
    return;
  }
  document.getElementById('d-alumno-t').textContent = `Ver datos — ${s.name} (${s.matricula})`;
  // A certificate the authority refused (Error) is corrected here, then retried: it is sealed again from these grades.
  const editable = canEdit && (!s.certificate || ['cancelado', 'error'].includes(s.certificate.status));
  const facts = el(
    'dl',
    { class: 'facts' },
    fact('Género', s.gender),
    fact('Créditos obtenidos', s.creditsObtained != null ? `${s.creditsObtained} de ${s.creditsTotal}` : null),
    fact('Promedio general', s.average),
    fact('Materias aprobadas', s.approved),
    fact('Materias reprobadas', s.failed),
    fact('CURP', s.curp || 'Sin CURP', true),
    fact('Fecha de nacimiento', date(s.birthDate)),
    fact('Grupo', s.group),
    fact('Plan de estudios', s.planId),
    fact('Correo personal', s.emailPersonal, true),
    fact('Correo institucional', s.emailInstitucional, true),
  );
  const inputs = new Map();
  const subjects = el(
    'table',
    {},
    el('caption', { class: 'visually-hidden' }, 'Materias con su calificación'),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        ['Clave', 'Materia', 'Calificación', 'Ciclo', 'Observación', 'Resultado'].map((h) => el('th', { scope: 'col' }, h)),
      ),
    ),
    el(
      'tbody',
      {},
      s.subjects.map((m) => {
        const result = m.grade == null ? 'Sin calificación' : m.approved ? 'Aprobada' : 'Reprobada';
        if (!editable) {
          return el(
            'tr',
            {},
            el('td', {}, m.clave),
            el('td', {}, m.nombre, m.configured ? null : el('div', { class: 'sub error' }, 'Sin configuración de certificación')),
            el('td', {}, m.grade ?? '—'),
            el('td', {}, m.ciclo ?? '—'),
            el('td', {}, m.observacion ?? '—'),
            el('td', {}, result),
          );
        }
        const grade = el('input', { class: 'grade-input', inputmode: 'decimal', value: m.grade ?? '', 'aria-label': `Calificación de ${m.nombre}` });
        const ciclo = el('input', { class: 'grade-input', value: m.ciclo ?? '', 'aria-label': `Ciclo de ${m.nombre}` });
        const obs = el(
          'select',
          { 'aria-label': `Observación de ${m.nombre}` },
          OBSERVACIONES.map(([v, label]) => el('option', { value: v, selected: (m.observacionCode || 'Normal') === v }, label)),
        );
        inputs.set(m.clave, { grade, ciclo, obs });
        return el('tr', {}, el('td', {}, m.clave), el('td', {}, m.nombre), el('td', {}, grade), el('td', {}, ciclo), el('td', {}, obs), el('td', {}, result));
      }),
    ),
  );
  const message = el('p', { role: 'status', 'aria-live': 'polite' });
  const parts = [facts, el('h3', {}, 'Materias'), el('div', { class: 'table-wrap' }, subjects)];
  if (s.gradesEdited) parts.push(el('p', { class: 'edited' }, 'Calificaciones editadas en este proceso de certificación'));
  if (editable) {
    const save = el('button', { type: 'button', class: 'primary' }, 'Guardar calificaciones');
    save.onclick = async () => {
      const grades = [];
      for (const [clave, { grade, ciclo, obs }] of inputs) {
        if (!grade.value.trim()) continue;
        grades.push({ subjectClave: clave, value: grade.value.trim(), ciclo: ciclo.value.trim(), observacion: obs.value });
      }
      save.disabled = true;
      message.className = '';
      message.textContent = 'Guardando…';
      try {
        await call(path('schools', school, 'cycles', cycle, 'students', matricula, 'grades'), {
          method: 'PUT',
          body: { version: s.version, grades },
        });
        message.textContent = 'Calificaciones guardadas.';
        onChanged?.();
        await openStudent({ school, cycle, matricula, canEdit, onChanged });
      } catch (e) {
        message.className = 'error';
        const extra = e instanceof ApiError && Array.isArray(e.problems) ? ` ${e.problems.join('; ')}` : '';
        message.textContent = e.message + extra;
        save.disabled = false;
      }
    };
    parts.push(el('p', {}, save), message);
    if (s.certificate?.status === 'error') {
      parts.push(el('p', { class: 'sub' }, 'Corrija los datos y use «Reintentar»: el certificado se sella de nuevo con los datos actuales y el mismo folio de control.'));
    }
  } else if (canEdit && s.certificate) {
    parts.push(
      el('p', { class: 'sub' }, `El certificado está ${STATUS_LABELS[s.certificate.status].toLowerCase()}: cancélelo antes de editar las calificaciones.`),
    );
  }
  parts.push(el('h3', {}, 'Certificado'), certificateSection(s.certificate));
  if (s.history.length > 1) {
    parts.push(
      el('h3', {}, 'Historial de certificados'),
      el(
        'ul',
        { class: 'history' },
        s.history.map((c) => el('li', {}, `${c.folioControl}: ${STATUS_LABELS[c.status]} (${date(c.issueDate)})`)),
      ),
    );
  }
  parts.push(
    el('h3', {}, 'Bitácora'),
    s.audit.length
      ? el(
          'ul',
          { class: 'audit' },
          s.audit.map((a) => el('li', {}, `${when(a.at)} — ${AUDIT_LABELS[a.action] || a.action} por ${a.by}${a.detail ? `: ${a.detail}` : ''}`)),
        )
      : el('p', {}, 'Sin movimientos.'),
  );
  body.replaceChildren(...parts);
}
