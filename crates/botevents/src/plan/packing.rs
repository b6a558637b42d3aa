//! Detail requests planned from the totals.
//!
//! In: a window, the totals' event count per day (and, for a day over the budget, per hour), the
//! row budget of one request. Out: the detail requests' slices, newest first (the API's order),
//! each at most [`MAX_WINDOW_DAYS`] long and holding at most the budget by the totals' count,
//! where a single unit (a day, an hour) can keep to it. Consecutive units are packed greedily,
//! which for ranges of consecutive units gives the fewest requests. A window without events needs
//! no request at all. Nothing here does I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{Granularity, MAX_WINDOW_DAYS, Slice, Window, midnight};

/// The share of the row cap a packed request may hold by the totals' count, in percent: the rest
/// is room for events that arrive between the totals and the details.
pub const DEFAULT_PACK_SHARE_PERCENT: u64 = 90;

/// One piece of a window with its count of events: a day or an hour. `None`: not known (its
/// request goes alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    /// The time it covers.
    pub slice: Slice,
    /// Events in it, by the totals.
    pub events: Option<u64>,
}

impl Unit {
    /// A whole UTC day.
    pub fn day(day: NaiveDate, events: Option<u64>) -> Unit {
        let w = Window::day(day);
        Unit { slice: Slice { start: w.start_time(), end: w.end_time() }, events }
    }

    /// One hour.
    pub fn hour(start: DateTime<Utc>, events: Option<u64>) -> Unit {
        Unit { slice: Slice { start, end: start + Duration::hours(1) }, events }
    }
}

/// The row budget of one packed request: `share_percent` of the row cap (at least one row).
pub fn budget(row_cap: u64, share_percent: u64) -> u64 {
    (row_cap.saturating_mul(share_percent) / 100).max(1)
}

/// The units of `window` by day, with the days the budget cannot hold in one request (they need
/// hourly counts, see [`hours`]).
pub fn days(window: Window, per_day: &BTreeMap<NaiveDate, u64>, budget: u64) -> (Vec<Unit>, Vec<NaiveDate>) {
    let units: Vec<Unit> = window.days().map(|d| Unit::day(d, Some(per_day.get(&d).copied().unwrap_or(0)))).collect();
    let busy = units.iter().filter(|u| u.events.is_some_and(|n| n > budget)).map(|u| u.slice.start.date_naive());
    (units.clone(), busy.collect())
}

/// The 24 hour units of `day` from the hourly totals (`per_hour`, keyed by each hour's start), or
/// of unknown size when there are none.
pub fn hours(day: NaiveDate, per_hour: Option<&BTreeMap<DateTime<Utc>, u64>>) -> Vec<Unit> {
    (0..24)
        .map(|h| {
            let start = midnight(day) + Duration::hours(h);
            Unit::hour(start, per_hour.map(|p| p.get(&start).copied().unwrap_or(0)))
        })
        .collect()
}

/// Packs consecutive units (in time order, without gaps) into requests of at most `budget` events
/// and at most [`MAX_WINDOW_DAYS`] days; a unit over the budget, or of unknown size, goes alone.
/// Returns the slices newest first. No events at all: no request.
pub fn pack(units: &[Unit], budget: u64) -> Vec<Slice> {
    if units.iter().all(|u| u.events == Some(0)) {
        return Vec::new();
    }
    let max_len = Duration::days(MAX_WINDOW_DAYS as i64);
    let mut out: Vec<Slice> = Vec::new();
    let mut open: Option<(Slice, u64)> = None;
    for u in units {
        let fits = |(s, n): &(Slice, u64)| {
            u.events.is_some_and(|e| n + e <= budget) && u.slice.end - s.start <= max_len && s.end == u.slice.start
        };
        match open {
            Some(cur) if fits(&cur) => {
                open = Some((Slice { start: cur.0.start, end: u.slice.end }, cur.1 + u.events.unwrap_or(0)))
            }
            _ => {
                if let Some((s, _)) = open.take() {
                    out.push(s);
                }
                // A unit of unknown size (or over the budget) stands alone: nothing joins it.
                match u.events {
                    Some(n) if n <= budget => open = Some((u.slice, n)),
                    _ => out.push(u.slice),
                }
            }
        }
    }
    out.extend(open.map(|(s, _)| s));
    out.reverse();
    out
}

