//! Parses a `SaleToPOIRequest` into the typed request the handlers act on, or into a
//! [`Rejected`] request that still knows enough (the header, the body type) to be answered
//! in Adyen's shape.

use super::encode::decimal_text;
use super::reader::{FormatError, Node, Path};
use poigate_domain::{Currency, Money, Timestamp};
use serde_json::{Map, Number, Value};

/// A request poigate can act on.
#[derive(Debug, Clone)]
pub struct Request {
    pub header: Header,
    pub body: Body,
}

/// The validated `MessageHeader` of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub category: String,
    pub sale_id: String,
    pub service_id: String,
    pub poiid: String,
}

#[derive(Debug, Clone)]
pub enum Body {
    Payment(PaymentRequest),
    TransactionStatus(StatusRequest),
    Abort(AbortRequest),
    Reversal(ReversalRequest),
    /// A nexo request poigate does not implement; answered with `UnavailableService` in
    /// the body named `response_key` (`LoginResponse` …).
    Unsupported {
        response_key: String,
    },
}

/// `SaleData.SaleTransactionID`: the POS's own reference of the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleTransaction {
    pub transaction_id: String,
    pub time_stamp: String,
}

/// What a `PaymentRequest` asks for (`PaymentData.PaymentType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentKind {
    /// `Normal` (the default): a sale.
    Sale,
    /// `Normal` with `authorisationType=PreAuth` in `SaleData.SaleToAcquirerData`: an
    /// authorisation only, captured or cancelled later.
    PreAuth,
    /// `Refund`: a card-present refund, not linked to an earlier payment.
    Refund,
    /// Another nexo payment type poigate does not implement.
    Other(String),
}

#[derive(Debug, Clone)]
pub struct PaymentRequest {
    pub sale_transaction: SaleTransaction,
    pub amount: Money,
    pub kind: PaymentKind,
    /// `tenderOption=AskGratuity` in `SaleData.SaleToAcquirerData`: the terminal asks the
    /// shopper for a tip.
    pub ask_gratuity: bool,
}

/// `DocumentQualifier` values that have a receipt in poigate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// The merchant's copy.
    CashierReceipt,
    /// The shopper's copy.
    CustomerReceipt,
}

/// `MessageReference`: the message a status or abort request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub sale_id: String,
    pub service_id: String,
    pub category: String,
}

#[derive(Debug, Clone)]
pub struct StatusRequest {
    pub reference: Option<Reference>,
    /// Receipts to repeat (`ReceiptReprintFlag` with `DocumentQualifier`); empty without the
    /// flag.
    pub receipts: Vec<Qualifier>,
}

#[derive(Debug, Clone)]
pub struct AbortRequest {
    pub reference: Reference,
}

#[derive(Debug, Clone)]
pub struct ReversalRequest {
    /// `OriginalPOITransaction.POITransactionID.TransactionID` of the payment to refund.
    pub original_transaction_id: String,
    /// `ReversedAmount` in major units; the whole remaining amount when absent.
    pub reversed_amount: Option<Number>,
    pub sale_transaction: Option<SaleTransaction>,
}

/// A request that cannot be acted on, with what is needed to answer it.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Header fields as sent (for the echo), whatever their validity.
    pub echo: Echo,
    /// The response body to answer in: `PaymentResponse`, `TransactionStatusResponse` …
    pub response_key: String,
    pub error: FormatError,
}

/// The request's header fields as sent, for echoing them in an error answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Echo {
    pub category: Option<String>,
    pub sale_id: Option<String>,
    pub service_id: Option<String>,
    pub poiid: Option<String>,
}

/// Request bodies poigate implements, by `MessageCategory`.
const IMPLEMENTED: [(&str, &str); 4] = [
    ("PaymentRequest", "Payment"),
    ("TransactionStatusRequest", "TransactionStatus"),
    ("AbortRequest", "Abort"),
    ("ReversalRequest", "Reversal"),
];

