//! Which of the forms the vendor's page allows the simulator accepts and answers in.
//!
//! In: nothing (plain data, set in [`SimConfig::dialect`](super::SimConfig::dialect)). Out: the
//! choices the server and the body builders consult, and the few formatting rules that depend on
//! them (hourly dates, platform column names, empty answers).
//!
//! The page is loose: it lists `interval` as "Hourly, Daily", shows dates as
//! `yyyy-mm-ddTHH:MM:SSZ` next to an example with a `-04:00` offset, says an empty result is "a
//! success response with an empty list" for CSV downloads too, and calls the data calls' header
//! value an "Authorization token". The default [`SimDialect`] holds a client to those literal
//! words; every other field value is another reading of the same page, so that a client can be
//! tested against each.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// Declares a form enum whose variants each have a command-line name, with `ALL`, `name`,
/// `describe` (the variant's doc comment, for `--help`), `FromStr` and `Display`. The first
/// variant is the default.
macro_rules! forms {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident {
            $(#[doc = $first_doc:literal])+
            $first:ident = $first_name:literal,
            $( $(#[doc = $doc:literal])+ $variant:ident = $name:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub enum $ty {
            $(#[doc = $first_doc])+
            #[default]
            $first,
            $( $(#[doc = $doc])+ $variant, )*
        }

        impl $ty {
            /// Every form, the default first, in the order `--help` lists them.
            pub const ALL: &'static [$ty] = &[$ty::$first, $($ty::$variant),*];

            /// The form's name on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $ty::$first => $first_name,
                    $($ty::$variant => $name,)*
                }
            }

            /// One line on the form (its documentation), for `--help`.
            pub fn describe(self) -> &'static str {
                match self {
                    $ty::$first => concat!($($first_doc),+).trim(),
                    $($ty::$variant => concat!($($doc),+).trim(),)*
                }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownForm;

            fn from_str(value: &str) -> Result<Self, UnknownForm> {
                Self::ALL.iter().copied().find(|form| form.name() == value).ok_or_else(|| UnknownForm {
                    option: stringify!($ty),
                    value: value.to_owned(),
                    expected: Self::ALL.iter().map(|form| form.name()).collect::<Vec<_>>().join(", "),
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

/// A name that is none of a form's names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {option} {value:?}; expected one of: {expected}")]
pub struct UnknownForm {
    /// The form's type, e.g. `EmptyAnswer`.
    pub option: &'static str,
    /// The name given.
    pub value: String,
    /// The names allowed, comma-separated.
    pub expected: String,
}

/// The most a bucket offset may be, in hours either side of UTC.
pub const MAX_BUCKET_OFFSET_HOURS: i8 = 23;

/// Which forms the simulator accepts in requests and uses in answers.
///
/// Plain data: build it with struct-update syntax over [`SimDialect::default`], the page's
/// literal reading, or start from [`SimDialect::lenient`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimDialect {
    /// How `interval` must be spelled; absent always means daily. Default: `Daily`/`Hourly`
    /// only, the page's words.
    pub interval: IntervalSpelling,
    /// Which `startDate`/`endDate` forms are accepted. Default: any RFC 3339 date-time (the
    /// page shows both the `Z` pattern and an offset example).
    pub dates: DateForm,
    /// The body of a success with no rows or no events. Default: `[]`, the page's "empty
    /// list", for the CSV downloads as well.
    pub empty: EmptyAnswer,
    /// The totals CSV's `Date` with `interval=Hourly`. Default: `2024-05-18 13:00`.
    pub hourly_date: HourlyDate,
    /// Hours east of UTC of the server's clock, which cuts the buckets of the totals and the
    /// histogram: with 2 a daily bucket runs from 22:00Z to 22:00Z. Nonzero offsets return every
    /// bucket that overlaps the window, with all of its events (also those outside the window),
    /// and stamp a daily totals `Date` as `2024-05-17T22:00:00Z`. At most
    /// [`MAX_BUCKET_OFFSET_HOURS`] either way. Default: 0, UTC buckets whose start lies in the
    /// window.
    pub bucket_offset_hours: i8,
    /// The case of the totals CSV's platform columns. Default: `HTMLCLIENT`.
    pub platform_case: PlatformCase,
    /// The shape of the login-domain lookup (`baseURI.json`). Default: one flat object.
    pub discovery: Discovery,
    /// The histogram's counts as strings (`"3"`), zero counts as `null`. Why: some JSON
    /// serializers of the vendor's stack write numbers that way. Default: numbers.
    pub string_counts: bool,
    /// What the data calls' `authorization` header must hold. Default: the access token alone,
    /// as the page's "Authorization token" reads.
    pub data_auth: DataAuth,
}

impl SimDialect {
    /// Any interval case and any RFC 3339 date: what the simulator accepted before it held
    /// clients to the page's words. Answers keep their defaults.
    pub fn lenient() -> Self {
        SimDialect { interval: IntervalSpelling::Lenient, dates: DateForm::Any, ..SimDialect::default() }
    }
}

forms! {
    /// How the `interval` parameter must be spelled.
    pub enum IntervalSpelling {
        /// `Daily` or `Hourly` exactly, as the page lists them; anything else is a 400.
        Strict = "strict",
        /// Any case: `daily`, `DAILY`, `Daily`, `hOURLY`.
        Lenient = "lenient",
        /// `DAILY` or `HOURLY` only.
        Upper = "upper",
        /// `daily` or `hourly` only.
        Lower = "lower",
    }
}

impl IntervalSpelling {
    /// Whether `value` spells `word` (given as `Daily` or `Hourly`) in this form.
    pub(crate) fn spells(self, value: &str, word: &str) -> bool {
        match self {
            IntervalSpelling::Strict => value == word,
            IntervalSpelling::Lenient => value.eq_ignore_ascii_case(word),
            IntervalSpelling::Upper => value == word.to_ascii_uppercase(),
            IntervalSpelling::Lower => value == word.to_ascii_lowercase(),
        }
    }
}

forms! {
    /// Which `startDate` and `endDate` forms are accepted.
    pub enum DateForm {
        /// Any RFC 3339 date-time: `Z` or a numeric offset, with or without fractional seconds.
        Any = "any",
        /// A numeric offset only (`+00:00`, `-04:00`, as in the page's example); `Z` is a 400.
        Offset = "offset",
    }
}

impl DateForm {
    /// Whether the text of an RFC 3339 date-time is in this form.
    pub(crate) fn admits(self, value: &str) -> bool {
        match self {
            DateForm::Any => true,
            // A numeric offset ends in a digit; `Z` does not.
            DateForm::Offset => value.ends_with(|c: char| c.is_ascii_digit()),
        }
    }
}

forms! {
    /// The body of a success that has no rows (downloads) or no events (JSON endpoints).
    pub enum EmptyAnswer {
        /// `[]`, the page's "empty list", for every endpoint.
        Brackets = "brackets",
        /// `[ ]` and a line end.
        Spaced = "spaced",
        /// An empty body.
        Empty = "empty",
        /// The endpoint's usual shape, empty: the CSV header line alone,
        /// `{"customEventList":[]}`, or a histogram with no histories and a total of 0.
        Header = "header",
        /// `{}`.
        Object = "object",
        /// `null`.
        Null = "null",
    }
}

impl EmptyAnswer {
    /// The body, for every form but [`Header`](EmptyAnswer::Header), whose body depends on the
    /// endpoint.
    pub(crate) fn body(self) -> Option<&'static str> {
        match self {
            EmptyAnswer::Brackets => Some("[]"),
            EmptyAnswer::Spaced => Some("[ ]\n"),
            EmptyAnswer::Empty => Some(""),
            EmptyAnswer::Header => None,
            EmptyAnswer::Object => Some("{}"),
            EmptyAnswer::Null => Some("null"),
        }
    }

    /// Whether a CSV download answered this way is JSON rather than CSV.
    pub(crate) fn is_json(self) -> bool {
        !matches!(self, EmptyAnswer::Empty | EmptyAnswer::Header)
    }
}

forms! {
    /// The totals CSV's `Date` with `interval=Hourly`, for an hour starting 2024-05-18 13:00Z.
    pub enum HourlyDate {
        /// `2024-05-18 13:00`.
        SpaceMinutes = "space-minutes",
        /// `2024-05-18 13`.
        SpaceHour = "space-hour",
        /// `2024-05-18T13:00`.
        TMinutes = "t-minutes",
        /// `2024-05-18T13:00:00Z`.
        Rfc3339Z = "rfc3339-z",
        /// `2024-05-18T13:00:00+00:00`.
        Rfc3339Offset = "rfc3339-offset",
        /// `1716037200000` (epoch milliseconds).
        EpochMs = "epoch-ms",
        /// `Date` is `2024-05-18` and a `Time` column after it holds `13:00`.
        TimeColumn = "time-column",
    }
}

impl HourlyDate {
    /// The `Date` of the hour starting at `start`, and the `Time` for
    /// [`TimeColumn`](HourlyDate::TimeColumn).
    pub(crate) fn format(self, start: DateTime<Utc>) -> (String, Option<String>) {
        let text = |pattern: &str| start.format(pattern).to_string();
        match self {
            HourlyDate::SpaceMinutes => (text("%Y-%m-%d %H:00"), None),
            HourlyDate::SpaceHour => (text("%Y-%m-%d %H"), None),
            HourlyDate::TMinutes => (text("%Y-%m-%dT%H:00"), None),
            HourlyDate::Rfc3339Z => (text("%Y-%m-%dT%H:00:00Z"), None),
            HourlyDate::Rfc3339Offset => (text("%Y-%m-%dT%H:00:00+00:00"), None),
            HourlyDate::EpochMs => (start.timestamp_millis().to_string(), None),
            HourlyDate::TimeColumn => (text("%Y-%m-%d"), Some(text("%H:00"))),
        }
    }
}

forms! {
    /// The case of the totals CSV's platform columns.
    pub enum PlatformCase {
        /// `HTMLCLIENT`, `WHATSAPP`: the page's names.
        Upper = "upper",
        /// `HtmlClient`, `WhatsApp`, `InApp_iOS`: the same letters, as a product name is cased.
        Mixed = "mixed",
        /// `htmlclient`, `whatsapp`.
        Lower = "lower",
    }
}

/// The [`PlatformCase::Mixed`] names, in the order of the vendor's platform list.
const MIXED_PLATFORMS: [(&str, &str); 16] = [
    ("FACEBOOK", "Facebook"),
    ("KIK", "Kik"),
    ("TELEGRAM", "Telegram"),
    ("HTMLCLIENT", "HtmlClient"),
    ("SMS", "Sms"),
    ("INAPP", "InApp"),
    ("INAPP_IOS", "InApp_iOS"),
    ("INAPP_ANDROID", "InApp_Android"),
    ("SMS_TWILIO", "Sms_Twilio"),
    ("WHATSAPP", "WhatsApp"),
    ("RCS", "Rcs"),
    ("ABC", "Abc"),
    ("VIBER", "Viber"),
    ("LINE", "Line"),
    ("TWITTER", "Twitter"),
    ("VOICE", "Voice"),
];

impl PlatformCase {
    /// The column name of `platform` (one of the vendor's upper-case names).
    pub(crate) fn column(self, platform: &str) -> String {
        match self {
            PlatformCase::Upper => platform.to_owned(),
            PlatformCase::Lower => platform.to_ascii_lowercase(),
            PlatformCase::Mixed => MIXED_PLATFORMS
                .iter()
                .find(|(upper, _)| *upper == platform)
                .map_or_else(|| platform.to_owned(), |(_, mixed)| (*mixed).to_owned()),
        }
    }
}

forms! {
    /// The shape of the login-domain lookup, `…/service/agentVep/baseURI.json`.
    pub enum Discovery {
        /// `{"service":"agentVep","account":"…","baseURI":"127.0.0.1:PORT"}`.
        Flat = "flat",
        /// The Domain API's collection, `{"baseURIs":[…]}`, with another service listed first:
        /// a client must pick the entry whose `service` is `agentVep`.
        Collection = "collection",
    }
}

forms! {
    /// What the data calls' `authorization` header must hold.
    pub enum DataAuth {
        /// The API access token alone; `Bearer <token>` is a 401.
        Token = "token",
        /// `Bearer <token>`; the token alone is a 401.
        Bearer = "bearer",
    }
}

impl DataAuth {
    /// The access token in an `authorization` value of this form.
    pub(crate) fn token(self, value: &str) -> Option<&str> {
        match self {
            DataAuth::Token => Some(value),
            DataAuth::Bearer => {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_describe_from_the_docs() {
        for form in EmptyAnswer::ALL {
            assert_eq!(form.name().parse::<EmptyAnswer>(), Ok(*form));
        }
        assert_eq!(HourlyDate::default(), HourlyDate::SpaceMinutes);
        assert_eq!(IntervalSpelling::Upper.describe(), "`DAILY` or `HOURLY` only.");
        assert_eq!(
            EmptyAnswer::Header.describe(),
            "The endpoint's usual shape, empty: the CSV header line alone, `{\"customEventList\":[]}`, or a \
             histogram with no histories and a total of 0."
        );
        let err = "Brackets".parse::<EmptyAnswer>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown EmptyAnswer \"Brackets\"; expected one of: brackets, spaced, empty, header, object, null"
        );
    }

    #[test]
    fn spellings() {
        let ok = |form: IntervalSpelling, value: &str| form.spells(value, "Daily");
        assert!(ok(IntervalSpelling::Strict, "Daily") && !ok(IntervalSpelling::Strict, "daily"));
        assert!(ok(IntervalSpelling::Lenient, "dAILY"));
        assert!(ok(IntervalSpelling::Upper, "DAILY") && !ok(IntervalSpelling::Upper, "Daily"));
        assert!(ok(IntervalSpelling::Lower, "daily") && !ok(IntervalSpelling::Lower, "DAILY"));
        assert!(DateForm::Offset.admits("2024-05-18T00:00:00-00:00"));
        assert!(!DateForm::Offset.admits("2024-05-18T00:00:00Z"));
        assert_eq!(DataAuth::Bearer.token("bearer  abc"), Some("abc"));
        assert_eq!(DataAuth::Bearer.token("abc"), None);
        assert_eq!(PlatformCase::Mixed.column("INAPP_IOS"), "InApp_iOS");
        assert_eq!(PlatformCase::Lower.column("HTMLCLIENT"), "htmlclient");
    }
}
