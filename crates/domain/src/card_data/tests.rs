use super::*;
use proptest::prelude::*;

#[test]
fn finds_card_numbers_in_every_printed_form() {
    for text in [
        "4111111111111111",
        "order for card 4111 1111 1111 1111 thanks",
        "5413-3300-8909-9999",
        "4111.1111.1111.1111",
        "4111_1111_1111_1111",
        "4111/1111/1111/1111",
        "4111  1111  1111  1111",
        "4111 - 1111 - 1111 - 1111",
        "４１１１１１１１１１１１１１１１",
        "４１１１ １１１１ １１１１ １１１１",
        "4111\u{a0}1111\u{a0}1111\u{a0}1111",
        "3782 822463 10005",
        "3056 930902 5904",
        "1354 10014 004955",
        "2200000000000004",
        "135410014004955",
        "card: 4111 1111 1111 1111 12/25",
        "PAN=4111111111111111",
        "ref-4111111111111111",
        "6799 9901 0000 0000 019",
    ] {
        assert_eq!(scan(text), Some(Finding::CardNumber), "{text}");
    }
}

#[test]
fn finds_track_data() {
    assert_eq!(
        scan("%B4111111111111111^DOE/JOHN^2512101"),
        Some(Finding::TrackData)
    );
    assert_eq!(
        scan(";4111111111111111=25121010000000000?"),
        Some(Finding::TrackData)
    );
    assert_eq!(scan(";4111111111111111=2512101?"), Some(Finding::TrackData));
}

#[test]
fn leaves_ordinary_references_alone() {
    for text in [
        "058ed6c3430e436dab91b782f4113fd2",
        "20210623130413",
        "order 12345",
        "476173******0010",
        "4111111111111112",
        "",
        "ref-00004111111111111111",
        "00004111111111111111",
        "000379-1061545662",
        "INV4111111111111111",
        "4111111111111111x",
        "DE89 3704 0044 0532 0130 00",
        "4111 1111-1111 1111",
        "1700000000000",
        "4006381333931",
    ] {
        assert_eq!(scan(text), None, "{text}");
    }
}

#[test]
fn nnnn_nnn_nnnnnnnn_is_not_a_printed_card_layout() {
    // Every such reference, whatever its digits: the layout decides, not Luhn.
    for n in 0..2_000u64 {
        let digits = format!("{:015}", n * 7_919_123_456_789 % 1_000_000_000_000_000);
        let reference = format!("{}-{}-{}", &digits[..4], &digits[4..7], &digits[7..15]);
        assert_eq!(scan(&reference), None, "{reference}");
    }
}

#[test]
fn card_secret_keys_are_recognised_without_case_or_separators() {
    for key in [
        "cvv",
        "CVC2",
        "pin_block",
        "PIN",
        "track2",
        "card-number",
        "Card Number",
        "pan",
    ] {
        assert!(is_card_secret_key(key), "{key}");
    }
    for key in [
        "order",
        "shipping",
        "spin",
        "pane",
        "company",
        "store_pin_code_hint",
    ] {
        assert!(!is_card_secret_key(key), "{key}");
    }
}

#[test]
fn refusals_name_the_field_and_never_the_value() {
    let mut errors = ValidationErrors::new();
    check_value(&mut errors, "reference", "card 4111 1111 1111 1111");
    check_key(&mut errors, "metadata", "cvv");
    let rendered = errors.to_string();
    assert_eq!(errors.errors().len(), 2);
    assert!(errors.errors().iter().all(|e| e.code == CODE));
    assert!(rendered.contains("reference"));
    assert!(!rendered.contains("4111"));
}

#[test]
fn published_test_numbers_are_in_a_scheme_range() {
    for pan in [
        "4111111111111111",
        "5555555555554444",
        "2223003122003222",
        "378282246310005",
        "6011111111111117",
        "30569309025904",
        "3530111333300000",
        "6200000000000005",
        "6759649826438453",
        "2200000000000004",
        "135410014004955",
    ] {
        assert!(scheme_of(pan).is_some(), "{pan}");
        assert!(contains_card_data(pan), "{pan}");
    }
}

proptest! {
    #[test]
    fn never_panics_on_any_text(text in any::<String>()) {
        let _ = scan(&text);
        let _ = is_card_secret_key(&text);
    }

    #[test]
    fn never_panics_on_digit_heavy_text(text in "[0-9０-９ ._/%;=^B-]{0,80}") {
        let _ = scan(&text);
    }

    #[test]
    fn a_run_of_20_or_more_digits_is_never_refused(
        run in "[0-9]{20,40}",
        prefix in "(|ref-|order |#|INV)",
        suffix in "(| ok|-01|x)",
    ) {
        let text = format!("{prefix}{run}{suffix}");
        prop_assert_eq!(scan(&text), None);
    }

    #[test]
    fn a_run_of_fewer_than_13_digits_is_never_a_card_number(run in "[0-9]{1,12}") {
        prop_assert_eq!(scan(&run), None);
    }

    #[test]
    fn a_luhn_valid_number_in_a_range_is_found_wherever_it_stands(
        body in "4[0-9]{14}",
        before in "(|card |ref-|: |\\()",
        after in "(| thanks|-|\\)|\\.)",
    ) {
        let pan = format!("{body}{}", luhn_check_digit(&body));
        let text = format!("{before}{pan}{after}");
        prop_assert_eq!(scan(&text), Some(Finding::CardNumber));
    }
}