/// Parses a request body that is valid JSON.
pub fn parse(value: &Value) -> Result<Request, Box<Rejected>> {
    let rejected = |echo: &Echo, key: &str, error: FormatError| {
        Box::new(Rejected {
            echo: echo.clone(),
            response_key: key.to_string(),
            error,
        })
    };
    let root = Path::root();
    let Some(top) = value.as_object() else {
        return Err(rejected(
            &Echo::default(),
            "PaymentResponse",
            FormatError::at("", "SaleToPOIRequest", "Missing"),
        ));
    };
    let envelope = Node::new(top, &root)
        .object("SaleToPOIRequest")
        .map_err(|e| rejected(&Echo::default(), "PaymentResponse", e))?;
    let req_path = root.child("SaleToPOIRequest");
    let req = Node::new(envelope, &req_path);
    let header_map = req.opt_object("MessageHeader").ok().flatten();
    let echo = header_map.map(echo_of).unwrap_or_default();

    let bodies: Vec<&String> = envelope
        .iter()
        .filter(|(k, v)| *k != "MessageHeader" && *k != "SecurityTrailer" && v.is_object())
        .map(|(k, _)| k)
        .collect();
    let category_key = echo
        .category
        .as_deref()
        .map(|c| format!("{c}Response"))
        .unwrap_or_else(|| "PaymentResponse".to_string());
    let body_key = match bodies.as_slice() {
        [one] => (*one).clone(),
        [] => {
            let expected = echo
                .category
                .as_deref()
                .map(|c| format!("{c}Request"))
                .unwrap_or_else(|| "PaymentRequest".to_string());
            return Err(rejected(
                &echo,
                &category_key,
                FormatError::at(req_path.as_str(), &expected, "Missing"),
            ));
        }
        _ => {
            return Err(rejected(
                &echo,
                &category_key,
                FormatError::at(
                    req_path.as_str(),
                    bodies
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                        .as_str(),
                    "Only one message body is allowed",
                ),
            ));
        }
    };
    let response_key = match body_key.strip_suffix("Request") {
        Some(stem) => format!("{stem}Response"),
        None => category_key,
    };
    let fail = |e: FormatError| rejected(&echo, &response_key, e);

    let header_map = req.object("MessageHeader").map_err(fail)?;
    let header_path = req_path.child("MessageHeader");
    let expected_category = IMPLEMENTED
        .iter()
        .find(|(body, _)| *body == body_key)
        .map(|(_, category)| *category);
    let header = parse_header(
        Node::new(header_map, &header_path),
        expected_category,
        &body_key,
    )
    .map_err(fail)?;

    let body_path = req_path.child(&body_key);
    let body_map = req.object(&body_key).map_err(fail)?;
    let node = Node::new(body_map, &body_path);
    let body = match body_key.as_str() {
        "PaymentRequest" => Body::Payment(parse_payment(node).map_err(fail)?),
        "TransactionStatusRequest" => {
            Body::TransactionStatus(parse_status(node, &header).map_err(fail)?)
        }
        "AbortRequest" => Body::Abort(parse_abort(node, &header).map_err(fail)?),
        "ReversalRequest" => Body::Reversal(parse_reversal(node).map_err(fail)?),
        _ => Body::Unsupported {
            response_key: response_key.clone(),
        },
    };
    Ok(Request { header, body })
}

fn echo_of(header: &Map<String, Value>) -> Echo {
    let text = |field: &str| {
        header
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| {
                !s.is_empty() && s.chars().count() <= 64 && !s.chars().any(char::is_control)
            })
            .map(str::to_string)
    };
    Echo {
        category: text("MessageCategory"),
        sale_id: text("SaleID"),
        service_id: text("ServiceID"),
        poiid: text("POIID"),
    }
}

/// 1 to `max` characters without control characters.
fn plain_text(s: &str, max: usize) -> bool {
    let n = s.chars().count();
    n >= 1 && n <= max && !s.chars().any(char::is_control)
}

