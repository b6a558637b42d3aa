//! The synthetic custom events, and which days the server has at a given instant.
//!
//! In: the configuration, a bot and a UTC day. Out: that day's events, newest first.
//! Guarantees: the events are a pure function of `(seed, account, bot, day)` (a seeded
//! `fastrand::Rng` per day, seeded through FNV-1a, never std's random hasher), so every window
//! and every split of a window sees the same rows. The data is as awkward as real bot logs:
//! quotes, commas, CR/LF and emoji inside fields, JSON details up to 32 KB, events exactly on
//! both midnights, identical duplicate rows, quiet days.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;

use super::{SimBot, SimConfig};

/// Every platform the vendor documents, in the vendor's order (also the totals' column order).
pub(crate) const PLATFORMS: [&str; 16] = [
    "FACEBOOK",
    "KIK",
    "TELEGRAM",
    "HTMLCLIENT",
    "SMS",
    "INAPP",
    "INAPP_IOS",
    "INAPP_ANDROID",
    "SMS_TWILIO",
    "WHATSAPP",
    "RCS",
    "ABC",
    "VIBER",
    "LINE",
    "TWITTER",
    "VOICE",
];

/// How often each platform of [`PLATFORMS`] starts a conversation (web chat dominates).
const PLATFORM_WEIGHTS: [u32; 16] = [8, 1, 1, 60, 5, 4, 2, 2, 2, 8, 1, 3, 1, 1, 1, 2];

/// One custom event name; `children` are the sub-values of events whose catalog entry has
/// `hasChildrens: true` (the value is both the eventDetails and the totals' `Event Detail`).
struct EventKind {
    name: &'static str,
    children: &'static [&'static str],
}

const fn kind(name: &'static str) -> EventKind {
    EventKind { name, children: &[] }
}

/// The event names, most frequent first (drawn with Zipf-like weights `1 / rank^1.1`).
const EVENT_KINDS: [EventKind; 40] = [
    kind("UserInput"),
    kind("Question answered? - j"),
    kind("API::ok_status_code_200"),
    EventKind { name: "Was this helpful?", children: &["yes", "no"] },
    kind("99 FALLBACK KB Integration"),
    kind("Demo"),
    kind("FALLBACK index"),
    kind("Get_started_clicked_no"),
    kind("Réponse, \"oui\""),
    kind("SYSTEM-sde_go_back"),
    EventKind { name: "CSAT score", children: &["1", "2", "3", "4", "5"] },
    kind("注文 🚚"),
    kind("Bike size is - Zh Option 1"),
    kind("Question answered? - hh"),
    kind(" 15 INSTL Item number reprompt 2"),
    kind("API::error_status_code_500"),
    EventKind { name: "Language detected", children: &["en", "fr", "de", "ja", "es", "pt-BR"] },
    kind("Escalation, agent transfer"),
    kind("Order status lookup"),
    kind("Password reset – step 2"),
    kind("Zahlungsart gewählt"),
    kind("Опрос завершён"),
    kind("Consulta de saldo ¿ok?"),
    kind("Store locator \"zip\""),
    kind("Greeting 👋"),
    kind("KB article shown"),
    kind("KB article not found"),
    kind("Handoff, after hours"),
    kind("Intent: billing_dispute"),
    kind("Intent: cancel_subscription"),
    EventKind { name: "Feedback: thumbs", children: &["👍", "👎"] },
    kind("Cart abandoned"),
    kind("Coupon applied %20OFF"),
    kind("Survey skipped"),
    kind("Appointment booked 📅"),
    kind("Payment failed; retry"),
    kind("Tracking #"),
    kind("Fallback & retry"),
    kind("Bot greeting (voice)"),
    kind("Session timeout"),
];

const USER_TEXTS: [&str; 24] = [
    "Where is my order?",
    "¿Dónde está mi pedido?",
    "Wo ist meine Bestellung?",
    "注文はどこですか？",
    "Где мой заказ?",
    "أين طلبي؟",
    "मेरा ऑर्डर कहाँ है?",
    "hi 👋",
    "😡😡😡",
    "yes",
    "no",
    "I want to speak to an agent, please",
    "my \"order\" is late",
    "first line\nsecond line",
    "ok\r\nthanks",
    "  ",
    "Original user message_2:*",
    "1234-5678",
    "Ça marche, merci !",
    "can't log in,,, help",
    "\"",
    "NULL",
    "=HYPERLINK(\"http://example.com\")",
    "tab\tseparated",
];

