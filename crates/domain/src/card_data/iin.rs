//! Issuer identification number (IIN) ranges of the card schemes, with the PAN lengths each
//! scheme issues.
//!
//! Source: ISO/IEC 7812-1 (the structure of a PAN), the IIN table of the Wikipedia article
//! "Payment card number" (revision of 2024, which collects the schemes' published ranges),
//! and the schemes' own documents where they publish ranges (Mastercard's 2-series
//! announcement of 2016: 222100–272099; NSPK for Mir: 2200–2204; Troy: 9792; NPCI for RuPay:
//! 60, 65, 81, 82, 508; UATP: 1). Ranges are deliberately wide (a whole scheme prefix rather
//! than today's allocated sub-ranges): missing a card number is worse than refusing a
//! reference that happens to look exactly like one.
//!
//! Lengths: a scheme's current lengths only. Visa issued 13-digit numbers until the early
//! 2000s and Maestro 12- to 15-digit ones; neither is issued any more, and 13-digit numbers
//! are what EAN-13 product codes (a common reference) are made of, so 13 is not a card length
//! here (see docs/security.md, "Card data").

/// One IIN range: `prefix` values `lo..=hi` over the first `digits` digits of the PAN, for
/// PANs of `min_len..=max_len` digits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Range {
    pub lo: u32,
    pub hi: u32,
    pub digits: u8,
    pub min_len: u8,
    pub max_len: u8,
    pub scheme: &'static str,
}

const fn r(lo: u32, hi: u32, digits: u8, min_len: u8, max_len: u8, scheme: &'static str) -> Range {
    Range {
        lo,
        hi,
        digits,
        min_len,
        max_len,
        scheme,
    }
}

/// Every range poigate treats as a card scheme's.
pub(crate) const RANGES: &[Range] = &[
    r(34, 34, 2, 15, 15, "amex"),
    r(37, 37, 2, 15, 15, "amex"),
    r(4, 4, 1, 16, 19, "visa"),
    r(51, 55, 2, 16, 16, "mastercard"),
    r(2221, 2720, 4, 16, 16, "mastercard"),
    r(6011, 6011, 4, 16, 19, "discover"),
    r(644, 649, 3, 16, 19, "discover"),
    r(65, 65, 2, 16, 19, "discover / rupay / troy / elo"),
    r(30, 30, 2, 14, 19, "diners"),
    r(36, 36, 2, 14, 19, "diners"),
    r(38, 39, 2, 14, 19, "diners"),
    r(3528, 3589, 4, 16, 19, "jcb"),
    r(62, 62, 2, 16, 19, "unionpay"),
    r(81, 81, 2, 16, 19, "unionpay / rupay"),
    r(82, 82, 2, 16, 16, "rupay"),
    r(60, 60, 2, 16, 19, "rupay / hipercard / ukrcard"),
    r(508, 508, 3, 16, 16, "rupay"),
    r(353, 353, 3, 16, 16, "rupay"),
    r(356, 356, 3, 16, 16, "rupay"),
    r(50, 50, 2, 16, 19, "maestro / verve / elo / dankort"),
    r(
        56,
        69,
        2,
        16,
        19,
        "maestro / elo / instapayment / interpayment",
    ),
    r(2200, 2204, 4, 16, 19, "mir"),
    r(2205, 2205, 4, 16, 16, "borica"),
    r(1, 1, 1, 15, 15, "uatp"),
    r(9792, 9792, 4, 16, 16, "troy"),
    r(9860, 9860, 4, 16, 16, "humo"),
    r(3841, 3841, 4, 16, 19, "hipercard"),
    r(357111, 357111, 6, 16, 16, "lankapay"),
];

/// The first scheme whose range and lengths hold `digits` (ASCII digits only).
pub(crate) fn scheme_of(digits: &[u8]) -> Option<&'static str> {
    let len = digits.len();
    RANGES
        .iter()
        .find(|range| {
            (usize::from(range.min_len)..=usize::from(range.max_len)).contains(&len)
                && (range.lo..=range.hi).contains(&prefix(digits, usize::from(range.digits)))
        })
        .map(|range| range.scheme)
}

fn prefix(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
}

/// The Luhn (mod 10) check every card number passes.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let v = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = v * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The Luhn check digit that completes `partial` (ASCII digits), for test corpora.
pub fn luhn_check_digit(partial: &str) -> char {
    for d in b'0'..=b'9' {
        let mut candidate: Vec<u8> = partial.bytes().collect();
        candidate.push(d);
        if luhn_valid(&candidate) {
            return char::from(d);
        }
    }
    '0'
}
