//! H: history memory.
//!
//! H (history memory) records 100,000 updates of one account (in one transaction), then reads
//! its history back on a fresh connection in three ways: (a) `Journal::history`, every entry
//! in one `Vec`; (b) `Journal::history_page` 1,000 entries at a time, keeping only a running
//! count and sum; (c) the same pages appended to one `Vec` (what (a) returns, built without
//! holding more than one page besides it). For each it reports the peak growth of the process's resident set during the
//! call (VmHWM in /proc/self/status, reset before each call by writing 5 to
//! /proc/self/clear_refs, after `malloc_trim` has handed freed memory back, so the baseline is
//! what is really in use), the peak growth of the Rust heap (counted by this benchmark's
//! global allocator, only during H; SQLite's own allocations are only in the RSS), what is
//! still held when the call has returned, and the size of what (a) returns, computed from the
//! entries themselves. After a warm-up pass, rounds rotate the order of the three; the table
//! shows medians.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use recover::{Entry, Journal};

use crate::harness::sqlite::{SqliteDb, BULK, WAL_NORMAL};
use crate::harness::{changed_row, median, thousands, Config, Rng};
use crate::model::Account;

/// The system allocator, with the Rust heap's live bytes and their peak counted while
/// `HEAP_COUNTING` is on (only during H's measured calls; otherwise one relaxed load per
/// allocation). Requested sizes, without the allocator's own overhead.
struct CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

static HEAP_COUNTING: AtomicBool = AtomicBool::new(false);
static HEAP_LIVE: AtomicIsize = AtomicIsize::new(0);
static HEAP_PEAK: AtomicIsize = AtomicIsize::new(0);