const MATCHED_TITLES: [&str; 6] = [
    "Track my order",
    "Returns, refunds & exchanges",
    "Store hours",
    "Réinitialiser le mot de passe",
    "FAQ \"shipping\"",
    "配送について",
];

const DAY_MS: i64 = 86_400_000;

/// Relative volume per weekday (Monday first); they sum to 7, so every 7-day window of a bot
/// holds `7 × events_per_day` events give or take the ±10% daily noise.
const WEEKDAY_FACTOR: [f64; 7] = [1.10, 1.15, 1.10, 1.05, 1.00, 0.80, 0.80];

/// Bots with fewer mean events per day than this have quiet days.
const QUIET_BOT_BELOW: u32 = 500;
/// A low-volume bot is quiet on one day in this many.
const QUIET_DAY_PERIOD: u64 = 6;
/// Days with at least this many events carry at least one eventDetails of 8–32 KB.
const LARGE_DETAIL_DAY: usize = 1_000;
/// The largest eventDetails generated.
const LARGE_DETAIL_MAX: usize = 32 * 1024;

const ONE_DAY: Duration = Duration::days(1);

/// One detail event, as the `customEventDetail` download serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimEvent {
    /// `eventName`.
    pub event_name: String,
    /// `platform`, one of the vendor's platform names.
    pub platform: String,
    /// `eventDetails`; may be empty, multi-line, JSON, up to 32 KB.
    pub event_details: String,
    /// `userText`; may be empty or multi-line.
    pub user_text: String,
    /// `eventCreationTime`, with millisecond precision.
    pub event_time: DateTime<Utc>,
    /// `conversationId`, uuid-like.
    pub conversation_id: String,
    /// `matchedTitle`; empty when no title matched.
    pub matched_title: String,
}

/// The ground truth the server serves: every detail event of `bot` on UTC `day`, newest first.
///
/// A pure function of `(seed, account, bot, day)`: it ignores the clock, the retention and the
/// readiness of the day, which only decide whether the server serves the day. A bot the
/// configuration does not have has no events.
pub fn detail_events(config: &SimConfig, bot: &str, day: NaiveDate) -> Vec<SimEvent> {
    match config.bot(bot) {
        Some(bot) => DayGenerator::new(config, bot, day).generate(),
        None => Vec::new(),
    }
}

/// Whether a catalog entry for `name` has `hasChildrens: true` (ground truth for tests, like
/// [`detail_events`]).
pub fn has_children(name: &str) -> bool {
    EVENT_KINDS.iter().any(|kind| kind.name == name && !kind.children.is_empty())
}

/// The totals' `Event Detail` of an event: its sub-value for events with children, else empty.
pub(crate) fn total_detail(event: &SimEvent) -> &str {
    if has_children(&event.event_name) { &event.event_details } else { "" }
}

/// The index of a platform name in [`PLATFORMS`].
pub(crate) fn platform_index(name: &str) -> Option<usize> {
    PLATFORMS.iter().position(|platform| *platform == name)
}

/// When UTC day `day` is complete in the vendor's isolated database: 03:00 America/New_York on
/// the next day (DST-aware; 03:00 exists on every day in that zone).
pub(crate) fn ready_at(day: NaiveDate) -> DateTime<Utc> {
    let local = (day + ONE_DAY).and_time(NaiveTime::from_hms_opt(3, 0, 0).unwrap_or(NaiveTime::MIN));
    match New_York.from_local_datetime(&local).earliest() {
        Some(at) => at.with_timezone(&Utc),
        // Unreachable for New York; fall back to the later of the two offsets (EST).
        None => Utc.from_utc_datetime(&(local + Duration::hours(5))),
    }
}

/// The days the server holds data for at `now`: ready, and not older than the retention plus a
/// two-day margin (so the retention check, not missing data, is what limits a request).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Availability {
    oldest: NaiveDate,
    now: DateTime<Utc>,
}

impl Availability {
    pub(crate) fn new(config: &SimConfig, now: DateTime<Utc>) -> Self {
        let margin = Duration::days(i64::from(config.retention_days) + 2);
        Availability { oldest: (now - margin).date_naive(), now }
    }

    pub(crate) fn has(&self, day: NaiveDate) -> bool {
        day >= self.oldest && self.now >= ready_at(day)
    }
}

