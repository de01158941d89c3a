//! poigate's structured receipt lines as Adyen `PaymentReceipt`s: one per copy
//! (`CashierReceipt` = the merchant's, `CustomerReceipt` = the shopper's), each line an
//! `OutputText` whose `Text` is form-encoded `name=…&value=…&key=…`, as Adyen's terminals
//! send them (see the `syncRes` mock of Adyen's Node library).

use super::encode::Form;
use super::request::Qualifier;
use super::wire::{OutputContent, OutputText, PaymentReceipt};
use poigate_domain::{Receipt, Receipts};

/// Adyen's receipt keys for poigate's line keys, so POS code written against Adyen's
/// receipts finds the same keys (`txdate`, `pan`, `aid`, `authCode`, `totalAmount` …).
fn adyen_key(key: &str) -> &str {
    match key {
        "merchant_name" => "header1",
        "terminal" => "tid",
        "date" => "txdate",
        "transaction_type" => "txtype",
        "card_brand" => "paymentMethod",
        "pan" => "pan",
        "entry_mode" => "posEntryMode",
        "aid" => "aid",
        "application" => "preferredName",
        "total" => "totalAmount",
        "auth_code" => "authCode",
        "decline_reason" => "refusalReason",
        "cvm" => "cardHolderVerification",
        "transaction_id" => "txRef",
        "signature" => "signatureLine",
        "notice" => "retain",
        "original_transaction" => "originalTxRef",
        "operation_id" => "txRef",
        other => other,
    }
}

/// Keys printed in bold, as Adyen prints headers, totals and the result.
fn bold(key: &str) -> bool {
    matches!(key, "merchant_name" | "total" | "result" | "copy")
}

fn output_text(receipt: &Receipt) -> Vec<OutputText> {
    receipt
        .lines
        .iter()
        .map(|line| {
            let key = match (line.key.as_str(), line.value.as_str()) {
                ("result", "APPROVED") => "approved",
                ("result", "DECLINED") => "declined",
                ("result", _) => "result",
                ("copy", _) if receipt.copy == poigate_domain::ReceiptCopy::Merchant => {
                    "merchantTitle"
                }
                ("copy", _) => "cardholderHeader",
                (other, _) => adyen_key(other),
            };
            let form = match &line.label {
                // A labelled line: the label is the name, the value is the value.
                Some(label) => Form::new()
                    .add("name", label)
                    .add("value", &line.value)
                    .add("key", key),
                // A heading or notice: Adyen puts its text in `name` (`name=APPROVED&key=approved`).
                None => Form::new().add("name", &line.value).add("key", key),
            };
            OutputText {
                character_style: bold(&line.key).then_some("Bold"),
                end_of_line_flag: true,
                text: form.encode(),
            }
        })
        .collect()
}

fn payment_receipt(qualifier: &'static str, receipt: &Receipt) -> PaymentReceipt {
    PaymentReceipt {
        document_qualifier: qualifier,
        output_content: OutputContent {
            output_format: "Text",
            output_text: output_text(receipt),
        },
        required_signature_flag: receipt.lines.iter().any(|l| l.key == "signature"),
    }
}

/// The receipts asked for, in the order asked; copies the transaction lacks are left out.
pub fn payment_receipts(receipts: &Receipts, wanted: &[Qualifier]) -> Vec<PaymentReceipt> {
    wanted
        .iter()
        .filter_map(|q| match q {
            Qualifier::CashierReceipt => receipts
                .merchant
                .as_ref()
                .map(|r| payment_receipt("CashierReceipt", r)),
            Qualifier::CustomerReceipt => receipts
                .customer
                .as_ref()
                .map(|r| payment_receipt("CustomerReceipt", r)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::{ReceiptCopy, ReceiptLine};

    fn line(key: &str, label: Option<&str>, value: &str) -> ReceiptLine {
        ReceiptLine {
            key: key.into(),
            label: label.map(str::to_string),
            value: value.into(),
        }
    }

    #[test]
    fn lines_become_form_encoded_output_text() {
        let merchant = Receipt {
            copy: ReceiptCopy::Merchant,
            lines: vec![
                line("date", Some("Date"), "2024-05-28 13:11:30 UTC"),
                line("total", Some("TOTAL"), "EUR 12.50"),
                line("result", None, "APPROVED"),
                line("signature", Some("Signature"), "X____"),
                line("copy", None, "MERCHANT COPY"),
            ],
            text: String::new(),
        };
        let receipts = Receipts {
            customer: None,
            merchant: Some(merchant),
        };
        let out = payment_receipts(
            &receipts,
            &[Qualifier::CashierReceipt, Qualifier::CustomerReceipt],
        );
        assert_eq!(out.len(), 1, "no customer copy, none rendered");
        let r = &out[0];
        assert_eq!(r.document_qualifier, "CashierReceipt");
        assert!(r.required_signature_flag);
        let texts: Vec<&str> = r
            .output_content
            .output_text
            .iter()
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(
            texts[0],
            "name=Date&value=2024-05-28%2013%3a11%3a30%20UTC&key=txdate"
        );
        assert_eq!(texts[2], "name=APPROVED&key=approved");
        assert_eq!(texts[4], "name=MERCHANT%20COPY&key=merchantTitle");
        assert_eq!(
            r.output_content.output_text[1].character_style,
            Some("Bold")
        );
    }
}
