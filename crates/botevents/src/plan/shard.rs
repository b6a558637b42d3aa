//! Sharding: which (account, bot) pairs one of N parallel workers exports.
//!
//! In: `--shard K/N` and the account's bots. Out: the bots of shard K. Guarantees: the
//! assignment depends only on the account id, the bot id and N — not on the order or number of
//! the other bots, the process, the machine or the version of Rust (a hand-written FNV-1a, never
//! std's randomly seeded hasher) — so N tasks `1/N` … `N/N` export disjoint sets of bots that
//! together are all of them, run after run. Bots never share files or state (`SPEC.md` §5), so
//! shards never touch each other's objects.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

/// Shard `K` of `N` (1-based, `1 ≤ K ≤ N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: NonZeroU32,
    count: NonZeroU32,
}

impl Shard {
    /// Shard `index` of `count`; `None` unless `1 ≤ index ≤ count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        let (index, count) = (NonZeroU32::new(index)?, NonZeroU32::new(count)?);
        (index <= count).then_some(Shard { index, count })
    }

    /// K, 1-based.
    pub fn index(self) -> u32 {
        self.index.get()
    }

    /// N.
    pub fn count(self) -> u32 {
        self.count.get()
    }

    /// The shard (1-based) that `account/bot` belongs to among `count` shards.
    pub fn of(account: &str, bot: &str, count: NonZeroU32) -> u32 {
        let h = fnv1a_64([account.as_bytes(), b"/", bot.as_bytes()]);
        (h % u64::from(count.get())) as u32 + 1
    }

    /// Whether this shard exports `bot` of `account`.
    pub fn contains(self, account: &str, bot: &str) -> bool {
        Shard::of(account, bot, self.count) == self.index()
    }

    /// The bots of `bots` that this shard exports, in their order.
    pub fn select(self, account: &str, mut bots: Vec<String>) -> Vec<String> {
        bots.retain(|b| self.contains(account, b));
        bots
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// Parses `K/N`, e.g. `2/4`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = |why: &str| format!("expected K/N with 1 <= K <= N, e.g. 2/4, got {s:?}: {why}");
        let (k, n) = s.trim().split_once('/').ok_or_else(|| bad("no '/'"))?;
        let k: u32 = k.trim().parse().map_err(|_| bad("K is not a whole number"))?;
        let n: u32 = n.trim().parse().map_err(|_| bad("N is not a whole number"))?;
        if n == 0 {
            return Err(bad("N must be at least 1"));
        }
        Shard::new(k, n).ok_or_else(|| bad("K must be between 1 and N"))
    }
}

/// 64-bit FNV-1a over the concatenation of `parts`: tiny, stable across platforms and versions,
/// and spreads short similar ids (`bot-1`, `bot-2` …) well enough for an even split.
fn fnv1a_64<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for part in parts {
        for &b in part {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(count: u32) -> NonZeroU32 {
        NonZeroU32::new(count).unwrap()
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_64([&b""[..]]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64([&b"a"[..]]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64([&b"foobar"[..]]), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a_64([&b"foo"[..], b"bar"]), fnv1a_64([&b"foobar"[..]]), "parts are concatenated");
    }

    /// Pinned: changing the assignment would make a running fleet export some bots twice and
    /// others never during the deploy. These values are FNV-1a 64 of "account/bot" mod N, + 1.
    #[test]
    fn assignment_is_pinned() {
        for (bot, three, seven) in
            [("bot-support", 1, 5), ("bot-sales", 3, 5), ("bot-busy", 2, 1), ("bot-quiet", 3, 2), ("bot-a", 2, 2)]
        {
            assert_eq!(Shard::of("12345678", bot, n(3)), three, "{bot} of 3");
            assert_eq!(Shard::of("12345678", bot, n(7)), seven, "{bot} of 7");
        }
        assert_eq!(Shard::of("12345678", "bot-busy", n(1)), 1);
        assert_eq!(fnv1a_64([&b"12345678/bot-support"[..]]), 0x918c_a9ae_ad5e_fbbd);
    }

    #[test]
    fn shards_are_disjoint_and_complete_and_roughly_even() {
        let bots: Vec<String> = (0..3000).map(|i| format!("bot-{i:04x}")).collect();
        for count in [1u32, 2, 3, 4, 7, 16] {
            let mut seen = vec![0u32; bots.len()];
            let mut sizes = Vec::new();
            for k in 1..=count {
                let shard = Shard::new(k, count).unwrap();
                let mine = shard.select("acct-9", bots.clone());
                sizes.push(mine.len());
                for b in &mine {
                    seen[bots.iter().position(|x| x == b).unwrap()] += 1;
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "{count} shards: every bot in exactly one shard");
            let even = bots.len() / count as usize;
            assert!(sizes.iter().all(|&s| s.abs_diff(even) * 5 < even.max(5)), "{count} shards: sizes {sizes:?}");
        }
    }

    #[test]
    fn the_account_is_part_of_the_key() {
        let differs = (0..100).filter(|i| {
            let bot = format!("b{i}");
            Shard::of("111", &bot, n(4)) != Shard::of("222", &bot, n(4))
        });
        assert!(differs.count() > 40, "the same bot of two accounts lands in independent shards");
    }

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard::new(2, 4).unwrap()));
        assert_eq!(" 1 / 1 ".parse::<Shard>().map(|s| s.to_string()), Ok("1/1".to_string()));
        for bad in ["0/3", "4/3", "1/0", "0/0", "3", "a/3", "1/b", "-1/3", "1/3/5", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains(&format!("{bad:?}")) && err.contains("K/N"), "{bad}: {err}");
        }
        assert!("1/0".parse::<Shard>().unwrap_err().contains("N must be at least 1"));
        assert!("4/3".parse::<Shard>().unwrap_err().contains("between 1 and N"));
    }
}
