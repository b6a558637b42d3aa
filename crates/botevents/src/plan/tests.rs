use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("test instant").with_timezone(&Utc)
}

#[test]
fn ready_at_follows_new_york_dst() {
    // Winter (EST, UTC-5): 03:00 local = 08:00 UTC.
    assert_eq!(ready_at(d("2026-01-14")), at("2026-01-15T08:00:00Z"));
    // Summer (EDT, UTC-4): 03:00 local = 07:00 UTC.
    assert_eq!(ready_at(d("2026-07-14")), at("2026-07-15T07:00:00Z"));
    // The night clocks spring forward (2026-03-08 02:00 EST -> 03:00 EDT).
    assert_eq!(ready_at(d("2026-03-07")), at("2026-03-08T07:00:00Z"));
    // The night clocks fall back (2026-11-01 02:00 EDT -> 01:00 EST).
    assert_eq!(ready_at(d("2026-10-31")), at("2026-11-01T08:00:00Z"));
}

#[test]
fn horizon_moves_at_three_eastern() {
    let before = Calendar::new(at("2026-11-24T07:59:59Z"), 30);
    assert_eq!(before.first_incomplete_day(), d("2026-11-23"));
    let after = Calendar::new(at("2026-11-24T08:00:00Z"), 30);
    assert_eq!(after.first_incomplete_day(), d("2026-11-24"));
}

#[test]
fn oldest_retrievable_is_today_minus_29() {
    let cal = Calendar::new(at("2026-11-24T12:00:00Z"), 30);
    assert_eq!(cal.oldest_retrievable(), d("2026-10-26"));
    assert_eq!(cal.days_until_lost(d("2026-10-26")), 0);
    assert_eq!(cal.days_until_lost(d("2026-10-30")), 4);
}

#[test]
fn explicit_start_before_retention_names_the_oldest_day() {
    let cal = Calendar::new(at("2026-11-24T12:00:00Z"), 30);
    let req =
        RangeRequest { start: StartFrom::Day(d("2026-10-25")), end: None, lookback_days: 0, allow_partial_days: false };
    let err = plan_range(&req, &cal).unwrap_err();
    assert!(err.to_string().contains("2026-10-26"), "{err}");
}

#[test]
fn last_days_clamp_and_report_loss() {
    let cal = Calendar::new(at("2026-11-24T12:00:00Z"), 30);
    let req = RangeRequest { start: StartFrom::Last(40), end: None, lookback_days: 0, allow_partial_days: false };
    let p = plan_range(&req, &cal).unwrap();
    assert_eq!(p.range, Window::new(d("2026-10-26"), d("2026-11-24")));
    assert_eq!(p.lost, Window::new(d("2026-10-15"), d("2026-10-26")));
    let req = RangeRequest { start: StartFrom::Last(3), ..req };
    let p = plan_range(&req, &cal).unwrap();
    assert_eq!(p.range, Window::new(d("2026-11-21"), d("2026-11-24")));
    assert_eq!(p.lost, None);
}

#[test]
fn cursor_at_horizon_plans_nothing_unless_lookback() {
    let cal = Calendar::new(at("2026-11-24T12:00:00Z"), 30);
    let req = RangeRequest {
        start: StartFrom::Cursor(Some(d("2026-11-24"))),
        end: None,
        lookback_days: 0,
        allow_partial_days: false,
    };
    assert_eq!(plan_range(&req, &cal).unwrap().range, None);
    let req = RangeRequest { lookback_days: 2, ..req };
    assert_eq!(plan_range(&req, &cal).unwrap().range, Window::new(d("2026-11-22"), d("2026-11-24")));
}

