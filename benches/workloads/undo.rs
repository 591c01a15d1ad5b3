//! W3: undo.
//!
//! W3 (undo) builds two journals: 10,000 entries recorded through recover, and 1,000,000 of
//! which all but the recorded ones are written with plain SQL in recover's format (the undos
//! only ever reach the recorded ones, so no conflict can occur). Each round runs, on both
//! databases, a batch of undos of random entities (each undo in its own transaction, timed on
//! its own) and a batch of recorded updates of random entities (the baseline "one recorded
//! update"); the batch order is reversed every other round. On the large journal, undos of
//! two extra entities are shuffled in among the others, the same number for each: one with a
//! history of 10,000 entries, one with only the changes that get undone.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use recover::Journal;

use crate::harness::sqlite::{SqliteDb, BULK, WAL_NORMAL};
use crate::harness::{
    changed_row, initial_row, median, ops_per_sec, random_updates, short_count, Config, Line, Pair,
    Rng, ROWS,
};
use crate::model::{accounts, Account};

/// Two extra rows, undone the same way (a run of undos down their stacks, shuffled in among
/// the others): one has a long history, the other only the changes that are undone.
const LONG_ID: i32 = ROWS + 1;
const SHORT_ID: i32 = ROWS + 2;

/// A database for the undo measurements, and how many recorded changes each entity has left
/// to undo (so that every undo has something to undo, and none can conflict: every change on
/// top of each stack was recorded through recover).
struct UndoDb {
    db: SqliteDb,
    label: String,
    undoable: Vec<u32>,
    rng: Rng,
    journal: Journal,
}

/// The time of one batch of W3 operations, per kind.
#[derive(Default)]
struct Batch {
    /// Undos of random entities of `1..=ROWS`.
    undo: Duration,
    /// Undos of the long-history entity.
    undo_long: Duration,
    /// Undos of the short-history entity.
    undo_short: Duration,
    /// Recorded updates of random entities (the baseline).
    update: Duration,
}

