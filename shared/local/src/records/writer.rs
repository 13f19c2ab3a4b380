//! Group commit: one thread owns the write connection and commits the writes
//! that arrived while the previous commit was on disk together, each in its
//! own savepoint, with one fsync for all. A write that fails rolls back to
//! its savepoint alone; a caller hears back only once its group is durable
//! (or refused), so the guarantees are those of one transaction per write.

use super::{Cached, unavailable};
use certifica_core::ports::{StoreError, StoreResult};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use tokio::sync::oneshot;

/// At most this many writes share one commit, so a long queue still
/// answers its first callers soon.
const GROUP_LIMIT: usize = 64;

/// One write waiting for the writer thread.
trait PendingWrite: Send {
    /// Runs the write inside the open transaction, in its own savepoint;
    /// `false` when the transaction itself is no longer usable.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Tells the caller its outcome once the group's commit is known.
    fn answer(self: Box<Self>, committed: StoreResult<()>);
}

struct Pending<F, T> {
    write: Option<F>,
    outcome: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<F, T> PendingWrite for Pending<F, T>
where
    F: FnOnce(&Connection) -> StoreResult<T> + Send,
    T: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(write) = self.write.take() else { return true };
        if let Err(e) = conn.run("SAVEPOINT one_write", []) {
            self.outcome = Some(Err(unavailable(e)));
            return false;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| write(conn)))
            .unwrap_or_else(|_| Err(unavailable("la escritura falló de forma inesperada")));
        let closed = match &outcome {
            Ok(_) => conn.run("RELEASE one_write", []),
            Err(_) => conn.run("ROLLBACK TO one_write", []).and_then(|_| conn.run("RELEASE one_write", [])),
        };
        self.outcome = Some(outcome);
        closed.is_ok()
    }

    fn answer(self: Box<Self>, committed: StoreResult<()>) {
        let outcome = match (committed, self.outcome) {
            // A write's own refusal stands whatever happened to the group.
            (_, Some(Err(e))) => Err(e),
            (Err(e), _) => Err(e),
            (Ok(()), Some(ok)) => ok,
            (Ok(()), None) => Err(unavailable("la escritura no se ejecutó")),
        };
        // The caller may have gone (its request was dropped): nothing to tell.
        let _ = self.reply.send(outcome);
    }
}

/// The handle the store's clones share; the thread ends with the last one.
#[derive(Clone)]
pub(super) struct Writer {
    queue: Sender<Box<dyn PendingWrite>>,
}

impl Writer {
    pub(super) fn start(conn: Connection) -> StoreResult<Self> {
        let (queue, writes) = channel();
        std::thread::Builder::new()
            .name("certifica-sqlite-writer".into())
            .spawn(move || write_groups(conn, writes))
            .map_err(unavailable)?;
        Ok(Writer { queue })
    }

    /// Runs `f` in the next group's transaction and answers once it is committed.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        let pending = Box::new(Pending { write: Some(f), outcome: None, reply });
        self.queue.send(pending).map_err(|_| unavailable("el escritor de la base de datos se detuvo"))?;
        answer.await.map_err(|_| unavailable("el escritor de la base de datos se detuvo"))?
    }
}

fn write_groups(conn: Connection, writes: Receiver<Box<dyn PendingWrite>>) {
    while let Ok(first) = writes.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_LIMIT {
            match writes.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let committed = commit_group(&conn, &mut group);
        if committed.is_err() {
            // Nothing of the group stays; a failed BEGIN leaves nothing to roll back.
            let _ = conn.execute_batch("ROLLBACK");
        }
        for pending in group {
            pending.answer(committed.clone());
        }
    }
}

fn commit_group(conn: &Connection, group: &mut [Box<dyn PendingWrite>]) -> StoreResult<()> {
    conn.run("BEGIN IMMEDIATE", []).map_err(unavailable)?;
    for pending in group.iter_mut() {
        if !pending.run(conn) {
            return Err(StoreError::Unavailable("la transacción de la base de datos se interrumpió".into()));
        }
    }
    conn.run("COMMIT", []).map(|_| ()).map_err(unavailable)
}