/// The detail requests the plan before packing sent for a window with these totals: one for the
/// window under the cap, else one per day, and one per hour when a day holds the cap.
pub fn unpacked_requests(window: Window, per_day: &BTreeMap<NaiveDate, u64>, row_cap: u64) -> u64 {
    let g = if per_day.values().any(|&n| n >= row_cap) {
        Granularity::Hour
    } else if per_day.values().sum::<u64>() >= row_cap && window.len_days() > 1 {
        Granularity::Day
    } else {
        Granularity::Window
    };
    g.slices(window).len() as u64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn window(days: u64) -> Window {
        Window::new(d("2026-11-10"), d("2026-11-10") + chrono::Days::new(days)).unwrap()
    }

    fn counts(w: Window, per: &[u64]) -> BTreeMap<NaiveDate, u64> {
        w.days().zip(per.iter().copied()).collect()
    }

    #[test]
    fn a_quiet_week_is_one_request_and_an_empty_one_none() {
        let w = window(7);
        let (units, busy) = days(w, &counts(w, &[10, 0, 5, 0, 0, 7, 1]), 90_000);
        assert!(busy.is_empty());
        assert_eq!(pack(&units, 90_000), vec![Slice { start: w.start_time(), end: w.end_time() }]);
        let (units, _) = days(w, &BTreeMap::new(), 90_000);
        assert!(pack(&units, 90_000).is_empty(), "no event: no request");
    }

    #[test]
    fn days_are_packed_up_to_the_budget_and_no_further() {
        let w = window(7);
        // 20,000 a day: four days fit 90,000, the fifth does not.
        let (units, _) = days(w, &counts(w, &[20_000; 7]), 90_000);
        let slices = pack(&units, 90_000);
        assert_eq!(slices.len(), 2);
        assert_eq!(slices[1], Slice { start: w.start_time(), end: midnight(d("2026-11-14")) }, "oldest four days");
        assert_eq!(slices[0], Slice { start: midnight(d("2026-11-14")), end: w.end_time() }, "newest first");
        // Exactly the budget fits; one more event does not.
        let (units, _) = days(window(2), &counts(window(2), &[45_000, 45_000]), 90_000);
        assert_eq!(pack(&units, 90_000).len(), 1);
        let (units, _) = days(window(2), &counts(window(2), &[45_000, 45_001]), 90_000);
        assert_eq!(pack(&units, 90_000).len(), 2);
    }

    #[test]
    fn a_day_over_the_budget_goes_by_packed_hours() {
        let w = window(3);
        let (units, busy) = days(w, &counts(w, &[1_000, 150_000, 1_000]), 90_000);
        assert_eq!(busy, vec![d("2026-11-11")]);
        let per_hour: BTreeMap<_, _> = hours(d("2026-11-11"), None).iter().map(|u| (u.slice.start, 6_250)).collect();
        let mut all = Vec::new();
        for u in units {
            if busy.contains(&u.slice.start.date_naive()) {
                all.extend(hours(u.slice.start.date_naive(), Some(&per_hour)));
            } else {
                all.push(u);
            }
        }
        let slices = pack(&all, 90_000);
        // Day 1 + 14 hours (88,500); 10 hours + day 3 (63,500).
        assert_eq!(slices.len(), 2, "{slices:?}");
        assert_eq!(unpacked_requests(w, &counts(w, &[1_000, 150_000, 1_000]), 100_000), 72);
    }

    #[test]
    fn unknown_hours_go_alone() {
        let units = hours(d("2026-11-11"), None);
        assert_eq!(pack(&units, 90_000).len(), 24);
    }

    proptest! {
        /// Packed slices cover the units exactly once, newest first, each within the budget (or a
        /// single unit) and the 7-day limit; no two neighbours could have been one request.
        #[test]
        fn packing_covers_everything_within_the_limits(per in proptest::collection::vec(0u64..60_000, 1..=7), budget in 1u64..100_000) {
            let w = window(per.len() as u64);
            let (units, _) = days(w, &counts(w, &per), budget);
            let slices = pack(&units, budget);
            if per.iter().all(|&n| n == 0) {
                prop_assert!(slices.is_empty());
                return Ok(());
            }
            let mut chrono_order = slices.clone();
            chrono_order.reverse();
            prop_assert_eq!(chrono_order.first().unwrap().start, w.start_time());
            prop_assert_eq!(chrono_order.last().unwrap().end, w.end_time());
            let events = |s: &Slice| units.iter().filter(|u| u.slice.start >= s.start && u.slice.end <= s.end).map(|u| u.events.unwrap()).sum::<u64>();
            for pair in chrono_order.windows(2) {
                prop_assert_eq!(pair[0].end, pair[1].start);
                prop_assert!(events(&pair[0]) + events(&pair[1]) > budget, "{:?} could have been one request", pair);
            }
            for s in &chrono_order {
                let single = units.iter().filter(|u| u.slice.start >= s.start && u.slice.end <= s.end).count() == 1;
                prop_assert!(events(s) <= budget || single);
                prop_assert!(s.end - s.start <= Duration::days(7));
            }
        }
    }
}
