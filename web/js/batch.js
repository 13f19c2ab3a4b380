// Work on a selection of any size: sent in chunks of the API's batch size,
// with a progress bar, then a summary per student and "Reintentar los
// fallidos". Each chunk carries its own Idempotency-Key, reused when it is
// sent again after a lost answer, so nothing is ever done twice.
import { ApiError, idempotencyKey } from './api.js';
import { OUTCOME_LABELS, el, plural } from './format.js';

/** Students per request (the API refuses more than this per call). */
export const BATCH_SIZE = 50;

const dialog = () => document.getElementById('d-progreso');

/** `list` in chunks of `size`, none smaller than `min` when the list is not. */
export function chunks(list, size, min = 1) {
  const out = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  const last = out.at(-1);
  if (out.length > 1 && last.length < min) {
    const before = out.at(-2);
    last.unshift(...before.splice(before.length - (min - last.length)));
  }
  return out;
}

function transient(e) {
  return e instanceof ApiError && (e.status === 0 || e.status >= 500 || e.code === 'solicitud_en_proceso');
}

async function sendWithRetries(send, chunk, key) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send(chunk, key);
    } catch (e) {
      if (!transient(e) || attempt >= 3) throw e;
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}

/**
 * Runs `send(chunk, idempotencyKey)` over `students` a chunk at a time.
 * `send` answers one result per student: `{matricula, outcome, detail}`,
 * where `outcome` is one of OUTCOME_LABELS' keys. `failed(result)` says
 * which results "Reintentar los fallidos" sends again. Resolves with every
 * result when the user closes the dialog.
 */
export function runBatch({ title, verb, students, send, failed, minChunk = 1 }) {
  const d = dialog();
  const bar = document.getElementById('d-progreso-barra');
  const text = document.getElementById('d-progreso-texto');
  const summary = document.getElementById('d-progreso-resumen');
  const rows = document.getElementById('d-progreso-filas');
  const close = document.getElementById('d-progreso-cerrar');
  const retry = document.getElementById('d-progreso-reintentar');
  document.getElementById('d-progreso-t').textContent = title;

  return new Promise((resolve) => {
    let all = [];
    const run = async (list) => {
      summary.hidden = true;
      retry.hidden = true;
      close.disabled = true;
      bar.max = list.length;
      bar.value = 0;
      const results = [];
      let stop = null;
      let done = 0;
      for (const chunk of chunks(list, BATCH_SIZE, minChunk)) {
        text.textContent = `${verb}: ${done} de ${list.length}`;
        if (stop) {
          results.push(...chunk.map((m) => ({ matricula: m, outcome: 'fallo', detail: stop })));
          continue;
        }
        try {
          results.push(...(await sendWithRetries(send, chunk, idempotencyKey())));
        } catch (e) {
          const detail = e instanceof ApiError ? e.message : 'Error inesperado; intente de nuevo.';
          results.push(...chunk.map((m) => ({ matricula: m, outcome: 'fallo', detail })));
          // A refusal of the request itself (a bad date, no permission) refuses every chunk alike.
          if (!transient(e)) stop = detail;
        }
        done += chunk.length;
        bar.value = done;
      }
      text.textContent = `${verb}: ${list.length} de ${list.length}`;
      // Results of a retry replace the earlier ones of the same students.
      const again = new Set(results.map((r) => r.matricula));
      all = [...all.filter((r) => !again.has(r.matricula)), ...results];
      show(all);
    };
    const show = (results) => {
      const counts = {};
      for (const r of results) counts[r.outcome] = (counts[r.outcome] || 0) + 1;
      document.getElementById('d-progreso-conteos').textContent = Object.entries(counts)
        .map(([k, n]) => `${OUTCOME_LABELS[k] || k}: ${n.toLocaleString('es-MX')}`)
        .join(' · ');
      rows.replaceChildren(
        ...results.map((r) =>
          el('tr', {}, el('td', {}, r.matricula), el('td', {}, OUTCOME_LABELS[r.outcome] || r.outcome), el('td', {}, r.detail || '')),
        ),
      );
      summary.hidden = false;
      const failing = results.filter(failed);
      retry.hidden = failing.length === 0;
      retry.textContent = `Reintentar los fallidos (${plural(failing.length, 'alumno', 'alumnos')})`;
      retry.onclick = () => run(failing.map((r) => r.matricula));
      close.disabled = false;
      close.focus();
    };
    // Escape does not close it while work is under way.
    d.oncancel = (e) => {
      if (close.disabled) e.preventDefault();
    };
    close.onclick = () => {
      d.close();
      resolve(all);
    };
    d.showModal();
    run(students);
  });
}
