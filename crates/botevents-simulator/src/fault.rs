//! Faults: what the simulator can do wrong, on demand or at random, and the body wrappers that
//! do it.
//!
//! In: faults queued by a test ([`Faults::inject`]) and an optional seeded [`Chaos`] mix. Out: for
//! each request that would otherwise succeed, at most one [`Fault`] ([`Faults::next`]). Queued
//! faults come first, in the order injected; then the chaos draw. Draws come from one seeded
//! generator, so a run sees the same sequence of faults for the same sequence of requests.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

/// How long a broken body waits after its last bytes before it breaks the connection, so
/// that the client receives exactly the bytes promised.
const FLUSH_PAUSE: Duration = Duration::from_millis(20);

/// The longest 429 burst a chaos draw starts (consecutive requests of the same scope).
const MAX_BURST: u32 = 3;

/// One failure of one response.
///
/// Status faults replace the answer; body faults (`Truncate`, `ShortBody`, `Slow`, `Stall`) act
/// on the body of the normal answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and no body; a 429 also carries `Retry-After: 1`.
    Status(u16),
    /// A 429, with `Retry-After` (seconds) or without.
    RateLimited {
        /// The `Retry-After` header, if any.
        retry_after_secs: Option<u32>,
    },
    /// Close the connection before sending any response.
    Drop,
    /// Never answer (until the simulator shuts down): the client's read timeout must end it.
    Hang,
    /// Send the status, the headers (chunked) and the first `after_bytes` bytes of the body, then
    /// break the connection (the body never completes).
    Truncate {
        /// Bytes of the body sent before the connection breaks.
        after_bytes: usize,
    },
    /// Promise a `Content-Length` and send only the first `after_bytes` bytes of it, then close.
    ShortBody {
        /// Bytes of the body sent.
        after_bytes: usize,
    },
    /// Send the headers and the first `after_bytes` bytes of the body, then go silent (until the
    /// simulator shuts down).
    Stall {
        /// Bytes of the body sent before the silence.
        after_bytes: usize,
    },
    /// Serve the normal body, pausing this long before every chunk.
    Slow {
        /// The pause before each chunk.
        chunk_delay: Duration,
    },
}

impl Fault {
    /// A short name, used in statistics and accepted by [`FromStr`] (with the parameter after
    /// a colon).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Status(429) => "429",
            Fault::Status(_) => "status",
            Fault::RateLimited { retry_after_secs: Some(_) } => "429",
            Fault::RateLimited { retry_after_secs: None } => "429-bare",
            Fault::Drop => "drop",
            Fault::Hang => "hang",
            Fault::Truncate { .. } => "truncate",
            Fault::ShortBody { .. } => "short",
            Fault::Stall { .. } => "stall",
            Fault::Slow { .. } => "slow",
        }
    }

    fn is_rate_limit(&self) -> bool {
        matches!(self, Fault::Status(429) | Fault::RateLimited { .. })
    }

    /// Every kind, with parameters that suit a test run against a client with a short read
    /// timeout: the mix of `--fault-mix all`.
    pub fn all() -> Vec<Fault> {
        vec![
            Fault::Status(500),
            Fault::Status(502),
            Fault::Status(503),
            Fault::RateLimited { retry_after_secs: Some(1) },
            Fault::RateLimited { retry_after_secs: None },
            Fault::Drop,
            Fault::Hang,
            Fault::Truncate { after_bytes: 1_000 },
            Fault::ShortBody { after_bytes: 1_000 },
            Fault::Stall { after_bytes: 1_000 },
            Fault::Slow { chunk_delay: Duration::from_millis(2) },
        ]
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status(code) => write!(f, "{code}"),
            Fault::RateLimited { retry_after_secs: Some(secs) } => write!(f, "429:{secs}"),
            Fault::RateLimited { retry_after_secs: None } => f.write_str("429-bare"),
            Fault::Drop | Fault::Hang => f.write_str(self.kind()),
            Fault::Truncate { after_bytes } | Fault::ShortBody { after_bytes } | Fault::Stall { after_bytes } => {
                write!(f, "{}:{after_bytes}", self.kind())
            }
            Fault::Slow { chunk_delay } => write!(f, "slow:{}ms", chunk_delay.as_millis()),
        }
    }
}

