//! `customEventDetail` bodies: any bytes, in any chunking, through [`DetailDecoder`].

#![no_main]

use botevents::convert::{BodyDecoder, DetailDecoder, RowContext};
use botevents_fuzz::check_body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = RowContext { account: "12345678".into(), bot: "bot-fuzz".into() };
    let (plan, out) =
        check_body(data, |plan| Box::new(DetailDecoder::new(ctx.clone(), plan.opts.clone())) as Box<dyn BodyDecoder>);
    // One record is one row: emitted, rejected or outside the window.
    if out.error.is_none() {
        let s = &out.stats;
        assert_eq!(s.records, s.rows + s.rejected + s.outside_window, "detail counters: {s:?}");
    }
    for b in &out.batches {
        assert!(b.num_rows() <= plan.opts.batch_size, "a detail batch above the batch size");
    }
});
