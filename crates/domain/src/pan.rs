//! Detection of card data in free text, so it is refused before it reaches storage or logs.
//!
//! A POS may put anything into `reference` or `metadata`; PCI DSS forbids us to keep a full
//! PAN or track data. We refuse any field that contains a run of 13 to 19 digits (spaces or
//! dashes allowed between digit groups) that passes the Luhn check *and* starts with a real
//! card-scheme prefix, or that looks like magnetic-stripe track 1 (`%B<digits>^`) or track 2
//! (`;<digits>=`). The scheme-prefix condition keeps order numbers and timestamps such as
//! `20210623130413` from being refused one time in ten just because they pass Luhn.

/// Whether `text` seems to contain a full card number or track data.
pub fn contains_card_data(text: &str) -> bool {
    contains_track_data(text) || digit_runs(text).iter().any(|run| is_probable_pan(run))
}

fn contains_track_data(text: &str) -> bool {
    let bytes = text.as_bytes();
    // Track 1: "%B" followed by 13+ digits.
    for (i, w) in bytes.windows(2).enumerate() {
        if (w == b"%B" || w == b"%b")
            && bytes[i + 2..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
                >= 13
        {
            return true;
        }
    }
    // Track 2: ";" 13+ digits "=".
    for (i, &b) in bytes.iter().enumerate() {
        if b == b';' {
            let digits = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits >= 13 && bytes.get(i + 1 + digits) == Some(&b'=') {
                return true;
            }
        }
    }
    false
}

/// Maximal runs of digits, where single spaces or dashes between digits do not break a run.
fn digit_runs(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut runs = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_digit() {
            current.push(c);
        } else if (c == ' ' || c == '-')
            && !current.is_empty()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())
        {
            continue;
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// Checks every 13..=19-digit window of a run, so a PAN glued to other digits is found too.
fn is_probable_pan(run: &str) -> bool {
    let digits = run.as_bytes();
    for len in 13..=19 {
        if digits.len() < len {
            break;
        }
        for start in 0..=digits.len() - len {
            let candidate = &digits[start..start + len];
            if has_scheme_prefix(candidate) && luhn_valid(candidate) {
                return true;
            }
        }
    }
    false
}

fn prefix_num(d: &[u8], n: usize) -> u32 {
    d.iter()
        .take(n)
        .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
}

/// Issuer identification ranges of the major schemes.
fn has_scheme_prefix(d: &[u8]) -> bool {
    let p1 = prefix_num(d, 1);
    let p2 = prefix_num(d, 2);
    let p3 = prefix_num(d, 3);
    let p4 = prefix_num(d, 4);
    p1 == 4                                   // Visa
        || (51..=55).contains(&p2)            // Mastercard
        || (2221..=2720).contains(&p4)        // Mastercard 2-series
        || p2 == 34 || p2 == 37               // Amex
        || p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) // Discover
        || (3528..=3589).contains(&p4)        // JCB
        || p2 == 62                           // UnionPay
        || p2 == 36 || p2 == 38 || (300..=305).contains(&p3) // Diners
        || p2 == 50 || (56..=69).contains(&p2) // Maestro
}

fn luhn_valid(d: &[u8]) -> bool {
    let sum: u32 = d
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_full_pans_in_text() {
        assert!(contains_card_data("4111111111111111"));
        assert!(contains_card_data(
            "order for card 4111 1111 1111 1111 thanks"
        ));
        assert!(contains_card_data("5413-3300-8909-9999"));
        assert!(contains_card_data("x378282246310005y"));
        assert!(contains_card_data("ref-00004111111111111111"));
    }

    #[test]
    fn finds_track_data() {
        assert!(contains_card_data("%B4111111111111111^DOE/JOHN^2512101"));
        assert!(contains_card_data(";4111111111111111=25121010000000000?"));
    }

    #[test]
    fn leaves_ordinary_references_alone() {
        assert!(!contains_card_data("058ed6c3430e436dab91b782f4113fd2"));
        assert!(!contains_card_data("20210623130413"));
        assert!(!contains_card_data("order 12345"));
        assert!(!contains_card_data("476173******0010"));
        assert!(!contains_card_data("4111111111111112")); // fails Luhn
        assert!(!contains_card_data(""));
    }
}