/// `503`, `429`, `429:5` (Retry-After 5 s), `429-bare` (no Retry-After), `drop`, `hang`,
/// `truncate:BYTES`, `short:BYTES`, `stall:BYTES`, `slow:MS[ms]`.
impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, arg) = match s.split_once(':') {
            Some((kind, arg)) => (kind, Some(arg)),
            None => (s, None),
        };
        let number = |what: &str| -> Result<usize, String> {
            let arg = arg.ok_or_else(|| format!("fault '{kind}' needs :{what}"))?;
            arg.trim_end_matches("ms").parse().map_err(|_| format!("fault '{s}': '{arg}' is not a number of {what}"))
        };
        let no_arg = |fault: Fault| match arg {
            None => Ok(fault),
            Some(_) => Err(format!("fault '{kind}' takes no parameter")),
        };
        match kind {
            "429-bare" => no_arg(Fault::RateLimited { retry_after_secs: None }),
            "429" => match arg {
                None => Ok(Fault::Status(429)),
                Some(_) => {
                    let secs = u32::try_from(number("seconds")?).map_err(|e| e.to_string())?;
                    Ok(Fault::RateLimited { retry_after_secs: Some(secs) })
                }
            },
            "drop" => no_arg(Fault::Drop),
            "hang" => no_arg(Fault::Hang),
            "truncate" => Ok(Fault::Truncate { after_bytes: number("bytes")? }),
            "short" => Ok(Fault::ShortBody { after_bytes: number("bytes")? }),
            "stall" => Ok(Fault::Stall { after_bytes: number("bytes")? }),
            "slow" => Ok(Fault::Slow { chunk_delay: Duration::from_millis(number("milliseconds")? as u64) }),
            code => match code.parse::<u16>() {
                Ok(code @ 400..=599) if arg.is_none() => Ok(Fault::Status(code)),
                _ => Err(format!(
                    "unknown fault '{s}' (expected an HTTP status 400-599, 429:SECS, 429-bare, drop, hang, \
                     truncate:BYTES, short:BYTES, stall:BYTES or slow:MS)"
                )),
            },
        }
    }
}

/// Random faults: each request that would otherwise succeed gets one with probability
/// `percent`/100, chosen uniformly from `mix`. A drawn 429 starts a burst: the next 0–2
/// requests of the same scope get it too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chaos {
    /// Seeds the draws.
    pub seed: u64,
    /// Per cent of requests that fail (0–100).
    pub percent: u32,
    /// The faults to choose from.
    pub mix: Vec<Fault>,
    /// Also fail login and SSO requests (with the status faults and `Drop`/`Hang` of the mix),
    /// not only data requests.
    pub auth: bool,
}

/// Which requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// The four data endpoints.
    Data,
    /// Login and SSO.
    Auth,
}

/// The fault state of one simulator.
pub(crate) struct Faults {
    queued: BTreeMap<Scope, VecDeque<Fault>>,
    chaos: Option<(Chaos, fastrand::Rng)>,
    burst: BTreeMap<Scope, (Fault, u32)>,
    /// A fault served once to each distinct data request (path and query) that contains the
    /// text, on its first otherwise successful attempt.
    once_each: Option<(Fault, String, std::collections::HashSet<String>)>,
    /// A fault served to every data request (path and query) that contains the text.
    always: Option<(Fault, String)>,
    /// Faults served, by [`Fault::kind`].
    pub(crate) served: BTreeMap<String, u64>,
}

impl Faults {
    pub(crate) fn new(chaos: Option<Chaos>) -> Self {
        Faults {
            queued: BTreeMap::new(),
            chaos: chaos.filter(|c| c.percent > 0 && !c.mix.is_empty()).map(|c| {
                let rng = fastrand::Rng::with_seed(c.seed);
                (c, rng)
            }),
            burst: BTreeMap::new(),
            once_each: None,
            always: None,
            served: BTreeMap::new(),
        }
    }

    pub(crate) fn once_each(&mut self, fault: Fault, matching: &str) {
        self.once_each = Some((fault, matching.to_owned(), Default::default()));
    }