/// One bot's served days at one instant: generates a day's events when the day is available.
pub(crate) struct Dataset<'a> {
    config: &'a SimConfig,
    /// `None` for a bot the configuration does not have: no events on any day.
    bot: Option<&'a SimBot>,
    availability: Availability,
}

impl<'a> Dataset<'a> {
    pub(crate) fn new(config: &'a SimConfig, bot: &'a SimBot, now: DateTime<Utc>) -> Self {
        Dataset { config, bot: Some(bot), availability: Availability::new(config, now) }
    }

    /// The served days of a bot the configuration does not have: none has events.
    pub(crate) fn unknown(config: &'a SimConfig, now: DateTime<Utc>) -> Self {
        Dataset { config, bot: None, availability: Availability::new(config, now) }
    }

    /// The events served for `day`, newest first (none if the day is not available).
    pub(crate) fn day(&self, day: NaiveDate) -> Vec<SimEvent> {
        match self.bot {
            Some(bot) if self.availability.has(day) => DayGenerator::new(self.config, bot, day).generate(),
            _ => Vec::new(),
        }
    }
}

/// FNV-1a, 64-bit: a stable hash for seeds (std's hashers are randomized or unspecified).
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn bytes(mut self, bytes: &[u8]) -> Self {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    /// Hashes a string followed by a separator, so ("ab","c") and ("a","bc") differ.
    pub(crate) fn str(self, value: &str) -> Self {
        self.bytes(value.as_bytes()).bytes(&[0xff])
    }

    pub(crate) fn finish(self) -> u64 {
        mix(self.0)
    }
}

/// The splitmix64 finalizer: a bijection on u64 that spreads every input bit.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Formats 128 bits as a uuid-like string (8-4-4-4-12 lowercase hex).
pub(crate) fn uuid_like(hi: u64, lo: u64) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// A random version-4 uuid from `rng`.
fn random_uuid(rng: &mut fastrand::Rng) -> String {
    let hi = (rng.u64(..) & !0xf000) | 0x4000;
    let lo = (rng.u64(..) & !(0xc000 << 48)) | (0x8000 << 48);
    uuid_like(hi, lo)
}

/// An event while its day is being generated: time as milliseconds since midnight.
#[derive(Clone)]
struct Draft {
    ms: i64,
    event: SimEvent,
}

/// Generates the events of one (bot, day).
struct DayGenerator<'a> {
    bot: &'a SimBot,
    day: NaiveDate,
    rng: fastrand::Rng,
    /// Cumulative Zipf weights of [`EVENT_KINDS`].
    kind_cdf: [f64; 40],
    platform_total: u32,
}

impl<'a> DayGenerator<'a> {
    fn new(config: &SimConfig, bot: &'a SimBot, day: NaiveDate) -> Self {
        let seed = Fnv::new()
            .bytes(&config.seed.to_le_bytes())
            .str(&config.account)
            .str(&bot.id)
            .bytes(&day.num_days_from_ce().to_le_bytes())
            .finish();
        let mut kind_cdf = [0.0; 40];
        let mut sum = 0.0;
        for (rank, slot) in kind_cdf.iter_mut().enumerate() {
            sum += 1.0 / ((rank + 1) as f64).powf(1.1);
            *slot = sum;
        }
        DayGenerator {
            bot,
            day,
            rng: fastrand::Rng::with_seed(seed),
            kind_cdf,
            platform_total: PLATFORM_WEIGHTS.iter().sum(),
        }
    }

    /// How many events the day has, duplicates included.
    fn volume(&mut self) -> usize {
        let mean = self.bot.events_per_day;
        if mean == 0 {
            return 0;
        }
        if mean < QUIET_BOT_BELOW {
            let phase = Fnv::new().str(&self.bot.id).finish();
            let ordinal = u64::try_from(self.day.num_days_from_ce()).unwrap_or(0);
            if ordinal.wrapping_add(phase) % QUIET_DAY_PERIOD == 0 {
                return 0;
            }
        }
        let weekday = WEEKDAY_FACTOR[self.day.weekday().num_days_from_monday() as usize];
        let noise = 0.9 + 0.2 * self.rng.f64();
        ((f64::from(mean) * weekday * noise).round() as usize).max(1)
    }

