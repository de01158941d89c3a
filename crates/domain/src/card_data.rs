//! The one card-data policy of poigate: what counts as a card number, track data or a
//! card-secret key in free text, so it is refused before it reaches storage, logs or webhooks.
//!
//! PCI DSS forbids us to keep a full PAN, track data, a CVV or a PIN. Every place where free
//! text enters poigate (API fields, dialect fields, headers, terminal registration, the
//! terminal link) asks this module, and nothing else. The rules, with their reasons (also in
//! docs/security.md, "Card data"):
//!
//! 1. **Normalise** with Unicode NFKC, so full-width `４１１１`, mathematical digits and
//!    no-break spaces become ASCII digits and spaces.
//! 2. **Whole tokens only.** A digit run glued to a letter or another digit-bearing character
//!    is part of a longer token (`INV4111…`, a UUID), never a card number. A digit run shorter
//!    than 13 or longer than 19 is not a card number either, and windows inside a longer run
//!    are never tested: `ref-00004111111111111111` is a 20-digit reference.
//! 3. **Printed groupings.** Digit groups joined by the same separator (1 to 3 of space, `-`,
//!    `.`, `_`, `/`, so `4111.1111.1111.1111` and double spaces count) are joined only when the
//!    group lengths are a layout cards are printed with ([`LAYOUTS`]: 4-4-4-4, 4-6-5, 4-6-4,
//!    4-5-6, 4-4-4-4-1..3). A grouping no card uses (`NNNN-NNN-NNNNNNNN`, `000379-1061545662`,
//!    dates, phone numbers) is not a card. A group touching two different separators (the
//!    `12` of `4111 1111 1111 1111 12/25`) is tried both in and out of each chain. A chain that
//!    continues a token of letters and digits (`DE89 3704 0044 …`, an IBAN) is not a card.
//! 4. **A card number** is then a candidate of 13–19 digits that passes Luhn and lies in a
//!    scheme's IIN range with a length that scheme issues ([`iin`]).
//! 5. **Track data**: `%B` + digits + `^` (track 1) or `;` + digits + `=` (track 2), whatever
//!    the digits.
//! 6. **Card-secret keys**: a key (metadata key, form field name) that names card data —
//!    `cvv`, `cvc`, `pin`, `pin_block`, `track2`, `pan`, `card_number`, … — compared without
//!    case and separators.
//!
//! Errors name the field and never echo the value: the value is the secret.

mod iin;

pub use iin::luhn_check_digit;

use crate::validation::ValidationErrors;
use unicode_normalization::UnicodeNormalization;

/// The stable error code of a refused field.
pub const CODE: &str = "card_data_not_allowed";

/// What was found (never the value itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// A full card number (PAN), in any accepted disguise.
    CardNumber,
    /// Magnetic-stripe track 1 or track 2 data.
    TrackData,
}

/// Group-length layouts cards are printed with. A chain of digit groups is joined into one
/// candidate only when its group lengths are one of these.
pub const LAYOUTS: &[&[usize]] = &[
    &[4, 4, 4, 4],
    &[4, 4, 4, 4, 1],
    &[4, 4, 4, 4, 2],
    &[4, 4, 4, 4, 3],
    &[4, 6, 5],
    &[4, 6, 4],
    &[4, 5, 6],
];

/// Characters that may separate the printed groups of a card number (after NFKC).
const SEPARATORS: &[char] = &[' ', '-', '.', '_', '/'];

/// Whether `text` contains a card number or track data.
pub fn contains_card_data(text: &str) -> bool {
    scan(text).is_some()
}

/// What card data `text` contains, if any.
pub fn scan(text: &str) -> Option<Finding> {
    // ASCII text needs no normalisation (most references are ASCII).
    let chars: Vec<char> = if text.is_ascii() {
        text.chars().collect()
    } else {
        text.nfkc().collect()
    };
    if has_track_data(&chars) {
        return Some(Finding::TrackData);
    }
    if has_card_number(&chars) {
        return Some(Finding::CardNumber);
    }
    None
}

/// Whether `key` (a metadata key, a form field name) names card data such as a CVV or PIN.
pub fn is_card_secret_key(key: &str) -> bool {
    let folded: String = key
        .nfkc()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS.contains(&folded.as_str())
}

/// Key names (lowercase, separators removed) that name card data.
const SECRET_KEYS: &[&str] = &[
    "cvv",
    "cvv2",
    "cvc",
    "cvc2",
    "cvn",
    "cid",
    "csc",
    "cav2",
    "securitycode",
    "cardsecuritycode",
    "cardverificationvalue",
    "pin",
    "pinblock",
    "pincode",
    "epb",
    "track",
    "track1",
    "track2",
    "track3",
    "trackdata",
    "track1data",
    "track2data",
    "magstripe",
    "pan",
    "fullpan",
    "cardnumber",
    "cardno",
    "cardnum",
    "ccnumber",
    "ccnum",
    "ccno",
    "creditcardnumber",
    "primaryaccountnumber",
];

/// Adds a `card_data_not_allowed` error for `field` when `value` holds card data. The
/// message names the field only.
pub fn check_value(errors: &mut ValidationErrors, field: &str, value: &str) {
    if let Some(finding) = scan(value) {
        errors.add(field, CODE, message(field, finding));
    }
}