    pub(crate) fn always(&mut self, fault: Fault, matching: &str) {
        self.always = Some((fault, matching.to_owned()));
    }

    pub(crate) fn inject(&mut self, scope: Scope, fault: Fault, times: u32) {
        self.queued.entry(scope).or_default().extend(std::iter::repeat_n(fault, times as usize));
    }

    /// The fault for the next otherwise successful request of `scope` (`request`: its path and
    /// query), if any.
    pub(crate) fn next(&mut self, scope: Scope, request: &str) -> Option<Fault> {
        let fault = self
            .queued
            .get_mut(&scope)
            .and_then(VecDeque::pop_front)
            .or_else(|| self.every_attempt(scope, request))
            .or_else(|| self.first_attempt(scope, request))
            .or_else(|| self.draw(scope))?;
        *self.served.entry(fault.kind().to_owned()).or_default() += 1;
        Some(fault)
    }

    fn every_attempt(&self, scope: Scope, request: &str) -> Option<Fault> {
        let (fault, matching) = self.always.as_ref().filter(|_| scope == Scope::Data)?;
        request.contains(matching.as_str()).then_some(*fault)
    }

    fn first_attempt(&mut self, scope: Scope, request: &str) -> Option<Fault> {
        let (fault, matching, seen) = self.once_each.as_mut().filter(|_| scope == Scope::Data)?;
        (request.contains(matching.as_str()) && seen.insert(request.to_owned())).then_some(*fault)
    }

    fn draw(&mut self, scope: Scope) -> Option<Fault> {
        if let Some((fault, left)) = self.burst.get_mut(&scope) {
            let fault = *fault;
            *left -= 1;
            if *left == 0 {
                self.burst.remove(&scope);
            }
            return Some(fault);
        }
        let (chaos, rng) = self.chaos.as_mut()?;
        if scope == Scope::Auth && !chaos.auth {
            return None;
        }
        if rng.u32(0..100) >= chaos.percent {
            return None;
        }
        let usable: Vec<Fault> = match scope {
            Scope::Data => chaos.mix.clone(),
            // Login and SSO answers are one small JSON body: body faults would mostly not bite.
            Scope::Auth => chaos
                .mix
                .iter()
                .copied()
                .filter(|f| matches!(f, Fault::Status(_) | Fault::RateLimited { .. } | Fault::Drop | Fault::Hang))
                .collect(),
        };
        let fault = *usable.get(rng.usize(0..usable.len().max(1)))?;
        if fault.is_rate_limit() {
            let more = rng.u32(0..MAX_BURST);
            if more > 0 {
                self.burst.insert(scope, (fault, more));
            }
        }
        Some(fault)
    }
}

/// Applies a body fault: a broken connection after some bytes, a stall, or a pause before every
/// chunk. `closing` resolves when the simulator shuts down.
pub(crate) fn with_fault(
    chunks: BoxStream<'static, io::Result<Bytes>>,
    fault: Fault,
    closing: impl Future<Output = ()> + Send + 'static,
) -> BoxStream<'static, io::Result<Bytes>> {
    match fault {
        Fault::Slow { chunk_delay } => chunks
            .then(move |chunk| async move {
                tokio::time::sleep(chunk_delay).await;
                chunk
            })
            .boxed(),
        Fault::Truncate { after_bytes } => prefix(chunks, after_bytes)
            .chain(stream::once(async {
                // Let the connection flush what was sent before it breaks.
                tokio::time::sleep(FLUSH_PAUSE).await;
                Err(io::Error::other("injected fault: connection broken"))
            }))
            .boxed(),
        Fault::Stall { after_bytes } => prefix(chunks, after_bytes)
            .chain(stream::once(async move {
                closing.await;
                Err(io::Error::other("injected fault: stalled body ended by shutdown"))
            }))
            .boxed(),
        // A fault without a body effect (`ShortBody` is applied on the whole response).
        _ => chunks,
    }
}

/// Ends a body after a pause that lets the connection flush what was sent before.
pub(crate) fn pause_then_end() -> impl futures::Stream<Item = io::Result<Bytes>> + Send + 'static {
    stream::once(tokio::time::sleep(FLUSH_PAUSE)).filter_map(|()| async { None })
}

