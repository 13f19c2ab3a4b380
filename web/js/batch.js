// Work on a selection of any size, with a progress bar, then a summary per
// student and "Reintentar los fallidos". Up to the API's batch size it is
// one request; above it, when the action has a job form, one request
// queues a job on the server (it goes on even if the tab is closed) whose
// progress is read back; otherwise the selection is sent in chunks. Each
// request carries its own Idempotency-Key, reused when it is sent again
// after a lost answer, so nothing is ever done twice.
import { ApiError, call, idempotencyKey } from './api.js';
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

const FINISHED = ['terminado', 'fallido', 'cancelado'];
const JOB_POLL_MS = 1000;
const RESULTS_PAGE = 500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A per-student issue result (inline or a job's) as the summary shows it. */
export function jobResult(r) {
  const detail = r.folioDigital ? `Folio digital ${r.folioDigital}` : (r.problems || []).map((p) => p.detail).join('; ');
  return { matricula: r.matricula, outcome: r.status, detail };
}

/** The path (under /v1, as every path `call` takes) of a job the API answered. */
export function jobPath(job) {
  return job.url.replace(/^\/v1/, '');
}

/** Follows the job at `path` until it ends, moving `progress(done, total, status)`; answers the job. */
export async function follow(path, progress) {
  let failures = 0;
  for (;;) {
    try {
      const { job } = await call(`${path}?limit=1`);
      failures = 0;
      progress(job.done, job.total, job.status);
      if (FINISHED.includes(job.status)) return job;
    } catch (e) {
      // A passing error (the network, a 5xx) is waited out; the job goes on regardless.
      if (!transient(e) || ++failures > 30) throw e;
    }
    await sleep(JOB_POLL_MS);
  }
}

/** Every result of the job at `path`, page by page. */
async function jobResults(path) {
  const all = [];
  let cursor = null;
  do {
    const query = `?limit=${RESULTS_PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await sendWithRetries(() => call(path + query), null, null);
    all.push(...page.results.map(jobResult));
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/**
 * Runs `send(chunk, idempotencyKey)` over `students` a chunk at a time —
 * or, above the batch size and when `queue(students, idempotencyKey)` is
 * given, queues them as one job (`queue` answers the API's 202 body).
 * `send` answers one result per student: `{matricula, outcome, detail}`,
 * where `outcome` is one of OUTCOME_LABELS' keys. `failed(result)` says
 * which results "Reintentar los fallidos" sends again. Resolves with every
 * result when the user closes the dialog.
 */
export function runBatch({ title, verb, students, send, failed, minChunk = 1, queue = null }) {
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
      if (queue && list.length > BATCH_SIZE) {
        results.push(...(await asJob(list)));
        finish(list, results);
        return;
      }
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
      finish(list, results);
    };
    // Results of a retry replace the earlier ones of the same students.
    const finish = (list, results) => {
      const again = new Set(results.map((r) => r.matricula));
      all = [...all.filter((r) => !again.has(r.matricula)), ...results];
      show(all);
    };
    // One request queues the whole selection; the server works it.
    const asJob = async (list) => {
      const everyone = (detail) => list.map((m) => ({ matricula: m, outcome: 'fallo', detail }));
      text.textContent = `${verb}: preparando el trabajo de ${plural(list.length, 'alumno', 'alumnos')}…`;
      let accepted;
      try {
        accepted = await sendWithRetries(queue, list, idempotencyKey());
      } catch (e) {
        return everyone(e instanceof ApiError ? e.message : 'Error inesperado; intente de nuevo.');
      }
      const path = jobPath(accepted.job);
      try {
        const job = await follow(path, (done, total, status) => {
          bar.max = total;
          bar.value = done;
          const waiting = status === 'en_cola' ? ' (en cola)' : '';
          text.textContent = `${verb}: ${done.toLocaleString('es-MX')} de ${total.toLocaleString('es-MX')}${waiting}. El trabajo sigue en el servidor aunque cierre esta ventana.`;
        });
        const results = await jobResults(path);
        const recorded = new Set(results.map((r) => r.matricula));
        // A cancelled job leaves students without a result: nothing was done to them.
        const untouched = list.filter((m) => !recorded.has(m));
        const why = job.status === 'cancelado' ? 'El trabajo se canceló antes de llegar a este alumno.' : 'Sin resultado del trabajo.';
        text.textContent = `${verb}: ${job.done.toLocaleString('es-MX')} de ${job.total.toLocaleString('es-MX')}`;
        return [...results, ...untouched.map((m) => ({ matricula: m, outcome: 'fallo', detail: why }))];
      } catch (e) {
        const detail = e instanceof ApiError ? e.message : 'Error inesperado';
        return everyone(`No se pudo leer el avance del trabajo (${detail}); el trabajo sigue en el servidor: vuelva a abrir el ciclo más tarde.`);
      }
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