    fn generate(mut self) -> Vec<SimEvent> {
        let volume = self.volume();
        if volume == 0 {
            return Vec::new();
        }
        // About 1% identical duplicates, both served.
        let mut duplicates = volume / 100;
        if self.rng.usize(..100) < volume % 100 {
            duplicates += 1;
        }
        let duplicates = duplicates.min(volume - 1);
        let base = volume - duplicates;

        let mut drafts: Vec<Draft> = Vec::with_capacity(volume);
        while drafts.len() < base {
            // A conversation: one platform, one id, a few events seconds apart.
            let conversation_id = random_uuid(&mut self.rng);
            let platform = self.platform();
            let mut ms = self.rng.i64(0..DAY_MS);
            let events = 1 + self.rng.usize(..6);
            for _ in 0..events {
                if drafts.len() >= base || ms >= DAY_MS {
                    break;
                }
                let event = self.event(platform, &conversation_id);
                drafts.push(Draft { ms, event });
                ms += self.rng.i64(150..45_000);
            }
        }
        // Both midnights: an event exactly at 00:00:00.000 (so an inclusive window end always
        // meets one) and one at 23:59:59.999.
        drafts[0].ms = 0;
        if base >= 2 {
            drafts[1].ms = DAY_MS - 1;
        }
        if volume >= LARGE_DETAIL_DAY {
            self.add_large_details(&mut drafts);
        }
        for _ in 0..duplicates {
            let copy = drafts[self.rng.usize(..base)].clone();
            drafts.push(copy);
        }

        let midnight = self.day.and_time(NaiveTime::MIN).and_utc();
        // Stable: equal instants keep their generation order, so the order is deterministic.
        drafts.sort_by_key(|draft| std::cmp::Reverse(draft.ms));
        drafts
            .into_iter()
            .map(|draft| SimEvent { event_time: midnight + Duration::milliseconds(draft.ms), ..draft.event })
            .collect()
    }