fn heap_grew(delta: isize) {
    if HEAP_COUNTING.load(Ordering::Relaxed) {
        let now = HEAP_LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
        HEAP_PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on to `System` unchanged; the counting only observes sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            heap_grew(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            heap_grew(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        heap_grew(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            heap_grew(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Hands the memory malloc keeps free back to the system, so that the RSS measured next is
/// what is in use and a new allocation shows up as growth.
fn trim_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's malloc_trim takes no pointer and only releases free memory.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// VmRSS and VmHWM of this process, in bytes.
fn rss_and_peak() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets VmHWM to the current RSS; false if the kernel did not (then peaks are not measured).
fn reset_peak_rss() -> bool {
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        return false;
    }
    // Reset: the peak is the current RSS, give or take what the kernel's per-CPU RSS counters
    // had not summed yet (tens of KiB seen here).
    rss_and_peak().is_some_and(|(rss, peak)| peak <= rss + 1024 * 1024)
}

/// What one measured call used.
#[derive(Clone, Copy, Default)]
struct MemUse {
    /// Peak RSS growth during the call, if the peak could be reset.
    peak_rss: Option<u64>,
    /// RSS growth when the call has returned (its result still held).
    held_rss: Option<u64>,
    /// Peak growth of the Rust heap during the call.
    peak_heap: u64,
    /// Rust heap growth when the call has returned (its result still held).
    held_heap: u64,
    time: Duration,
}

/// Runs `f` with memory measured, returns its result (still held at the measurement) and use.
fn measure_memory<R>(f: impl FnOnce() -> R) -> (R, MemUse) {
    trim_malloc();
    let reset = reset_peak_rss();
    let rss0 = rss_and_peak().map(|(rss, peak)| rss.max(peak));
    HEAP_LIVE.store(0, Ordering::Relaxed);
    HEAP_PEAK.store(0, Ordering::Relaxed);
    HEAP_COUNTING.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let out = f();
    let time = start.elapsed();
    HEAP_COUNTING.store(false, Ordering::Relaxed);
    let after = rss_and_peak();
    let grown = |x: u64| rss0.map(|r0| x.saturating_sub(r0));
    let used = MemUse {
        peak_rss: after.filter(|_| reset).and_then(|(_, peak)| grown(peak)),
        held_rss: after.and_then(|(rss, _)| grown(rss)),
        peak_heap: HEAP_PEAK.load(Ordering::Relaxed).max(0) as u64,
        held_heap: HEAP_LIVE.load(Ordering::Relaxed).max(0) as u64,
        time,
    };
    (out, used)
}

/// The memory `entries` hold, in bytes: the entries themselves (`len` of them), the unused
/// capacity of the vector, and every heap string and changed-column list inside them (by
/// length: their spare capacity is not visible; requested sizes, as the counting allocator
/// counts them).
struct ReturnedSize {
    entries: u64,
    spare: u64,
    heap: u64,
}

fn returned_size(entries: &Vec<Entry<Account>>) -> ReturnedSize {
    let account = |a: &Option<Account>| {
        a.as_ref().map_or(0, |a| {
            a.owner.capacity() + a.status.capacity() + a.note.as_ref().map_or(0, String::capacity)
        })
    };
    let text = |t: &Option<String>| t.as_ref().map_or(0, String::capacity);
    let heap: usize = entries
        .iter()
        .map(|e| {
            account(&e.before)
                + account(&e.after)
                + text(&e.actor)
                + text(&e.reason)
                + std::mem::size_of_val(e.changed_columns())
        })
        .sum();
    let size = std::mem::size_of::<Entry<Account>>();
    ReturnedSize {
        entries: (entries.len() * size) as u64,
        spare: ((entries.capacity() - entries.len()) * size) as u64,
        heap: heap as u64,
    }
}

/// What reading the history page by page keeps: a count, a sum and the last seq (checked to
/// grow).
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    entries: usize,
    balance_sum: i64,
    last_seq: i64,
}

impl Tally {
    fn of(entries: &[Entry<Account>]) -> Self {
        let mut tally = Tally::default();
        entries.iter().for_each(|e| tally.add(e));
        tally
    }

    fn add(&mut self, e: &Entry<Account>) {
        assert!(e.seq > self.last_seq, "H: the history is not oldest first");
        self.entries += 1;
        self.balance_sum += e.after.as_ref().map_or(0, |a| a.balance);
        self.last_seq = e.seq;
    }
}

const H_PAGE: usize = 1_000;

/// H: the memory of reading a history of 100,000 entries whole and page by page.
pub fn sqlite_h(cfg: &Config) -> Vec<String> {
    let n = cfg.ops(100_000);
    let rounds = cfg.rounds(3);
    let key = 1;
    let journal = Journal::new();

    eprint!("H: recording {n} updates of one account");
    let start = Instant::now();
    let mut db = SqliteDb::create(BULK);
    let mut rng = Rng::new(5);
    let updates: Vec<Account> = (0..n).map(|i| changed_row(&mut rng, key, i)).collect();
    db.conn
        .transaction::<_, recover::Error, _>(|c| {
            for u in &updates {
                journal.update(c, u)?;
            }
            Ok(())
        })
        .expect("record the history");
    let expected = (n, updates.iter().map(|u| u.balance).sum::<i64>());
    drop(updates);
    eprintln!(" ({:.1} s)", start.elapsed().as_secs_f64());

    // Rounds rotate the order of the approaches; the first pass is a warm-up.
    let approaches = [Approach::Whole, Approach::Paged, Approach::Collected];
    let mut uses: [Vec<MemUse>; 3] = Default::default();
    let mut returned = None;
    let mut reset_works = true;
    eprint!("H: warm-up");
    for r in 0..=rounds {
        if r > 0 {
            eprint!(", round {r}/{rounds}");
        }
        let mut order = approaches;
        order.rotate_left(r % approaches.len());
        for approach in order {
            // A new connection each time: a cold SQLite page cache, an empty statement cache.
            db.reopen(WAL_NORMAL);
            let conn = &mut db.conn;
            let (tally, used) = match approach {
                Approach::Whole => {
                    let (entries, used) =
                        measure_memory(|| journal.history::<Account>(conn, &key).expect("history"));
                    returned = Some((returned_size(&entries), entries.capacity()));
                    (Tally::of(&entries), used)
                }
                Approach::Paged => measure_memory(|| {
                    let mut tally = Tally::default();
                    for_each_page(&journal, conn, key, |page| {
                        page.iter().for_each(|e| tally.add(e))
                    });
                    tally
                }),
                Approach::Collected => {
                    let (entries, used) = measure_memory(|| {
                        let mut all = Vec::new();
                        for_each_page(&journal, conn, key, |page| all.extend(page));
                        all.shrink_to_fit();
                        all
                    });
                    (Tally::of(&entries), used)
                }
            };
            assert_eq!(
                (tally.entries, tally.balance_sum),
                expected,
                "H: {approach:?} did not read the whole history"
            );
            reset_works &= used.peak_rss.is_some();
            if r > 0 {
                uses[approach as usize].push(used);
            }
        }
    }
    eprintln!();
    drop(db);

    let mib = |b: u64| format!("{:.1}", b as f64 / (1024.0 * 1024.0));
    let med = |uses: &[MemUse], f: fn(&MemUse) -> Option<u64>| {
        let mut v: Vec<u64> = uses.iter().filter_map(f).collect();
        if v.len() < uses.len() || v.is_empty() {
            return "-".to_owned();
        }
        v.sort_unstable();
        mib(v[v.len() / 2])
    };
    const HEAD: [&str; 7] = [
        "H: history of one entity",
        "entries read",
        "peak RSS (MiB)",
        "held RSS (MiB)",
        "peak heap (MiB)",
        "held heap (MiB)",
        "time (ms)",
    ];
    let w = HEAD.map(|h| h.chars().count().max(36 * (h == HEAD[0]) as usize));
    let cells = |c: [String; 7]| {
        format!(
            "{:<w0$} | {:>w1$} | {:>w2$} | {:>w3$} | {:>w4$} | {:>w5$} | {:>w6$}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5],
            w6 = w[6]
        )
    };
    let mut out = vec![
        cells(HEAD.map(str::to_owned)),
        w.map(|w| "-".repeat(w)).join("-|-"),
    ];
    for approach in approaches {
        let uses = &uses[approach as usize];
        let times: Vec<Duration> = uses.iter().map(|u| u.time).collect();
        out.push(cells([
            approach.label(),
            thousands(n as f64),
            med(uses, |u| u.peak_rss),
            med(uses, |u| u.held_rss),
            med(uses, |u| Some(u.peak_heap)),
            med(uses, |u| Some(u.held_heap)),
            format!("{:.0}", median(&times).as_secs_f64() * 1e3),
        ]));
    }
    out.push(String::new());
    if let Some((size, capacity)) = returned {
        out.push(format!(
            "(a) returns {} entries × size_of::<Entry<Account>>() {} B = {} MiB, + {} MiB of heap \
             strings and changed-column lists (by length) = {} MiB, in a Vec of capacity {} \
             (+ {} MiB unused)",
            thousands(n as f64),
            std::mem::size_of::<Entry<Account>>(),
            mib(size.entries),
            mib(size.heap),
            mib(size.entries + size.heap),
            thousands(capacity as f64),
            mib(size.spare)
        ));
    }
    out.push(
        "peak = growth during the call over the RSS (or the live Rust heap) just before it; \
         held = growth still there when the call has returned and its result is alive (for \
         (b): a count and a sum); heap = the Rust heap only, requested sizes, as counted by the \
         benchmark's allocator; RSS = the whole process, with malloc's overhead and SQLite's \
         page cache. Medians of the rounds."
            .to_owned(),
    );
    if !reset_works {
        out.push(
            "peak RSS not measured: writing 5 to /proc/self/clear_refs did not reset VmHWM"
                .to_owned(),
        );
    }
    out
}

/// The ways H reads a history.
#[derive(Debug, Clone, Copy)]
enum Approach {
    /// `history`: one `Vec` of every entry.
    Whole = 0,
    /// `history_page`, keeping a running count and sum.
    Paged = 1,
    /// `history_page`, every page appended to one `Vec`: the same result as `Whole`.
    Collected = 2,
}

impl Approach {
    fn label(self) -> String {
        match self {
            Approach::Whole => "(a) history, one Vec".to_owned(),
            Approach::Paged => format!("(b) history_page, {H_PAGE} at a time"),
            Approach::Collected => format!("(c) history_page ×{H_PAGE} into one Vec"),
        }
    }
}

/// Reads the history of `key` page by page, oldest first.
fn for_each_page(
    journal: &Journal,
    conn: &mut SqliteConnection,
    key: i32,
    mut f: impl FnMut(Vec<Entry<Account>>),
) {
    let mut after = i64::MIN;
    loop {
        let page = journal
            .history_page::<Account>(conn, &key, after, H_PAGE)
            .expect("history_page");
        let (len, last) = (page.len(), page.last().map(|e| e.seq));
        f(page);
        match last {
            Some(last) if len == H_PAGE => after = last,
            _ => break,
        }
    }
}
