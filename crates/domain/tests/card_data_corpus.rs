//! The measured false-positive rate of the card-data policy (issue 13), and its
//! false-negative rate on real test-card numbers in every disguise.
//!
//! A deterministic generator (fixed seed) makes well over 100,000 realistic references in
//! families. Every family that cannot be a card number (a length outside the card lengths,
//! failing Luhn, outside every scheme's range, or a grouping no card is printed with) must be
//! refused 0 times; families that *can* hold a card number by chance (random 13–19-digit
//! strings) are measured and reported. Every published test-card number, in every disguise
//! the policy claims to see through, must be refused.
//!
//! `cargo test -p poigate-domain --test card_data_corpus -- --nocapture` prints the table that
//! docs/security.md quotes.

use poigate_domain::card_data::{luhn_check_digit, scan, scheme_of};

/// SplitMix64: a tiny, well-known deterministic generator (no dependency, fixed seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// `n` to `n + extra` random digits.
    fn digits_up(&mut self, n: usize, extra: u64) -> String {
        let n = n + self.below(extra + 1) as usize;
        self.digits(n)
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const PER_FAMILY: usize = 10_000;

/// (family, can it hold a card number by chance, generator)
type Family = (&'static str, bool, fn(&mut Rng) -> String);

fn ean13(rng: &mut Rng) -> String {
    let body = format!(
        "{}{}",
        rng.pick(&["400", "401", "50", "54", "57", "69", "76", "80", "90", "93"]),
        ""
    );
    let body = format!("{body}{}", rng.digits(12 - body.len()));
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn families() -> Vec<Family> {
    vec![
        ("order numbers", false, |r| match r.below(5) {
            0 => format!("ORD-{}-{}", 2015 + r.below(12), r.digits(6)),
            1 => format!("#{}", r.digits(7)),
            2 => format!("SO{}", r.digits(8)),
            3 => format!("PO-{}-{}", r.digits(5), r.digits(4)),
            _ => format!("order {} table {}", r.digits(6), r.below(40)),
        }),
        ("UUIDs", false, |r| {
            let u = format!(
                "{}-{}-4{}-{}-{}",
                r.hex(8),
                r.hex(4),
                r.hex(3),
                r.hex(4),
                r.hex(12)
            );
            if r.below(2) == 0 {
                u
            } else {
                u.replace('-', "")
            }
        }),
        ("Unix ms timestamps (13 digits)", false, |r| {
            (1_000_000_000_000 + r.below(1_000_000_000_000)).to_string()
        }),
        ("Unix µs timestamps (16 digits)", false, |r| {
            (1_500_000_000_000_000 + r.below(500_000_000_000_000)).to_string()
        }),
        ("EAN-13 / GTIN-13", false, ean13),
        ("IBAN-like, printed and compact", false, |r| {
            let country = r.pick(&["DE", "FR", "GB", "NL", "AT", "CH", "BE", "IT", "ES"]);
            let bban = if country == "GB" || country == "NL" {
                format!(
                    "{}{}",
                    r.pick(&["NWBK", "ABNA", "RABO", "BARC"]),
                    r.digits(14)
                )
            } else {
                r.digits_up(18, 5)
            };
            let compact = format!("{country}{}{bban}", r.digits(2));
            if r.below(2) == 0 {
                compact
            } else {
                compact
                    .as_bytes()
                    .chunks(4)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        }),
        ("ISO dates and date-times", false, |r| {
            let (y, m, d) = (2000 + r.below(40), 1 + r.below(12), 1 + r.below(28));
            let (h, mi, s, ms) = (r.below(24), r.below(60), r.below(60), r.below(1000));
            match r.below(4) {
                0 => format!("{y}-{m:02}-{d:02}"),
                1 => format!("{y}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z"),
                2 => format!("{y}{m:02}{d:02}{h:02}{mi:02}{s:02}"),
                _ => format!("{d:02}/{m:02}/{y} {h:02}:{mi:02}"),
            }
        }),
        ("long receipt numbers (20–30 digits)", false, |r| {
            let n = 20 + r.below(11) as usize;
            match r.below(3) {
                0 => r.digits(n),
                1 => format!("R{}", r.digits(n)),
                _ => format!("receipt {}", r.digits(n)),
            }
        }),
        ("random 20–25-digit strings", false, |r| {
            let n = 20 + r.below(6) as usize;
            r.digits(n)
        }),
        ("NNNN-NNN-NNNNNNNN references", false, |r| {
            format!("{}-{}-{}", r.digits(4), r.digits(3), r.digits(8))
        }),
        ("NNNNNN-NNNNNNNNNN service ids", false, |r| {
            format!("{}-{}", r.digits(6), r.digits(10))
        }),
        ("phone numbers", false, |r| match r.below(3) {
            0 => format!(
                "+{}{}",
                r.pick(&["49", "33", "44", "31", "34", "1"]),
                r.digits_up(9, 1)
            ),
            1 => format!(
                "+{} {} {}",
                r.pick(&["49", "33", "44"]),
                r.digits(3),
                r.digits(7)
            ),
            _ => format!("+1 ({}) {}-{}", r.digits(3), r.digits(3), r.digits(4)),
        }),
        (
            "16-digit numbers in scheme ranges failing Luhn",
            false,
            |r| {
                loop {
                    let body = format!("4{}", r.digits(14));
                    let good = luhn_check_digit(&body);
                    let bad = char::from(b'0' + ((good as u8 - b'0' + 1 + r.below(9) as u8) % 10));
                    let pan = format!("{body}{bad}");
                    if scheme_of(&pan).is_some() {
                        return pan;
                    }
                }
            },
        ),
        (
            "Luhn-valid 16-digit numbers outside every scheme range",
            false,
            |r| {
                loop {
                    let body = format!(
                        "{}{}",
                        r.pick(&[
                            "0", "7", "83", "84", "85", "86", "87", "88", "89", "91", "95"
                        ]),
                        r.digits(13)
                    );
                    let body = format!("{body}{}", r.digits(15 - body.len()));
                    let pan = format!("{body}{}", luhn_check_digit(&body));
                    if scheme_of(&pan).is_none() {
                        return pan;
                    }
                }
            },
        ),
        ("random 16–19-digit strings", true, |r| {
            let n = 16 + r.below(4) as usize;
            r.digits(n)
        }),
        ("random 13–15-digit strings", true, |r| {
            let n = 13 + r.below(3) as usize;
            r.digits(n)
        }),
    ]
}

#[test]
fn realistic_references_that_cannot_be_card_numbers_are_never_refused() {
    let mut rng = Rng(0x706f_6967_6174_6531); // "poigate1"
    let mut total = 0;
    let mut failures = Vec::new();
    println!("| family | values | refused | rate |");
    println!("|---|---:|---:|---:|");
    for (name, can_be_card, generate) in families() {
        let mut refused = 0usize;
        let mut example = None;
        for _ in 0..PER_FAMILY {
            let value = generate(&mut rng);
            if scan(&value).is_some() {
                refused += 1;
                example.get_or_insert(value);
            }
        }
        total += PER_FAMILY;
        println!(
            "| {name}{} | {PER_FAMILY} | {refused} | {:.2} % |",
            if can_be_card {
                " (can be a card number)"
            } else {
                ""
            },
            100.0 * refused as f64 / PER_FAMILY as f64
        );
        if !can_be_card && refused > 0 {
            failures.push(format!("{name}: {refused} refused, e.g. {example:?}"));
        }
    }
    println!("total: {total} values");
    assert!(total >= 100_000);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Published test-card numbers of every scheme (the schemes' and gateways' sandbox
/// documentation), plus numbers built from a scheme's IIN with a computed check digit where
/// no published one is at hand (marked `built`).
fn test_cards() -> Vec<(&'static str, String)> {
    let mut cards: Vec<(&'static str, String)> = [
        ("visa", "4111111111111111"),
        ("visa", "4012888888881881"),
        ("visa", "4242424242424242"),
        ("visa", "4000056655665556"),
        ("visa 19", "4917610000000000003"),
        ("mastercard", "5555555555554444"),
        ("mastercard", "5105105105105100"),
        ("mastercard 2-series", "2223003122003222"),
        ("mastercard 2-series", "2221000000000009"),
        ("amex", "378282246310005"),
        ("amex", "371449635398431"),
        ("discover", "6011111111111117"),
        ("discover", "6011000990139424"),
        ("diners", "30569309025904"),
        ("diners", "38520000023237"),
        ("diners", "36227206271667"),
        ("jcb", "3530111333300000"),
        ("jcb", "3566002020360505"),
        ("unionpay", "6200000000000005"),
        ("unionpay", "6212345678901265"),
        ("unionpay", "6250941006528599"),
        ("unionpay 19", "8171999900000000021"),
        ("maestro", "6759649826438453"),
        ("maestro 19", "6799990100000000019"),
        ("maestro", "6304000000000000"),
        ("mir", "2200000000000004"),
        ("mir", "2201382000000013"),
        ("uatp", "135410014004955"),
        ("elo", "5066991111111118"),
        ("hipercard", "6062826786276634"),
        ("dankort", "5019717010103742"),
        ("instapayment", "6370950000000005"),
    ]
    .into_iter()
    .map(|(s, p)| (s, p.to_string()))
    .collect();
    for (scheme, prefix) in [
        ("troy (built)", "979200000000000"),
        ("rupay (built)", "652100000000000"),
        ("rupay (built)", "508500000000000"),
        ("rupay (built)", "817200000000000"),
        ("humo (built)", "986000000000000"),
        ("borica (built)", "220500000000000"),
        ("lankapay (built)", "357111000000000"),
        ("hipercard 3841 (built)", "384100000000000"),
    ] {
        cards.push((scheme, format!("{prefix}{}", luhn_check_digit(prefix))));
    }
    cards
}

/// The printed layout for a PAN of this length and scheme.
fn layout(scheme: &str, len: usize) -> &'static [usize] {
    match (len, scheme) {
        (14, _) => &[4, 6, 4],
        (15, s) if s.starts_with("uatp") => &[4, 5, 6],
        (15, _) => &[4, 6, 5],
        (17, _) => &[4, 4, 4, 4, 1],
        (18, _) => &[4, 4, 4, 4, 2],
        (19, _) => &[4, 4, 4, 4, 3],
        _ => &[4, 4, 4, 4],
    }
}

fn grouped(pan: &str, layout: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for g in layout {
        out.push(&pan[at..at + g]);
        at += g;
    }
    out.join(sep)
}

fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(0xFF10 + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

fn disguises(scheme: &str, pan: &str) -> Vec<(&'static str, String)> {
    let l = layout(scheme, pan.len());
    let mut out = vec![("contiguous", pan.to_string())];
    for (name, sep) in [
        ("spaces", " "),
        ("dashes", "-"),
        ("dots", "."),
        ("underscores", "_"),
        ("slashes", "/"),
        ("double spaces", "  "),
        ("spaced dashes", " - "),
        ("no-break spaces", "\u{a0}"),
    ] {
        out.push((name, grouped(pan, l, sep)));
    }
    out.push(("full-width", full_width(pan)));
    out.push(("full-width grouped", full_width(&grouped(pan, l, " "))));
    out.push((
        "mathematical digits",
        pan.chars()
            .map(|c| char::from_u32(0x1D7CE + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
            .collect(),
    ));
    out.push((
        "in a sentence",
        format!("Paid with card {} thanks", grouped(pan, l, " ")),
    ));
    out.push(("after a label", format!("PAN:{pan}")));
    out.push(("in JSON", format!("{{\"pan\":\"{pan}\"}}")));
    out.push(("with expiry", format!("{} 12/29", grouped(pan, l, " "))));
    out.push(("in parentheses", format!("({pan})")));
    out.push(("track 1", format!("%B{pan}^DOE/JOHN^2912101000000000?")));
    out.push(("track 2", format!(";{pan}=29121010000000000?")));
    out
}

#[test]
fn every_test_card_in_every_disguise_is_refused() {
    let mut checked = 0;
    let mut missed = Vec::new();
    for (scheme, pan) in test_cards() {
        assert!(
            scheme_of(&pan).is_some(),
            "{scheme} {pan} outside the IIN table"
        );
        for (disguise, text) in disguises(scheme, &pan) {
            checked += 1;
            if scan(&text).is_none() {
                missed.push(format!("{scheme} {disguise}: {text}"));
            }
        }
    }
    println!(
        "card corpus: {checked} disguised test-card numbers, {} missed",
        missed.len()
    );
    assert!(missed.is_empty(), "{missed:#?}");
}
