// The public verification page the QR code opens: folio → válido,
// cancelado or desconocido, with the issuer and the holder partly masked.
import { call, path } from './api.js';
import { el, longDateOf, when } from './format.js';

const $ = (id) => document.getElementById(id);

function verdict(kind, title, text, rows) {
  return el(
    'div',
    { class: `verdict ${kind}` },
    el('h2', {}, title),
    text ? el('p', {}, text) : null,
    rows.length ? el('dl', { class: 'details' }, rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])) : null,
  );
}

async function show(folio) {
  const out = $('resultado');
  let answer;
  try {
    answer = await call(path('verify', folio), { auth: false });
  } catch (e) {
    if (e.status === 404) {
      out.replaceChildren(
        verdict('desconocido', 'Folio desconocido', 'No existe un certificado timbrado con este folio digital. Revise que lo haya escrito completo.', [
          ['Folio digital', folio],
        ]),
      );
    } else {
      out.replaceChildren(el('p', { class: 'error', role: 'alert' }, e.message));
    }
    return;
  }
  const status = answer.estado ?? answer.status;
  const rows = [
    ['Folio digital', answer.folioDigital],
    ['Institución', answer.institution ?? '—'],
    ['Escuela', answer.school ?? '—'],
    ['Titular', answer.holder ?? '—'],
    ['Fecha de expedición', longDateOf(answer.issueDate)],
  ];
  if (status === 'valido') {
    out.replaceChildren(verdict('valido', 'Certificado válido', 'El certificado fue timbrado y está vigente.', rows));
  } else if (status === 'cancelado') {
    rows.push(['Cancelado el', when(answer.cancelledAt)]);
    out.replaceChildren(verdict('cancelado', 'Certificado cancelado', 'Este certificado fue cancelado por la institución y ya no es válido.', rows));
  } else {
    out.replaceChildren(verdict('desconocido', 'Folio desconocido', 'No hay un certificado timbrado con este folio digital.', rows.slice(0, 1)));
  }
}

const folio = new URLSearchParams(location.search).get('folio')?.trim();
if (folio) {
  show(folio);
} else {
  $('resultado').replaceChildren(el('p', {}, 'Escriba el folio digital impreso en el certificado.'));
}
$('buscar').hidden = false;
if (folio) $('folio').value = folio;
$('buscar').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = $('folio').value.trim();
  if (value) {
    history.replaceState(null, '', `?folio=${encodeURIComponent(value)}`);
    show(value);
  }
});
