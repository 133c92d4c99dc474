//! The `journal-checkpoint` thread: copies the WAL into the database file
//! off the commit path, and starts the WAL over before it grows without
//! bound.
//!
//! Owns its own connection and nothing else: it must not write rows, and it
//! must never hold the writer up for longer than [`RESTART_WAIT`].

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{io, sqlite, BUSY_TIMEOUT};
use crate::journal::{Durability, JournalError};

/// How often the checkpointer copies the WAL into the database file. Off
/// the commit path: with SQLite's automatic checkpoints, the committing
/// connection (the bus dispatcher) would pay for them.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL size (frames, i.e. pages: 256 MiB) past which the checkpointer
/// starts the WAL over. Under a steady stream of commits a passive
/// checkpoint never copies the last frames, and SQLite reuses the WAL from
/// its start only once one has: without a restart the file grows without
/// bound. A restart holds commits up while it copies the last frames and
/// syncs the database (a few to 50 ms on a busy disk), so it is kept rare.
/// The default of [`super::SqliteOptions::checkpoint_restart_pages`]
pub(crate) const CHECKPOINT_RESTART_PAGES: i64 = 65_536;
/// Frames left to copy below which the restart is tried.
const CHECKPOINT_RESTART_BACKLOG: i64 = 1_024;
/// How long a restart waits for a commit in progress to end (and for
/// readers to move on, holding commits up meanwhile) before giving up.
const RESTART_WAIT: Duration = Duration::from_millis(10);
/// Passive rounds in a row, at most, to bring the backlog down first.
const CHECKPOINT_CATCH_UP_ROUNDS: usize = 8;
/// The WAL file's size past which a restart also truncates it (SQLite's
/// `journal_size_limit`): a WAL grown past the restart point during a long
/// read (a compaction's replay keeps frames from being copied) gives the
/// space back. The default of [`super::SqliteOptions::wal_size_limit`].
pub(crate) const WAL_SIZE_LIMIT: i64 = 320 << 20;

/// The `journal-checkpoint` thread: its own connection runs a passive
/// checkpoint every [`CHECKPOINT_EVERY`], which never blocks the writer.
/// When the WAL has grown past `restart_pages`
/// ([`CHECKPOINT_RESTART_PAGES`] by default), it catches up
/// with further passive rounds and then restarts the WAL, waiting at most
/// [`RESTART_WAIT`]: a restart that waits (for a long read such as a
/// compaction's replay) holds up every commit meanwhile, so it gives up
/// soon and tries again next round.
pub(super) struct Checkpointer {
    /// Dropped to stop the thread: the disconnection ends its wait, and it
    /// runs a last truncating checkpoint before returning.
    stop: Option<crossbeam_channel::Sender<()>>,
    /// The thread, joined on drop.
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often a checkpoint that keeps failing is logged again.
const FAILURE_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Checkpointer {
    /// Starts the thread on a connection of its own to `path`.
    pub(super) fn start(
        path: &Path,
        durability: Durability,
        restart_pages: i64,
    ) -> Result<Checkpointer, JournalError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite("opening the checkpointer's connection"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sqlite("setting up the checkpointer's connection"))?;
        let sync = if durability == Durability::Full {
            "FULL"
        } else {
            "NORMAL"
        };
        conn.execute_batch(&format!("PRAGMA synchronous = {sync};"))
            .map_err(sqlite("setting up the checkpointer's connection"))?;
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        let name = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("journal-checkpoint".into())
            .spawn(move || {
                // A disk that cannot be written fails every round: say so
                // when it starts, then once a minute, and when it ends.
                let mut failing: Option<std::time::Instant> = None;
                loop {
                    let last = !matches!(
                        rx.recv_timeout(CHECKPOINT_EVERY),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout)
                    );
                    if last {
                        if let Err(e) = checkpoint(&conn, "TRUNCATE") {
                            log::warn!("{name}: checkpoint failed: {e}");
                        }
                        return;
                    }
                    match checkpoint_round(&conn, restart_pages) {
                        Ok(()) => {
                            if failing.take().is_some() {
                                log::info!("{name}: checkpoints succeed again");
                            }
                        }
                        Err(e) => {
                            let due = failing.is_none_or(|at| at.elapsed() >= FAILURE_LOG_EVERY);
                            if due {
                                log::warn!("{name}: checkpoint failed: {e}");
                                failing = Some(std::time::Instant::now());
                            }
                        }
                    }
                }
            })
            .map_err(io("starting the checkpoint thread"))?;
        Ok(Checkpointer {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

/// Runs `PRAGMA wal_checkpoint(mode)`: (busy, frames in the WAL, frames
/// copied to the database).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(bool, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?))
    })
}

/// One turn of the checkpointer (see [`Checkpointer`]).
fn checkpoint_round(conn: &Connection, restart_pages: i64) -> rusqlite::Result<()> {
    let (_, mut wal, mut copied) = checkpoint(conn, "PASSIVE")?;
    if wal <= restart_pages {
        return Ok(());
    }
    for _ in 0..CHECKPOINT_CATCH_UP_ROUNDS {
        if wal - copied <= CHECKPOINT_RESTART_BACKLOG {
            break;
        }
        (_, wal, copied) = checkpoint(conn, "PASSIVE")?;
    }
    if wal - copied > CHECKPOINT_RESTART_BACKLOG {
        // A reader holds old frames (or commits outpace copying): later.
        return Ok(());
    }
    conn.busy_timeout(RESTART_WAIT)?;
    let restarted = checkpoint(conn, "RESTART");
    conn.busy_timeout(BUSY_TIMEOUT)?;
    match restarted {
        Ok((true, _, _)) => log::debug!("WAL not restarted: in use"),
        Ok(_) => {}
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            log::debug!("WAL not restarted: {e}");
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("the journal checkpointer panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::journal::sqlite::tests::{ev, open, tmp, SMALL};
    use crate::journal::sqlite::DB_FILE;
    use crate::journal::{Durability, Journal};

    #[test]
    fn the_wal_starts_over_while_appends_keep_coming() {
        // Commits keep coming, so a passive checkpoint alone never copies
        // the last frame and the WAL would only grow; the checkpointer must
        // restart it (and the size limit then shrinks the file).
        let dir = tmp("walrestart");
        let j = open(&dir, Durability::Normal);
        let wal = dir.join(format!("{DB_FILE}-wal"));
        let size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        let over = (SMALL.checkpoint_restart_pages as u64) * 4096;
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut seq, mut grew, mut shrank) = (0, false, false);
        while !shrank && Instant::now() < deadline && size() < 64 << 20 {
            seq += 1;
            j.append(&[ev(seq, "a")]).expect("append");
            // Paces the commits as a busy bus does (a group commit every few
            // hundred microseconds), leaving the gaps a restart needs.
            std::thread::sleep(Duration::from_micros(200));
            grew |= size() > over;
            shrank = grew && size() <= SMALL.wal_size_limit as u64;
        }
        assert!(shrank, "WAL at {} bytes after {seq} commits", size());
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