    fn platform(&mut self) -> &'static str {
        let mut pick = self.rng.u32(..self.platform_total);
        for (platform, weight) in PLATFORMS.iter().zip(PLATFORM_WEIGHTS) {
            if pick < weight {
                return platform;
            }
            pick -= weight;
        }
        "HTMLCLIENT"
    }

    fn kind(&mut self) -> &'static EventKind {
        let total = self.kind_cdf[self.kind_cdf.len() - 1];
        let pick = self.rng.f64() * total;
        let rank = self.kind_cdf.partition_point(|cum| *cum <= pick);
        &EVENT_KINDS[rank.min(EVENT_KINDS.len() - 1)]
    }

    fn event(&mut self, platform: &str, conversation_id: &str) -> SimEvent {
        let kind = self.kind();
        let event_details = if kind.children.is_empty() {
            self.details()
        } else {
            kind.children[self.rng.usize(..kind.children.len())].to_owned()
        };
        let user_text = if self.rng.usize(..100) < 15 {
            String::new()
        } else {
            USER_TEXTS[self.rng.usize(..USER_TEXTS.len())].to_owned()
        };
        let matched_title = if self.rng.usize(..100) < 80 {
            String::new()
        } else {
            MATCHED_TITLES[self.rng.usize(..MATCHED_TITLES.len())].to_owned()
        };
        SimEvent {
            event_name: kind.name.to_owned(),
            platform: platform.to_owned(),
            event_details,
            user_text,
            event_time: DateTime::<Utc>::MIN_UTC,
            conversation_id: conversation_id.to_owned(),
            matched_title,
        }
    }

    /// A short eventDetails: mostly text, ~5% a JSON object, ~10% empty.
    fn details(&mut self) -> String {
        let rng = &mut self.rng;
        match rng.usize(..100) {
            0..10 => String::new(),
            10..15 => {
                let status = [200, 201, 404, 500][rng.usize(..4)];
                let value = serde_json::json!({
                    "status": status,
                    "latencyMs": rng.u32(3..2_500),
                    "article": { "id": format!("KB-{}", rng.u32(1..9_999)), "title": "Returns, \"fast\" & easy 📦" },
                    "tags": ["faq", "größe", "配送"],
                    "note": "line one\nline two",
                });
                if rng.bool() { value.to_string() } else { serde_json::to_string_pretty(&value).unwrap_or_default() }
            }
            15..30 => "Returned article: null".to_owned(),
            30..40 => format!("Returned article: KB-{}", rng.u32(1..9_999)),
            40..50 => format!("status={}, latency={}ms", [200, 204, 404, 500][rng.usize(..4)], rng.u32(3..2_500)),
            50..55 => "He said \"hi\", then left".to_owned(),
            55..58 => "quoted \"\"twice\"\"".to_owned(),
            58..63 => format!("line one\nline two: {}", rng.u32(..100)),
            63..66 => "windows line\r\nsecond line\r\n".to_owned(),
            66..70 => "Ünïcödé détails — ok".to_owned(),
            70..74 => "配送状況: 発送済み".to_owned(),
            74..77 => "emoji 🎉🔥 party".to_owned(),
            77..79 => " leading and trailing space ".to_owned(),
            79..82 => "a,b,c,d".to_owned(),
            82 => "\"".to_owned(),
            83 => "\"\"".to_owned(),
            84 => ",".to_owned(),
            85 => "\n".to_owned(),
            86..88 => "null".to_owned(),
            88..90 => "back\\slash and tab\there".to_owned(),
            _ => format!("Order #{} shipped", rng.u32(100_000..999_999)),
        }
    }

    /// Gives busy days at least one eventDetails of 8–32 KB (pretty JSON, sometimes CRLF).
    fn add_large_details(&mut self, drafts: &mut [Draft]) {
        let count = 1 + drafts.len() / 8_000;
        let mut placed = 0;
        let mut attempts = 0;
        while placed < count && attempts < 1_000 {
            attempts += 1;
            let index = self.rng.usize(..drafts.len());
            if has_children(&drafts[index].event.event_name) {
                continue;
            }
            let target = self.rng.usize(8 * 1024..=LARGE_DETAIL_MAX);
            drafts[index].event.event_details = self.large_details(target);
            placed += 1;
        }
    }

    fn large_details(&mut self, target: usize) -> String {
        let crlf = self.rng.bool();
        let mut items = Vec::new();
        let mut estimate = 200;
        while estimate < target {
            let title = ["Étagère, \"pine\" 🌲", "Lamp\nwith cable", "靴 (25cm)", "Chair, 4-pack"][self.rng.usize(..4)];
            let item = serde_json::json!({
                "sku": format!("SKU-{:06}", self.rng.u32(..1_000_000)),
                "title": title,
                "qty": self.rng.u32(1..10),
            });
            estimate += item.to_string().len() + 40;
            items.push(item);
        }
        loop {
            let value = serde_json::json!({
                "requestId": random_uuid(&mut self.rng),
                "source": "order-service",
                "items": items,
            });
            let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            if text.len() <= LARGE_DETAIL_MAX || items.is_empty() {
                return text;
            }
            items.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn same_inputs_same_events() {
        let config = SimConfig::default();
        let d = day("2024-05-14");
        let a = detail_events(&config, "bot-support", d);
        let b = detail_events(&config, "bot-support", d);
        assert!(!a.is_empty());
        assert_eq!(a, b);
        let other_seed = SimConfig { seed: 7, ..SimConfig::default() };
        assert_ne!(a, detail_events(&other_seed, "bot-support", d));
        assert_ne!(a, detail_events(&config, "bot-support", day("2024-05-15")));
        assert!(detail_events(&config, "no-such-bot", d).is_empty());
    }

    #[test]
    fn events_are_newest_first_within_the_day_and_hit_both_midnights() {
        let config = SimConfig::default();
        let d = day("2024-05-14");
        let events = detail_events(&config, "bot-support", d);
        assert!(events.windows(2).all(|w| w[0].event_time >= w[1].event_time));
        let midnight = d.and_time(NaiveTime::MIN).and_utc();
        assert_eq!(events[events.len() - 1].event_time, midnight);
        assert_eq!(events[0].event_time, midnight + ONE_DAY - Duration::milliseconds(1));
        for event in &events {
            assert_eq!(event.event_time.timestamp_subsec_nanos() % 1_000_000, 0);
            assert!(platform_index(&event.platform).is_some());
            assert_eq!(event.conversation_id.len(), 36);
        }
    }

    #[test]
    fn data_is_as_awkward_as_real_logs() {
        let config = SimConfig::default();
        let events = detail_events(&config, "bot-busy", day("2024-05-14"));
        let any = |f: &dyn Fn(&SimEvent) -> bool| events.iter().any(f);
        assert!(any(&|e| e.event_details.len() > 8 * 1024));
        assert!(events.iter().all(|e| e.event_details.len() <= LARGE_DETAIL_MAX));
        assert!(any(&|e| e.event_details.contains("\r\n")));
        assert!(any(&|e| e.event_details.contains('\n') && !e.event_details.contains('\r')));
        assert!(any(&|e| e.event_details.contains('"')));
        assert!(any(&|e| e.event_details.is_empty()));
        assert!(any(&|e| e.event_details.starts_with('{')));
        assert!(any(&|e| e.user_text.is_empty()));
        assert!(any(&|e| e.user_text.contains('\n')));
        assert!(any(&|e| e.event_name.contains(',') && e.event_name.contains('"')));
        assert!(any(&|e| e.event_name.contains('🚚')));
        assert!(any(&|e| !e.matched_title.is_empty()));
        let empty_titles = events.iter().filter(|e| e.matched_title.is_empty()).count();
        assert!(empty_titles * 100 > events.len() * 70);
        let duplicates = events.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(duplicates * 100 >= events.len() / 2, "{duplicates} duplicates");
        let platforms: std::collections::BTreeSet<_> = events.iter().map(|e| &e.platform).collect();
        assert!(platforms.len() >= 10);
        // Sub-values of events with children are their details.
        for event in events.iter().filter(|e| has_children(&e.event_name)) {
            assert!(!event.event_details.is_empty() && event.event_details.len() < 8);
        }
    }

    #[test]
    fn volumes_follow_events_per_day() {
        let config = SimConfig::default();
        let start = day("2024-04-01");
        let days: Vec<NaiveDate> = (0..35).map(|i| start + Duration::days(i)).collect();
        let sales: Vec<usize> = days.iter().map(|d| detail_events(&config, "bot-sales", *d).len()).collect();
        let quiet = sales.iter().filter(|n| **n == 0).count();
        assert!((4..=8).contains(&quiet), "{quiet} quiet days");
        assert!(sales.iter().all(|n| *n == 0 || (100..=200).contains(n)), "{sales:?}");
        let support: Vec<usize> = days[..7].iter().map(|d| detail_events(&config, "bot-support", *d).len()).collect();
        assert!(support.iter().all(|n| (560..=1040).contains(n)), "{support:?}");
        assert!(support.iter().min() != support.iter().max());
    }

    #[test]
    fn a_busy_week_exceeds_the_cap_and_a_busy_day_does_not() {
        // Counts only; the generator is what is measured. Worst case by construction:
        // 7 × 16,000 × 0.9 = 100,800 > 100,000 and 16,000 × 1.15 × 1.1 = 20,240.
        let config = SimConfig::default();
        let start = day("2024-04-03");
        let counts: Vec<usize> =
            (0..7).map(|i| detail_events(&config, "bot-busy", start + Duration::days(i)).len()).collect();
        assert!(counts.iter().sum::<usize>() > DEFAULT_ROW_CAP_FOR_TEST, "{counts:?}");
        assert!(counts.iter().all(|n| *n < 25_000), "{counts:?}");
    }

    const DEFAULT_ROW_CAP_FOR_TEST: usize = crate::DEFAULT_ROW_CAP;

    #[test]
    fn days_are_ready_at_three_in_new_york() {
        // EDT (UTC-4) after 2024-03-10, EST (UTC-5) before.
        assert_eq!(ready_at(day("2024-03-10")).to_rfc3339(), "2024-03-11T07:00:00+00:00");
        assert_eq!(ready_at(day("2024-03-09")).to_rfc3339(), "2024-03-10T07:00:00+00:00");
        assert_eq!(ready_at(day("2024-03-08")).to_rfc3339(), "2024-03-09T08:00:00+00:00");
        assert_eq!(ready_at(day("2024-11-02")).to_rfc3339(), "2024-11-03T08:00:00+00:00");
        let config = SimConfig::default();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let before = Availability::new(&config, at("2024-03-11T06:59:59.999Z"));
        let after = Availability::new(&config, at("2024-03-11T07:00:00Z"));
        assert!(!before.has(day("2024-03-10")));
        assert!(after.has(day("2024-03-10")));
        assert!(!after.has(day("2024-03-11")));
        // Retention (30 days) plus the two-day margin.
        assert!(after.has(day("2024-02-08")));
        assert!(!after.has(day("2024-02-07")));
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(Fnv::new().bytes(b"a").0, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(uuid_like(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210), "01234567-89ab-cdef-fedc-ba9876543210");
    }
}