#[test]
fn end_is_clamped_to_horizon_unless_partial_days() {
    let cal = Calendar::new(at("2026-11-24T12:00:00Z"), 30);
    let req = RangeRequest {
        start: StartFrom::Day(d("2026-11-20")),
        end: Some(d("2026-11-30")),
        lookback_days: 0,
        allow_partial_days: false,
    };
    assert_eq!(plan_range(&req, &cal).unwrap().range, Window::new(d("2026-11-20"), d("2026-11-24")));
    let req = RangeRequest { allow_partial_days: true, ..req };
    assert_eq!(plan_range(&req, &cal).unwrap().range, Window::new(d("2026-11-20"), d("2026-11-25")));
    // Without --end, partial days reach today as well.
    let req = RangeRequest { end: None, ..req };
    assert_eq!(plan_range(&req, &cal).unwrap().range, Window::new(d("2026-11-20"), d("2026-11-25")));
    let req = RangeRequest { allow_partial_days: false, ..req };
    assert_eq!(plan_range(&req, &cal).unwrap().range, Window::new(d("2026-11-20"), d("2026-11-24")));
    // --last counts complete days, with or without the partial ones after them.
    for allow_partial_days in [false, true] {
        let req = RangeRequest { start: StartFrom::Last(2), allow_partial_days, ..req };
        let end = if allow_partial_days { "2026-11-25" } else { "2026-11-24" };
        assert_eq!(plan_range(&req, &cal).unwrap().range, Window::new(d("2026-11-22"), d(end)));
    }
}

#[test]
fn slices_are_newest_first_and_cover_the_window() {
    let w = Window::new(d("2026-11-20"), d("2026-11-22")).unwrap();
    for g in [Granularity::Window, Granularity::Day, Granularity::Hour] {
        let s = g.slices(w);
        assert_eq!(s.last().unwrap().start, w.start_time());
        assert_eq!(s.first().unwrap().end, w.end_time());
        for pair in s.windows(2) {
            assert_eq!(pair[1].end, pair[0].start, "{g:?} slices must be contiguous");
        }
    }
    assert_eq!(Granularity::Hour.slices(w).len(), 48);
}

proptest! {
    /// Any range's windows cover every instant of it exactly once, and none exceeds 7 days.
    #[test]
    fn windows_cover_every_instant_once(
        start_off in 0i64..400,
        len in 0i64..200,
        max_days in 1u64..10,
        probes in proptest::collection::vec(0i64..(200 * 86_400_000_000i64), 1..20),
    ) {
        let start = d("2025-01-01") + chrono::Duration::days(start_off);
        let end = start + chrono::Duration::days(len);
        let ws = windows(start, end, max_days);
        for w in &ws {
            prop_assert!(w.len_days() >= 1 && w.len_days() <= max_days);
        }
        for pair in ws.windows(2) {
            prop_assert_eq!(pair[0].end, pair[1].start);
        }
        let lo = midnight(start).timestamp_micros();
        let hi = midnight(end).timestamp_micros();
        for p in probes {
            let t = lo + p;
            let hits = ws.iter().filter(|w| w.contains_micros(t)).count();
            prop_assert_eq!(hits, usize::from(t < hi));
        }
    }

    /// The horizon is always today or yesterday, and a day is complete exactly when its ready
    /// instant has passed.
    #[test]
    fn horizon_agrees_with_ready_at(secs in 1_700_000_000i64..1_900_000_000) {
        let now = Utc.timestamp_opt(secs, 0).unwrap();
        let cal = Calendar::new(now, 30);
        let h = cal.first_incomplete_day();
        prop_assert!(now < ready_at(h));
        prop_assert!(now >= ready_at(h - Days::new(1)));
    }
}