/// The `ServiceID` rule of Adyen's cloud Terminal API: 1 to 10 letters or digits.
pub fn valid_transaction_service_id(s: &str) -> bool {
    (1..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn parse_header(
    node: Node<'_>,
    expected_category: Option<&str>,
    body_key: &str,
) -> Result<Header, FormatError> {
    if let Some(version) = node.opt_string("ProtocolVersion")?
        && !version.starts_with("3.")
    {
        return Err(node.invalid("ProtocolVersion", "3.0"));
    }
    if node.string("MessageClass")? != "Service" {
        return Err(node.invalid("MessageClass", "Service"));
    }
    if node.string("MessageType")? != "Request" {
        return Err(node.invalid("MessageType", "Request"));
    }
    let category = node.string("MessageCategory")?;
    match expected_category {
        Some(expected) if category != expected => {
            return Err(node.invalid("MessageCategory", &format!("{expected} for a {body_key}")));
        }
        None if !plain_text(category, 64) => {
            return Err(node.invalid("MessageCategory", "a nexo message category"));
        }
        _ => {}
    }
    let sale_id = node.string("SaleID")?;
    if !plain_text(sale_id, 64) {
        return Err(node.invalid("SaleID", "1 to 64 characters"));
    }
    let service_id = node.string("ServiceID")?;
    // Payments and reversals are transactions: their ServiceID must be 1 to 10 letters or
    // digits (and unique, checked when they are created). Other requests only need a
    // readable one: the seed's own status requests use `29235status` and `29235-status`.
    let strict = matches!(category, "Payment" | "Reversal");
    if strict && !valid_transaction_service_id(service_id) {
        return Err(node.invalid("ServiceID", "1 to 10 letters or digits"));
    }
    if !strict && !plain_text(service_id, 64) {
        return Err(node.invalid("ServiceID", "1 to 64 characters"));
    }
    let poiid = node.string("POIID")?;
    if !plain_text(poiid, 64) {
        return Err(node.invalid("POIID", "[terminal model]-[serial number]"));
    }
    Ok(Header {
        category: category.to_string(),
        sale_id: sale_id.to_string(),
        service_id: service_id.to_string(),
        poiid: poiid.to_string(),
    })
}

fn parse_sale_transaction(node: Node<'_>) -> Result<SaleTransaction, FormatError> {
    let transaction_id = node.string("TransactionID")?;
    if !plain_text(transaction_id, 255) {
        return Err(node.invalid("TransactionID", "1 to 255 characters"));
    }
    let time_stamp = node.string("TimeStamp")?;
    if time_stamp.len() > 64 || Timestamp::parse_rfc3339(time_stamp).is_none() {
        return Err(node.invalid("TimeStamp", "an ISO 8601 date and time"));
    }
    Ok(SaleTransaction {
        transaction_id: transaction_id.to_string(),
        time_stamp: time_stamp.to_string(),
    })
}

fn parse_payment(node: Node<'_>) -> Result<PaymentRequest, FormatError> {
    let sale_path = Path::root().child(node.path()).child("SaleData");
    let sale_data = Node::new(node.object("SaleData")?, &sale_path);
    let sale_tx_path = sale_path.child("SaleTransactionID");
    let sale_transaction = parse_sale_transaction(Node::new(
        sale_data.object("SaleTransactionID")?,
        &sale_tx_path,
    ))?;

    let tx_path = Path::root().child(node.path()).child("PaymentTransaction");
    let transaction = Node::new(node.object("PaymentTransaction")?, &tx_path);
    let amounts_path = tx_path.child("AmountsReq");
    let amounts = Node::new(transaction.object("AmountsReq")?, &amounts_path);
    let code = amounts.string("Currency")?;
    let currency = Currency::from_code(code)
        .filter(|_| code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()))
        .ok_or_else(|| amounts.invalid("Currency", "an ISO 4217 code such as EUR"))?;
    let requested = amounts
        .opt_number("RequestedAmount")?
        .ok_or_else(|| FormatError::at(amounts.path(), "RequestedAmount", "Missing"))?;
    let amount = parse_amount(requested, currency)
        .map_err(|why| amounts.invalid("RequestedAmount", &why))?;

    let authorisation =
        super::acquirer_data::authorisation_type(sale_data.map.get("SaleToAcquirerData"))
            .map_err(|why| sale_data.invalid("SaleToAcquirerData", &why.0))?;
    let ask_gratuity = super::acquirer_data::asks_gratuity(sale_data.map.get("SaleToAcquirerData"));
    let mut kind = PaymentKind::Sale;
    if let Some(data) = node.opt_object("PaymentData")? {
        let data_path = Path::root().child(node.path()).child("PaymentData");
        let data = Node::new(data, &data_path);
        kind = match data.opt_string("PaymentType")? {
            None | Some("Normal") => PaymentKind::Sale,
            Some("Refund") => PaymentKind::Refund,
            Some(other) if plain_text(other, 64) => PaymentKind::Other(other.to_string()),
            Some(_) => return Err(data.invalid("PaymentType", "Normal or Refund")),
        };
    }
    if kind == PaymentKind::Sale && authorisation == super::acquirer_data::AuthorisationType::Pre {
        kind = PaymentKind::PreAuth;
    }
    Ok(PaymentRequest {
        sale_transaction,
        amount,
        kind,
        ask_gratuity,
    })
}

/// A positive decimal amount in major units, exactly (no more decimals than the currency).
pub fn parse_amount(number: &Number, currency: Currency) -> Result<Money, String> {
    let text = decimal_text(number).ok_or_else(|| "a decimal amount".to_string())?;
    let money = Money::parse_decimal(&text, currency).map_err(|e| e.to_string())?;
    if money.is_zero() {
        return Err("amount must be greater than zero".into());
    }
    Ok(money)
}

fn parse_reference(
    node: Node<'_>,
    header: &Header,
    default_category: &str,
) -> Result<Reference, FormatError> {
    let service_id = node.string("ServiceID")?;
    if !plain_text(service_id, 64) {
        return Err(node.invalid("ServiceID", "1 to 64 characters"));
    }
    let sale_id = node.opt_string("SaleID")?.unwrap_or(&header.sale_id);
    if !plain_text(sale_id, 64) {
        return Err(node.invalid("SaleID", "1 to 64 characters"));
    }
    let category = node
        .opt_string("MessageCategory")?
        .unwrap_or(default_category);
    if !plain_text(category, 64) {
        return Err(node.invalid("MessageCategory", "a nexo message category"));
    }
    Ok(Reference {
        sale_id: sale_id.to_string(),
        service_id: service_id.to_string(),
        category: category.to_string(),
    })
}

fn parse_status(node: Node<'_>, header: &Header) -> Result<StatusRequest, FormatError> {
    let reprint = node.opt_bool("ReceiptReprintFlag")?.unwrap_or(false);
    let mut receipts = Vec::new();
    let qualifiers = node.opt_strings("DocumentQualifier")?;
    for q in qualifiers.as_deref().unwrap_or_default() {
        match *q {
            "CashierReceipt" => receipts.push(Qualifier::CashierReceipt),
            "CustomerReceipt" => receipts.push(Qualifier::CustomerReceipt),
            "Document" | "Journal" | "SaleReceipt" | "Voucher" => {}
            _ => {
                return Err(node.invalid(
                    "DocumentQualifier",
                    "CashierReceipt, CustomerReceipt, Document, Journal, SaleReceipt or Voucher",
                ));
            }
        }
    }
    if qualifiers.is_none() {
        receipts = vec![Qualifier::CashierReceipt, Qualifier::CustomerReceipt];
    }
    if !reprint {
        receipts.clear();
    }
    let reference = match node.opt_object("MessageReference")? {
        Some(map) => {
            let path = Path::root().child(node.path()).child("MessageReference");
            Some(parse_reference(Node::new(map, &path), header, "Payment")?)
        }
        None => None,
    };
    Ok(StatusRequest {
        reference,
        receipts,
    })
}

fn parse_abort(node: Node<'_>, header: &Header) -> Result<AbortRequest, FormatError> {
    let reason = node.string("AbortReason")?;
    if !plain_text(reason, 64) {
        return Err(node.invalid("AbortReason", "MerchantAbort"));
    }
    let path = Path::root().child(node.path()).child("MessageReference");
    let reference = parse_reference(
        Node::new(node.object("MessageReference")?, &path),
        header,
        "Payment",
    )?;
    Ok(AbortRequest { reference })
}

fn parse_reversal(node: Node<'_>) -> Result<ReversalRequest, FormatError> {
    let reason = node.string("ReversalReason")?;
    if !matches!(
        reason,
        "CustCancel" | "Malfunction" | "MerchantCancel" | "Unable2Compl"
    ) {
        return Err(node.invalid(
            "ReversalReason",
            "CustCancel, Malfunction, MerchantCancel or Unable2Compl",
        ));
    }
    let original_path = Path::root()
        .child(node.path())
        .child("OriginalPOITransaction");
    let original = Node::new(node.object("OriginalPOITransaction")?, &original_path);
    let id_path = original_path.child("POITransactionID");
    let poi_transaction = Node::new(original.object("POITransactionID")?, &id_path);
    let original_transaction_id = poi_transaction.string("TransactionID")?;
    if !plain_text(original_transaction_id, 128) {
        return Err(poi_transaction.invalid("TransactionID", "a POITransactionID.TransactionID"));
    }
    let reversed_amount = node.opt_number("ReversedAmount")?.cloned();
    let sale_transaction = match node.opt_object("SaleData")? {
        Some(map) => {
            let sale_path = Path::root().child(node.path()).child("SaleData");
            let sale = Node::new(map, &sale_path);
            match sale.opt_object("SaleTransactionID")? {
                Some(tx) => {
                    let tx_path = sale_path.child("SaleTransactionID");
                    Some(parse_sale_transaction(Node::new(tx, &tx_path))?)
                }
                None => None,
            }
        }
        None => None,
    };
    Ok(ReversalRequest {
        original_transaction_id: original_transaction_id.to_string(),
        reversed_amount,
        sale_transaction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payment(amount: Value, service_id: &str) -> Value {
        json!({"SaleToPOIRequest": {
        "MessageHeader": {"ProtocolVersion": "3.0", "MessageClass": "Service",
            "MessageCategory": "Payment", "MessageType": "Request",
            "SaleID": "POS1", "ServiceID": service_id, "POIID": "V400m-324688179"},
        "PaymentRequest": {
            "SaleData": {"SaleTransactionID": {"TransactionID": "order-1",
                "TimeStamp": "2024-05-28T13:11:30.939Z"},
                "SaleToAcquirerData": "eyJhIjoxfQ=="},
            "PaymentTransaction": {"AmountsReq": {"Currency": "EUR", "RequestedAmount": amount}}
        }}})
    }

    #[test]
    fn a_payment_request_parses_with_unknown_fields_ignored() {
        let request = parse(&payment(json!(12.5), "1001")).expect("valid");
        assert_eq!(request.header.poiid, "V400m-324688179");
        match request.body {
            Body::Payment(p) => {
                assert_eq!(p.amount.value(), 1250);
                assert_eq!(p.kind, PaymentKind::Sale);
                assert_eq!(p.sale_transaction.transaction_id, "order-1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn service_ids_of_payments_are_one_to_ten_letters_or_digits() {
        for bad in ["12345678901", "12-4", "ab c"] {
            let rejected = parse(&payment(json!(1), bad)).expect_err(bad);
            assert_eq!(rejected.response_key, "PaymentResponse");
            assert!(
                rejected.error.message.contains("field ServiceID"),
                "{}",
                rejected.error.message
            );
        }
        assert!(parse(&payment(json!(1), "A1b2C3d4E5")).is_ok());
    }

    #[test]
    fn amounts_are_exact() {
        for bad in [json!(12.345), json!(-1), json!(0), json!("12.50")] {
            let rejected = parse(&payment(bad.clone(), "1")).expect_err("bad amount");
            assert!(
                rejected.error.message.contains("RequestedAmount"),
                "{bad}: {}",
                rejected.error.message
            );
        }
    }

    #[test]
    fn a_missing_envelope_is_named_like_adyen_does() {
        let rejected = parse(&json!({"PaymentRequest": {}})).expect_err("no envelope");
        assert_eq!(
            rejected.error.message,
            "At toplevel, field SaleToPOIRequest: Missing"
        );
        assert_eq!(rejected.response_key, "PaymentResponse");
    }

    #[test]
    fn a_body_that_does_not_match_the_category_is_refused() {
        let mut v = payment(json!(1), "1");
        v["SaleToPOIRequest"]["MessageHeader"]["MessageCategory"] = json!("Reversal");
        let rejected = parse(&v).expect_err("mismatch");
        assert!(rejected.error.message.contains("MessageCategory"));
        assert_eq!(rejected.echo.category.as_deref(), Some("Reversal"));
    }

    #[test]
    fn unsupported_requests_name_their_response_body() {
        let v = json!({"SaleToPOIRequest": {
            "MessageHeader": {"MessageClass": "Service", "MessageCategory": "Login",
                "MessageType": "Request", "SaleID": "POS1", "ServiceID": "1", "POIID": "P-1"},
            "LoginRequest": {}}});
        match parse(&v).expect("parsed").body {
            Body::Unsupported { response_key } => assert_eq!(response_key, "LoginResponse"),
            other => panic!("{other:?}"),
        }
    }
}