/// Adds a `card_data_not_allowed` error for `field` when the key names card data (`cvv`,
/// `pin_block`, …) or holds card data itself.
pub fn check_key(errors: &mut ValidationErrors, field: &str, key: &str) {
    if is_card_secret_key(key) {
        errors.add(
            field,
            CODE,
            format!("{field}: keys that name card data (CVV, PIN, track data, card number) are not allowed; poigate never stores them"),
        );
    } else {
        check_value(errors, field, key);
    }
}

/// The message of a refusal: the field and the kind of data, never the value.
pub fn message(field: &str, finding: Finding) -> String {
    match finding {
        Finding::CardNumber => {
            format!("{field} seems to contain a card number, which poigate never stores")
        }
        Finding::TrackData => format!(
            "{field} seems to contain magnetic-stripe track data, which poigate never stores"
        ),
    }
}

fn has_track_data(chars: &[char]) -> bool {
    for (i, &c) in chars.iter().enumerate() {
        let (start, end_marker) = match c {
            '%' if matches!(chars.get(i + 1), Some('B' | 'b')) => (i + 2, '^'),
            ';' => (i + 1, '='),
            _ => continue,
        };
        let digits = chars[start..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if (12..=19).contains(&digits) && chars.get(start + digits) == Some(&end_marker) {
            return true;
        }
    }
    false
}

/// A maximal run of ASCII digits, `start..end` in chars.
#[derive(Clone, Copy, Debug)]
struct Run {
    start: usize,
    end: usize,
    /// Not glued to an alphanumeric character on either side.
    free: bool,
}

fn runs(chars: &[char]) -> Vec<Run> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let glued_left = start > 0 && chars[start - 1].is_alphanumeric();
        let glued_right = i < chars.len() && chars[i].is_alphanumeric();
        out.push(Run {
            start,
            end: i,
            free: !glued_left && !glued_right,
        });
    }
    out
}

/// The separator between runs `a` and `b` when both are free and it is card-like (1 to 3
/// separator characters).
fn gap<'a>(chars: &'a [char], a: &Run, b: &Run) -> Option<&'a [char]> {
    if !(a.free && b.free) {
        return None;
    }
    let g = &chars[a.end..b.start];
    ((1..=3).contains(&g.len()) && g.iter().all(|c| SEPARATORS.contains(c))).then_some(g)
}

fn has_card_number(chars: &[char]) -> bool {
    let runs = runs(chars);
    let digits_of = |rs: &[Run]| -> Vec<u8> {
        rs.iter()
            .flat_map(|r| chars[r.start..r.end].iter().map(|&c| c as u8))
            .collect()
    };
    // Contiguous: a free run of 13 to 19 digits.
    if runs
        .iter()
        .any(|r| r.free && is_card_number(&digits_of(std::slice::from_ref(r))))
    {
        return true;
    }
    // Printed: chains of free runs joined by the same card-like separator.
    let gaps: Vec<Option<&[char]>> = runs.windows(2).map(|w| gap(chars, &w[0], &w[1])).collect();
    let mut i = 0;
    while i < runs.len() {
        let Some(sep) = gaps.get(i).copied().flatten() else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        while gaps.get(j).copied().flatten() == Some(sep) {
            j += 1;
        }
        // runs[i..=j] is a maximal chain with separator `sep`; a group shared with a
        // chain of another separator is tried both in and out.
        let shared_left = i > 0 && gaps[i - 1].is_some();
        let shared_right = gaps.get(j).copied().flatten().is_some();
        for drop_left in [false, true] {
            for drop_right in [false, true] {
                if (drop_left && !shared_left) || (drop_right && !shared_right) {
                    continue;
                }
                let lo = i + usize::from(drop_left);
                let hi = j - usize::from(drop_right);
                if hi <= lo {
                    continue;
                }
                if continues_mixed_token(chars, runs[lo].start, sep) {
                    continue;
                }
                let chain = &runs[lo..=hi];
                let layout: Vec<usize> = chain.iter().map(|r| r.end - r.start).collect();
                if LAYOUTS.contains(&layout.as_slice()) && is_card_number(&digits_of(chain)) {
                    return true;
                }
            }
        }
        i = j;
    }
    false
}

/// Whether the chain starting at `start` continues a token made of letters *and* digits
/// (`DE89 3704 …`): then it belongs to that token (an IBAN, a postcode), not to a card.
fn continues_mixed_token(chars: &[char], start: usize, sep: &[char]) -> bool {
    let Some(before) = start.checked_sub(sep.len()) else {
        return false;
    };
    if &chars[before..start] != sep {
        return false;
    }
    let token: Vec<char> = chars[..before]
        .iter()
        .rev()
        .take_while(|c| c.is_alphanumeric())
        .copied()
        .collect();
    token.iter().any(|c| c.is_ascii_digit()) && token.iter().any(|c| c.is_alphabetic())
}

fn is_card_number(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && iin::luhn_valid(digits) && iin::scheme_of(digits).is_some()
}

/// The scheme whose IIN range holds `pan` (ASCII digits), for corpora and tests.
pub fn scheme_of(pan: &str) -> Option<&'static str> {
    let digits = pan.as_bytes();
    (digits.iter().all(u8::is_ascii_digit) && (13..=19).contains(&digits.len()))
        .then(|| iin::scheme_of(digits))
        .flatten()
}

#[cfg(test)]
mod tests;