#[test]
fn retention_risk_lists_pending_days_near_the_edge_and_lost_ones() {
    let cal = Calendar::new(at("2026-11-24T12:00:00Z"), 30);
    // Oldest retrievable 2026-10-26, horizon 2026-11-24.
    let r = retention_risk(Some(d("2026-10-28")), &cal, 3);
    assert_eq!(r.lost, None);
    assert_eq!(
        r.at_risk,
        vec![DayAtRisk { day: d("2026-10-28"), days_left: 2 }, DayAtRisk { day: d("2026-10-29"), days_left: 3 }]
    );
    let r = retention_risk(Some(d("2026-10-20")), &cal, 3);
    assert_eq!(r.lost, Window::new(d("2026-10-20"), d("2026-10-26")));
    assert_eq!(r.at_risk.len(), 4);
    assert_eq!(r.at_risk[0], DayAtRisk { day: d("2026-10-26"), days_left: 0 });
    // Nothing exported yet: every retained day is pending, nothing is known lost.
    let r = retention_risk(None, &cal, 3);
    assert_eq!((r.lost, r.at_risk.len()), (None, 4));
    // Up to date, or pending days far from the edge: nothing at risk.
    assert_eq!(retention_risk(Some(d("2026-11-24")), &cal, 3), RetentionRisk::default());
    assert_eq!(retention_risk(Some(d("2026-11-10")), &cal, 3), RetentionRisk::default());
    // Incomplete days are not counted, even with a tiny retention.
    let short = Calendar::new(at("2026-11-24T12:00:00Z"), 2);
    assert_eq!(retention_risk(Some(d("2026-11-23")), &short, 3).at_risk.len(), 1);
}

#[test]
fn resume_continues_incremental_requests_only() {
    let req = RangeRequest { start: StartFrom::Cursor(None), end: None, lookback_days: 0, allow_partial_days: false };
    assert_eq!(resume(&req, Some(d("2026-11-20"))).start, StartFrom::Cursor(Some(d("2026-11-20"))));
    let explicit = RangeRequest { start: StartFrom::Day(d("2026-11-01")), ..req };
    assert_eq!(resume(&explicit, Some(d("2026-11-20"))), explicit);
    let a = d("2026-11-20");
    let b = d("2026-11-22");
    assert_eq!(earliest_cursor([Some(&b), Some(&a)]), Some(a));
    assert_eq!(earliest_cursor([Some(&b), None]), None, "a stream never exported starts at the oldest day");
}

#[test]
fn a_window_is_cut_at_the_retention_and_moves_cursors_from_there() {
    // A run that crossed midnight: the window planned from 2026-10-25 reaches the API when its
    // oldest day is 2026-10-26.
    let w = Window::new(d("2026-10-25"), d("2026-11-01")).unwrap();
    let oldest = d("2026-10-26");
    assert_eq!(w.retained(oldest), (Window::new(d("2026-10-25"), oldest), Window::new(oldest, d("2026-11-01"))));
    assert_eq!(w.retained(d("2026-10-20")), (None, Some(w)), "nothing lost");
    assert_eq!(w.retained(d("2026-11-05")), (Some(w), None), "all lost");
    // From the oldest day on, a window moves a cursor that lags behind it; a later one does not.
    let kept = Window::new(oldest, d("2026-11-01")).unwrap();
    assert_eq!(kept.moves_cursor_from(oldest), NaiveDate::MIN);
    assert_eq!(kept.moves_cursor_from(d("2026-10-20")), oldest);
}

#[test]
fn a_schedule_covers_its_range_in_windows_and_never_moves_a_cursor_past_the_horizon() {
    let cal = Calendar::new(at("2026-11-24T12:00:00Z"), 30);
    let incremental =
        RangeRequest { start: StartFrom::Cursor(None), end: None, lookback_days: 0, allow_partial_days: true };
    for cursor in [None, Some(d("2026-10-20")), Some(d("2026-11-01")), Some(d("2026-11-24"))] {
        let s = BotSchedule::new(&incremental, cursor, &cal).unwrap();
        assert_eq!(s.request.start, StartFrom::Cursor(cursor));
        let range = s.planned.range.unwrap();
        assert_eq!((s.windows.first().unwrap().start, s.windows.last().unwrap().end), (range.start, range.end));
        assert!(s.windows.windows(2).all(|p| p[0].end == p[1].start && p[0].len_days() <= MAX_WINDOW_DAYS));
        for &w in &s.windows {
            match s.cursor_move(w, cal.oldest_retrievable()) {
                Some(mv) => assert!(mv.through <= s.planned.horizon && mv.through > w.start, "{w}: {mv:?}"),
                None => assert!(w.start >= s.planned.horizon, "{w}: only a window of partial days moves nothing"),
            }
        }
    }
}
