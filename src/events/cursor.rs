//! Which events a reader (the dispatcher, the webhook fan-out) has had, when ids commit out of
//! order.
//!
//! On PostgreSQL an event's id is taken when its row is inserted, not when its transaction
//! commits, so a reader may see id 31 while 28 is still uncommitted. A cursor remembers the ids
//! it has not seen below the newest one it has (the *gaps*), and every pass reads the gaps
//! together with what is new, in one statement.
//!
//! That one statement is what keeps a request's events in order. Its events are written under
//! the request's row lock, so an earlier event of a request has committed before a later one
//! was even written: any snapshot that holds the later one holds the earlier one too, and a
//! pass that reads both the gaps and the new ids in id order hands them out in order. (Reading
//! only past the newest id between re-checks of the gaps handed out a request's note 2 before
//! its note 0 that had committed into a gap.)
//!
//! A gap is an uncommitted transaction or an id a rolled-back transaction used up; it is waited
//! for [`GAP_TIMEOUT`] from when it was first missed, then passed.

use std::time::{Duration, Instant};

/// How long an id gap (a transaction that took an id but has not committed, or rolled back)
/// is waited for before readers move past it.
pub(crate) const GAP_TIMEOUT: Duration = Duration::from_secs(10);

/// Most gaps read back per pass; beyond, the oldest are passed at once (and logged). Gaps are
/// the transactions in flight and the ids rolled back within [`GAP_TIMEOUT`]: a few dozen.
pub(crate) const MAX_GAPS: usize = 200;

/// Ids `from..=to` not seen yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gap {
    pub from: i64,
    pub to: i64,
    /// When the gap was first missed (set by [`Cursor::settle`]).
    since: Option<Instant>,
}

/// Which ids were had: everything up to `newest` except the gaps.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    newest: i64,
    /// Oldest first, disjoint, all below `newest`.
    gaps: Vec<Gap>,
}

impl Cursor {
    /// A cursor that has had every id up to `floor`.
    pub(crate) fn new(floor: i64) -> Cursor {
        Cursor { newest: floor, gaps: Vec::new() }
    }

    /// Every id up to this one was had (or passed as a gap).
    pub(crate) fn floor(&self) -> i64 {
        self.gaps.first().map_or(self.newest, |g| g.from - 1)
    }

    /// What a pass reads: the ids after `newest`, and those in `gaps`.
    pub(crate) fn unread(&self) -> (i64, &[Gap]) {
        (self.newest, &self.gaps)
    }

    /// True the first time an id is offered.
    pub(crate) fn accept(&mut self, id: i64) -> bool {
        if id > self.newest {
            if id > self.newest + 1 {
                self.gaps.push(Gap { from: self.newest + 1, to: id - 1, since: None });
            }
            self.newest = id;
            return true;
        }
        let Some(i) = self.gaps.iter().position(|g| g.from <= id && id <= g.to) else {
            return false;
        };
        let gap = self.gaps[i];
        match (id == gap.from, id == gap.to) {
            (true, true) => {
                self.gaps.remove(i);
            }
            (true, false) => self.gaps[i].from += 1,
            (false, true) => self.gaps[i].to -= 1,
            (false, false) => {
                self.gaps[i].to = id - 1;
                self.gaps.insert(i + 1, Gap { from: id + 1, to: gap.to, since: gap.since });
            }
        }
        true
    }

    /// Dates the gaps found since the last call, and passes those older than
    /// [`GAP_TIMEOUT`] (and the oldest beyond [`MAX_GAPS`]). Returns how many ids it passed.
    pub(crate) fn settle(&mut self, now: Instant) -> i64 {
        let mut passed = 0;
        let excess = self.gaps.len().saturating_sub(MAX_GAPS);
        let mut index = 0;
        self.gaps.retain_mut(|gap| {
            let since = *gap.since.get_or_insert(now);
            let keep = index >= excess && now.duration_since(since) < GAP_TIMEOUT;
            index += 1;
            if !keep {
                passed += gap.to - gap.from + 1;
            }
            keep
        });
        passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_had_once_and_a_late_commit_into_a_gap_is_still_had() {
        let t0 = Instant::now();
        let mut c = Cursor::new(10);
        assert!(c.accept(11));
        assert!(!c.accept(11), "had once");
        assert!(c.accept(13));
        c.settle(t0);
        assert_eq!(c.floor(), 11, "12 has not committed yet");
        assert!(c.accept(12), "a late commit is still had");
        c.settle(t0);
        assert_eq!(c.floor(), 13);
        assert!(!c.accept(12) && !c.accept(9));
    }

    #[test]
    fn every_pass_reads_the_gaps_with_what_is_new() {
        let t0 = Instant::now();
        let mut c = Cursor::new(27);
        // 29–31 commit before 28 (another transaction's): 28 is a gap.
        assert!(c.accept(29) && c.accept(30) && c.accept(31));
        c.settle(t0);
        let (after, gaps) = c.unread();
        assert_eq!(after, 31);
        assert_eq!(gaps.iter().map(|g| (g.from, g.to)).collect::<Vec<_>>(), [(28, 28)]);
        // The next pass reads 28 with 32 and 37, in id order.
        assert!(c.accept(28) && c.accept(32) && c.accept(37));
        c.settle(t0);
        assert_eq!(c.floor(), 32);
        assert_eq!(c.unread().1.iter().map(|g| (g.from, g.to)).collect::<Vec<_>>(), [(33, 36)]);
        // An id inside a gap splits it.
        assert!(c.accept(35));
        assert_eq!(c.unread().1.iter().map(|g| (g.from, g.to)).collect::<Vec<_>>(), [(33, 34), (36, 36)]);
    }

    #[test]
    fn each_gap_is_waited_for_from_when_it_was_first_missed() {
        let t0 = Instant::now();
        let mut c = Cursor::new(10);
        assert!(c.accept(12));
        c.settle(t0);
        // 11 fills late; by then 14 is missing too, first missed at t0 + 9 s.
        assert!(c.accept(15));
        c.settle(t0 + Duration::from_secs(9));
        assert!(c.accept(11));
        c.settle(t0 + GAP_TIMEOUT);
        assert_eq!(c.floor(), 12, "13–14 were missed 1 s ago, not 10");
        assert_eq!(c.settle(t0 + Duration::from_secs(9) + GAP_TIMEOUT), 2, "then they are passed");
        assert_eq!(c.floor(), 15);
        assert!(!c.accept(13), "a passed id is not had later");
    }

    #[test]
    fn beyond_max_gaps_the_oldest_are_passed() {
        let t0 = Instant::now();
        let mut c = Cursor::new(0);
        for id in (2..=2 * (MAX_GAPS as i64 + 3)).step_by(2) {
            assert!(c.accept(id));
        }
        assert_eq!(c.settle(t0), 3);
        assert_eq!(c.unread().1.len(), MAX_GAPS);
        assert_eq!(c.floor(), 6);
    }
}
