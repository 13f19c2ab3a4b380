// The product's words and formats (es-MX), and a small DOM builder.

export const STATUS_LABELS = {
  por_certificar: 'Por certificar',
  sellado: 'Sellado',
  timbrado: 'Timbrado',
  error: 'Error en timbrado',
  cancelado: 'Cancelado',
};

export const OUTCOME_LABELS = {
  timbrado: 'Timbrado',
  sellado: 'Sellado',
  rechazado: 'Rechazado',
  omitido: 'Omitido',
  error: 'Error',
  cancelado: 'Cancelado',
  enviado: 'Enviado',
  aplicado: 'Aplicado',
  fallo: 'Sin respuesta',
  fallido: 'Fallido',
};

export const AUDIT_LABELS = {
  sealed: 'Sellado',
  stamped: 'Timbrado',
  stamp_failed: 'Error en timbrado',
  resealed: 'Sellado de nuevo',
  cancelled: 'Cancelado',
  grades_edited: 'Calificaciones editadas',
  data_edited: 'Datos del alumno cambiados',
  emailed: 'Enviado por correo',
  upload_rejected: 'Carga rechazada',
};

/** The observation catalogue (`idObservaciones`): API value → label. */
export const OBSERVACIONES = [
  ['Normal', 'Normal/Ordinario'],
  ['Equivalencia', 'Equivalencia de estudios'],
  ['ExamenExtraordinario', 'Examen extraordinario'],
  ['TituloSuficiencia', 'Examen a título de suficiencia'],
  ['CursoVerano', 'Curso de verano'],
  ['Recursamiento', 'Recursamiento'],
  ['Reingreso', 'Reingreso'],
  ['AcuerdoRegularizacion', 'Acuerdo de regularización'],
  ['CambioAcuerdoRvoe', 'Cambio en el acuerdo de RVOE'],
  ['Revalidacion', 'Revalidación de estudios'],
  ['CorrespondenciaPlan', 'Correspondencia por plan'],
  ['Exento', 'Exento'],
];

const dateFormat = new Intl.DateTimeFormat('es-MX', { day: '2-digit', month: '2-digit', year: 'numeric', timeZone: 'UTC' });
const longDate = new Intl.DateTimeFormat('es-MX', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
const dateTime = new Intl.DateTimeFormat('es-MX', {
  dateStyle: 'medium',
  timeStyle: 'short',
  timeZone: 'America/Mexico_City',
});

/** `2026-07-15` → `15/07/2026`. */
export function date(text) {
  if (!text) return '';
  const d = new Date(`${text.slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? text : dateFormat.format(d);
}

/** `2026-07-15` → `15 de julio de 2026`. */
export function longDateOf(text) {
  if (!text) return '';
  const d = new Date(`${text.slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? text : longDate.format(d);
}

/** A timestamp in Mexico City time. */
export function when(text) {
  if (!text) return '';
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? text : dateTime.format(d);
}

/** Today in Mexico City as `AAAA-MM-DD`: the default issue date. */
export function todayInMexico() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Mexico_City' }).format(new Date());
}

/**
 * `el('td', {class: 'x', onclick}, child…)`: an element with attributes,
 * listeners and children (text is always text, never HTML).
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function badge(status) {
  return el('span', { class: `badge ${status}` }, STATUS_LABELS[status] || status);
}

/** "1 alumno" / "3 alumnos". */
export function plural(n, one, many) {
  return `${n.toLocaleString('es-MX')} ${n === 1 ? one : many}`;
}
