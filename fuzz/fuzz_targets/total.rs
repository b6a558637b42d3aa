//! `customEventTotal` bodies: any bytes, in any chunking, through [`TotalDecoder`].

#![no_main]

use botevents::convert::{BodyDecoder, RowContext, TotalDecoder};
use botevents::stream::Interval;
use botevents_fuzz::check_body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = RowContext { account: "12345678".into(), bot: "bot-fuzz".into() };
    let (_, out) = check_body(data, |plan| {
        let interval = if plan.hourly { Interval::Hourly } else { Interval::Daily };
        Box::new(TotalDecoder::new(ctx.clone(), interval, plan.opts.clone())) as Box<dyn BodyDecoder>
    });
    // A record gives one row per non-zero platform cell, so never more rejects than records.
    if out.error.is_none() {
        let s = &out.stats;
        assert!(s.rejected + s.outside_window <= s.records, "total counters: {s:?}");
    }
});