impl UndoDb {
    /// A journal of `total` entries: the filler written with plain SQL in recover's format
    /// (spread over the 1,000 entities, `long_total - extra` of them on the long-history
    /// entity), then, recorded through recover, `recorded` updates of random rows and `extra`
    /// updates of each of the two extra rows.
    fn build(
        label: String,
        total: usize,
        recorded: usize,
        long_total: usize,
        extra: usize,
    ) -> Self {
        let mut db = SqliteDb::create(BULK);
        let conn = &mut db.conn;
        diesel::insert_into(accounts::table)
            .values(&vec![initial_row(LONG_ID), initial_row(SHORT_ID)])
            .execute(conn)
            .expect("insert the extra rows");
        let filler = total - recorded - 2 * extra;
        let long_filler = long_total.saturating_sub(extra).min(filler);
        if filler > 0 {
            // Every `step`-th filler entry (the first `long_filler` of them) belongs to the
            // long-history entity.
            let step = filler
                .checked_div(long_filler)
                .map_or(i64::MAX, |s| s.max(1) as i64);
            let t0 = now_micros() - 3_600_000_000 - filler as i64;
            let image = "'{\"id\":' || k || ',\"owner\":\"owner-' || k || '\",\"balance\":' || n \
                 || ',\"status\":\"open\",\"note\":null}'";
            let sql = format!(
                "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {filler}),
                      e(n, k) AS (SELECT n, CASE WHEN n % {step} = 0 AND n / {step} <= {long_filler}
                                                THEN {LONG_ID} ELSE n % {ROWS} + 1 END FROM s)
                 INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op,
                     before_image, after_image, undoes, undo_next, redo_next, actor, reason,
                     recorded_at)
                 SELECT n, n, 'accounts', CAST(k AS TEXT), 'update', {image}, {image}, NULL, n,
                        NULL, NULL, NULL, {t0} + n
                 FROM e;"
            );
            conn.batch_execute(&sql).expect("bulk journal");
        }
        let journal = Journal::new();
        let mut rng = Rng::new(3);
        let mut updates = random_updates(&mut rng, recorded);
        for i in 0..extra {
            updates.push(changed_row(&mut rng, LONG_ID, i));
            updates.push(changed_row(&mut rng, SHORT_ID, i));
        }
        conn.transaction::<_, recover::Error, _>(|c| {
            for u in &updates {
                journal.update(c, u)?;
            }
            Ok(())
        })
        .expect("record the journal");
        let entries: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
            "(SELECT count(*) FROM recover_journal)",
        ))
        .get_result(conn)
        .expect("count");
        assert_eq!(entries as usize, total, "journal size");
        let mut undoable = vec![0u32; SHORT_ID as usize + 1];
        for u in &updates {
            undoable[u.id as usize] += 1;
        }
        // A fresh connection with the W1 settings and a cold page cache.
        db.reopen(WAL_NORMAL);
        UndoDb {
            db,
            label,
            undoable,
            rng: Rng::new(33),
            journal,
        }
    }

    /// The number of journal entries of an entity.
    fn entries_of(&mut self, id: i32) -> usize {
        let n: i64 = diesel::select(diesel::dsl::sql::<BigInt>(&format!(
            "(SELECT count(*) FROM recover_journal WHERE entity = 'accounts' \
                 AND entity_key = '{id}')"
        )))
        .get_result(&mut self.db.conn)
        .expect("count");
        n as usize
    }

    /// `n` undos of random entities, and `extra` undos of each of the two extra entities
    /// shuffled in among them; each undo in its own transaction and timed on its own.
    fn undo(&mut self, n: usize, extra: usize) -> Batch {
        let mut keys: Vec<i32> = (0..n).map(|_| self.pick_undoable()).collect();
        for id in [LONG_ID, SHORT_ID] {
            let left = &mut self.undoable[id as usize];
            assert!(
                *left as usize >= extra,
                "W3: entity {id} has too few entries"
            );
            *left -= extra as u32;
            keys.resize(keys.len() + extra, id);
        }
        for i in (1..keys.len()).rev() {
            keys.swap(i, self.rng.below(i as u64 + 1) as usize);
        }
        let mut batch = Batch::default();
        let conn = &mut self.db.conn;
        for id in &keys {
            let start = Instant::now();
            self.journal.undo::<Account>(conn, id).expect("undo");
            let t = start.elapsed();
            match *id {
                LONG_ID => batch.undo_long += t,
                SHORT_ID => batch.undo_short += t,
                _ => batch.undo += t,
            }
        }
        batch
    }

    /// `n` recorded updates of random entities, each in its own transaction.
    fn update(&mut self, n: usize) -> Batch {
        let updates = random_updates(&mut self.rng, n);
        let conn = &mut self.db.conn;
        let start = Instant::now();
        for u in &updates {
            self.journal.update(conn, u).expect("recorded update");
        }
        let t = start.elapsed();
        for u in &updates {
            self.undoable[u.id as usize] += 1;
        }
        Batch {
            update: t,
            ..Batch::default()
        }
    }

    /// A random entity of `1..=ROWS` with something left to undo, counted as undone.
    fn pick_undoable(&mut self) -> i32 {
        let mut id = None;
        for _ in 0..10_000 {
            let candidate = self.rng.below(ROWS as u64) as i32 + 1;
            if self.undoable[candidate as usize] > 0 {
                id = Some(candidate);
                break;
            }
        }
        let id = id
            .or_else(|| (1..=ROWS).find(|id| self.undoable[*id as usize] > 0))
            .expect("W3: the journal has nothing left to undo; raise its size");
        self.undoable[id as usize] -= 1;
        id
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

pub fn sqlite_w3(cfg: &Config, lines: &mut Vec<Line>, w1_recorded: Option<f64>) {
    let rounds = cfg.rounds(6);
    let m = cfg.ops(1_000);
    let warm = cfg.ops(100);
    let m_extra = (m / 10).max(1);
    let warm_extra = (warm / 10).max(1);
    let small_total = cfg.ops(10_000);
    let large_total = cfg.ops(1_000_000);
    let long_total = cfg.ops(10_000);
    let extra = rounds * m_extra + warm_extra;

    eprint!("W3: building a journal of {small_total} entries");
    let start = Instant::now();
    let small_label = format!("{} journal", short_count(small_total));
    let mut small = UndoDb::build(small_label, small_total, small_total, 0, 0);
    eprint!(
        " ({:.1} s), of {large_total} entries",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let recorded = small_total.min(large_total - 2 * extra);
    let large_label = format!("{} journal", short_count(large_total));
    let mut large = UndoDb::build(large_label, large_total, recorded, long_total, extra);
    eprintln!(" ({:.1} s)", start.elapsed().as_secs_f64());
    let long_entries = large.entries_of(LONG_ID);
    let short_entries = large.entries_of(SHORT_ID);

    // Per round, the batches run in one order in even rounds and reversed in odd ones.
    #[derive(Clone, Copy)]
    enum Step {
        SmallUndo,
        SmallUpdate,
        LargeUndo,
        LargeUpdate,
    }
    let steps = [
        Step::SmallUndo,
        Step::SmallUpdate,
        Step::LargeUndo,
        Step::LargeUpdate,
    ];
    // Per-operation times, one per round, of: 0 small undo, 1 small update, 2 large undo,
    // 3 long-history undo, 4 short-history undo, 5 large update.
    let mut per_op: [Vec<Duration>; 6] = Default::default();
    eprint!("W3: warm-up");
    small.undo(warm, 0);
    small.update(warm);
    large.undo(warm, warm_extra);
    large.update(warm);
    for r in 0..rounds {
        eprint!(", round {}/{rounds}", r + 1);
        let mut order = steps;
        if r % 2 == 1 {
            order.reverse();
        }
        for step in order {
            match step {
                Step::SmallUndo => per_op[0].push(small.undo(m, 0).undo / m as u32),
                Step::SmallUpdate => per_op[1].push(small.update(m).update / m as u32),
                Step::LargeUndo => {
                    let batch = large.undo(m, m_extra);
                    per_op[2].push(batch.undo / m as u32);
                    per_op[3].push(batch.undo_long / m_extra as u32);
                    per_op[4].push(batch.undo_short / m_extra as u32);
                }
                Step::LargeUpdate => per_op[5].push(large.update(m).update / m as u32),
            }
        }
    }
    eprintln!();

    let pair_line = |workload: String, base: usize, measured: usize, target: f64| {
        let pair = Pair {
            ops: 1,
            bare: per_op[base].clone(),
            recorded: per_op[measured].clone(),
        };
        Line::from_pair(workload, "sqlite", &pair, Some(target))
    };
    lines.push(pair_line(
        format!("W3 undo / recorded update, {}", small.label),
        1,
        0,
        2.5,
    ));
    lines.push(pair_line(
        format!("W3 undo / recorded update, {}", large.label),
        5,
        2,
        2.5,
    ));
    lines.push(pair_line(
        format!("W3 undo {} / undo {}", large.label, small.label),
        0,
        2,
        1.2,
    ));
    lines.push(pair_line(
        format!(
            "W3 undo, entity of {} entries / of {short_entries}",
            short_count(long_entries)
        ),
        4,
        3,
        1.2,
    ));
    if let Some(w1) = w1_recorded {
        for (label, i) in [(&small.label, 0), (&large.label, 2)] {
            let undo = ops_per_sec(1, median(&per_op[i]));
            lines.push(Line {
                workload: format!("W3 undo ({label}) / W1 recorded update"),
                backend: "sqlite",
                bare: w1,
                recorded: undo,
                ratio: w1 / undo,
                spread: None,
                target: Some(2.5),
            });
        }
    }
}
