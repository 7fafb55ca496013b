//! Server-side session sampling: the same rule as the script's (`inSample` in
//! sdk/src/session.js), so a site's `sample_rate` keeps exactly the sessions whose pages were told
//! to send, and drops whatever an older page or a cached configuration still sends.
//!
//! The script's session ids are 16 base-32 digits (`[0-9a-v]`, 5 uniform random bits each); the
//! key is the first 6 digits (30 bits) as a fraction of 2^30, and a session is in when that
//! fraction is below the rate. Other agents' ids (Faro's, web-vitals' synthesized ones) do not
//! start with 6 such digits: their key is 30 bits of a fixed hash of the whole id instead, which is
//! as uniform and as stable across collectors, processes and versions.

use rum_schema::stable_hash::Fnv1a;

/// Key digits the script reads.
const KEY_DIGITS: usize = 6;
/// 2^30: the key's range.
const KEY_RANGE: f64 = (1u64 << 30) as f64;

/// Whether session `session_id` is in a sample of `rate` (0..1) of all sessions.
pub fn in_sample(session_id: &str, rate: f64) -> bool {
    (key(session_id) as f64) / KEY_RANGE < rate
}

/// The session's sampling key, 0..2^30.
fn key(session_id: &str) -> u64 {
    let digits = session_id.as_bytes().get(..KEY_DIGITS);
    let parsed = digits.and_then(|digits| {
        digits.iter().try_fold(0u64, |key, digit| {
            let value = match digit {
                b'0'..=b'9' => digit - b'0',
                b'a'..=b'v' => digit - b'a' + 10,
                _ => return None,
            };
            Some(key << 5 | u64::from(value))
        })
    });
    parsed.unwrap_or_else(|| Fnv1a::default().write(session_id.as_bytes()).finish() >> 34)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Session ids with the decision the script makes for them, produced by running
    /// sdk/src/session.js's `inSample` in Node (sdk/test/unit/sampling.test.mjs checks the same
    /// table from the script's side, so the two cannot drift apart).
    const AGREED: &[(&str, f64, bool)] = &[
        ("0000000000000000", 0.0001, true),
        ("0000000000000000", 0.0, false),
        ("vvvvvvvvvvvvvvvv", 1.0, true),
        ("vvvvvvvvvvvvvvvv", 0.9999, false),
        ("g000000000000000", 0.5, false),
        ("fvvvvv0000000000", 0.5, true),
        ("8000000000000000", 0.25, false),
        ("7vvvvvvvvvvvvvvv", 0.25, true),
        ("3ab9k0qq1m2n3o4p", 0.1, false),
        ("3ab9k0qq1m2n3o4p", 0.2, true),
        ("1t5ge7a0b1c2d3e4", 0.06, true),
        ("1t5ge7a0b1c2d3e4", 0.05, false),
    ];

    #[test]
    fn the_edge_decides_as_the_script_does() {
        for (id, rate, expected) in AGREED {
            assert_eq!(in_sample(id, *rate), *expected, "{id} at {rate}");
        }
    }

    #[test]
    fn the_rates_keep_their_share_of_sessions() {
        // Script-shaped ids from a fixed generator, and foreign ids: both uniform.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let digits = b"0123456789abcdefghijklmnopqrstuv";
        let script_ids: Vec<String> = (0..20_000)
            .map(|_| {
                (0..16)
                    .map(|_| digits[(next() % 32) as usize] as char)
                    .collect()
            })
            .collect();
        let foreign_ids: Vec<String> = (0..20_000).map(|n| format!("faro-{n}-x")).collect();
        for ids in [&script_ids, &foreign_ids] {
            for rate in [0.0, 0.1, 0.5, 1.0] {
                let kept = ids.iter().filter(|id| in_sample(id, rate)).count() as f64;
                let share = kept / ids.len() as f64;
                assert!((share - rate).abs() < 0.015, "{rate}: kept {share}");
            }
        }
        // Nested: a session kept at 10% is kept at 50%.
        assert!(
            script_ids
                .iter()
                .filter(|id| in_sample(id, 0.1))
                .all(|id| in_sample(id, 0.5))
        );
    }
}