/// The first `limit` bytes of `chunks` (fewer if the body is shorter; an error ends it early).
pub(crate) fn prefix(
    chunks: BoxStream<'static, io::Result<Bytes>>,
    limit: usize,
) -> BoxStream<'static, io::Result<Bytes>> {
    stream::unfold((chunks, limit), |(mut chunks, remaining)| async move {
        if remaining == 0 {
            return None;
        }
        match chunks.next().await? {
            Ok(chunk) if chunk.len() < remaining => {
                let left = remaining - chunk.len();
                Some((Ok(chunk), (chunks, left)))
            }
            Ok(chunk) => Some((Ok(chunk.slice(..remaining)), (chunks, 0))),
            Err(err) => Some((Err(err), (chunks, 0))),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_print() {
        for (text, fault) in [
            ("503", Fault::Status(503)),
            ("429", Fault::Status(429)),
            ("429:7", Fault::RateLimited { retry_after_secs: Some(7) }),
            ("429-bare", Fault::RateLimited { retry_after_secs: None }),
            ("drop", Fault::Drop),
            ("hang", Fault::Hang),
            ("truncate:70000", Fault::Truncate { after_bytes: 70_000 }),
            ("short:10", Fault::ShortBody { after_bytes: 10 }),
            ("stall:0", Fault::Stall { after_bytes: 0 }),
            ("slow:5ms", Fault::Slow { chunk_delay: Duration::from_millis(5) }),
        ] {
            assert_eq!(text.parse::<Fault>(), Ok(fault), "{text}");
            assert_eq!(fault.to_string().parse::<Fault>(), Ok(fault), "{fault}");
        }
        for bad in ["200", "truncate", "truncate:x", "drop:1", "teapot", "999"] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
    }

    #[test]
    fn queued_faults_come_first_then_the_seeded_draw() {
        let chaos = Chaos { seed: 7, percent: 50, mix: Fault::all(), auth: false };
        let draws = |queue: bool| {
            let mut faults = Faults::new(Some(chaos.clone()));
            if queue {
                faults.inject(Scope::Data, Fault::Drop, 2);
            }
            (0..200).map(|_| faults.next(Scope::Data, "")).collect::<Vec<_>>()
        };
        let plain = draws(false);
        assert_eq!(plain, draws(false), "same seed, same faults");
        let hits = plain.iter().filter(|f| f.is_some()).count();
        assert!((70..=140).contains(&hits), "about half (bursts included): {hits}");
        let queued = draws(true);
        assert_eq!(&queued[..2], &[Some(Fault::Drop), Some(Fault::Drop)]);
        assert_eq!(&queued[2..], &plain[..198]);
        let mut faults = Faults::new(Some(chaos));
        assert!((0..100).all(|_| faults.next(Scope::Auth, "").is_none()), "auth is opt-in");
    }

    #[test]
    fn matching_faults_come_once_each_or_always() {
        let mut faults = Faults::new(None);
        faults.once_each(Fault::Drop, "bot-a");
        faults.always(Fault::Status(401), "bot-b");
        let mut next = |request: &str| faults.next(Scope::Data, request);
        assert_eq!(
            (next("/bot-a?x=1"), next("/bot-a?x=1"), next("/bot-a?x=2")),
            (Some(Fault::Drop), None, Some(Fault::Drop))
        );
        assert!((0..5).all(|_| next("/bot-b?x=1") == Some(Fault::Status(401))), "every attempt");
        assert_eq!(next("/bot-c?x=1"), None);
        assert_eq!(faults.next(Scope::Auth, "/bot-b"), None, "data requests only");
    }

    #[test]
    fn a_drawn_429_comes_in_bursts() {
        let chaos = Chaos { seed: 1, percent: 30, mix: vec![Fault::Status(429)], auth: true };
        let mut faults = Faults::new(Some(chaos));
        let draws: Vec<bool> = (0..2000).map(|_| faults.next(Scope::Auth, "").is_some()).collect();
        let longest = draws.split(|hit| !hit).map(<[bool]>::len).max().unwrap_or(0);
        assert!(longest >= 3, "bursts of consecutive 429s: longest {longest}");
    }
}
