//! The nexo Sale-to-POI 3.0 messages poigate sends, with Adyen's field names and casing
//! (`SaleToPOIResponse`, `MessageHeader`, `POIData`, `POIID` …). Only what poigate fills is
//! declared; optional fields are left out of the JSON when empty, as Adyen does.
//!
//! Field names follow the seed (`seeds/002_552a40bddbd4f6cb.txt`) and, where it is silent,
//! the typings of Adyen's Node library (`src/typings/terminal/*.ts`).

use serde::Serialize;

/// `{"SaleToPOIResponse": {...}}`
#[derive(Serialize, Debug, Clone)]
pub struct ResponseEnvelope {
    #[serde(rename = "SaleToPOIResponse")]
    pub response: SaleToPoiResponse,
}

/// A response message: its header and exactly one body.
#[derive(Serialize, Debug, Clone)]
pub struct SaleToPoiResponse {
    #[serde(rename = "MessageHeader")]
    pub header: MessageHeader,
    #[serde(rename = "PaymentResponse", skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentResponse>,
    #[serde(
        rename = "TransactionStatusResponse",
        skip_serializing_if = "Option::is_none"
    )]
    pub transaction_status: Option<TransactionStatusResponse>,
    #[serde(rename = "ReversalResponse", skip_serializing_if = "Option::is_none")]
    pub reversal: Option<ReversalResponse>,
    /// The body of a request type poigate does not implement (`LoginResponse` …), which only
    /// carries a `Response`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub other: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SaleToPoiResponse {
    pub fn new(header: MessageHeader) -> SaleToPoiResponse {
        SaleToPoiResponse {
            header,
            payment: None,
            transaction_status: None,
            reversal: None,
            other: None,
        }
    }

    pub fn into_envelope(self) -> ResponseEnvelope {
        ResponseEnvelope { response: self }
    }
}

/// The header of every message. Responses echo the request's `SaleID`, `ServiceID`, `POIID`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    #[serde(rename = "ProtocolVersion", skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(rename = "MessageClass")]
    pub message_class: String,
    #[serde(rename = "MessageCategory")]
    pub message_category: String,
    #[serde(rename = "MessageType")]
    pub message_type: String,
    #[serde(rename = "SaleID", skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<String>,
    #[serde(rename = "ServiceID", skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    #[serde(rename = "POIID", skip_serializing_if = "Option::is_none")]
    pub poiid: Option<String>,
}

/// `Response`: the result of processing a request.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Response {
    #[serde(rename = "Result")]
    pub result: &'static str,
    #[serde(rename = "ErrorCondition", skip_serializing_if = "Option::is_none")]
    pub error_condition: Option<&'static str>,
    #[serde(rename = "AdditionalResponse", skip_serializing_if = "Option::is_none")]
    pub additional_response: Option<String>,
}

impl Response {
    pub fn success(additional: Option<String>) -> Response {
        Response {
            result: "Success",
            error_condition: None,
            additional_response: additional,
        }
    }

    pub fn failure(condition: &'static str, additional: impl Into<String>) -> Response {
        Response {
            result: "Failure",
            error_condition: Some(condition),
            additional_response: Some(additional.into()),
        }
    }
}

/// `TimeStamp` + `TransactionID`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct TransactionIdentification {
    #[serde(rename = "TimeStamp")]
    pub time_stamp: String,
    #[serde(rename = "TransactionID")]
    pub transaction_id: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct PoiData {
    #[serde(rename = "POITransactionID")]
    pub poi_transaction_id: TransactionIdentification,
    #[serde(
        rename = "POIReconciliationID",
        skip_serializing_if = "Option::is_none"
    )]
    pub poi_reconciliation_id: Option<String>,
}

#[derive(Serialize, Debug, Clone, Default)]
pub struct SaleData {
    #[serde(rename = "SaleTransactionID", skip_serializing_if = "Option::is_none")]
    pub sale_transaction_id: Option<TransactionIdentification>,
}

#[derive(Serialize, Debug, Clone)]
pub struct PaymentResponse {
    #[serde(rename = "POIData", skip_serializing_if = "Option::is_none")]
    pub poi_data: Option<PoiData>,
    #[serde(rename = "SaleData")]
    pub sale_data: SaleData,
    #[serde(rename = "PaymentReceipt", skip_serializing_if = "Option::is_none")]
    pub payment_receipt: Option<Vec<PaymentReceipt>>,
    #[serde(rename = "PaymentResult", skip_serializing_if = "Option::is_none")]
    pub payment_result: Option<PaymentResult>,
    #[serde(rename = "Response")]
    pub response: Response,
}

#[derive(Serialize, Debug, Clone)]
pub struct PaymentResult {
    #[serde(rename = "PaymentType")]
    pub payment_type: &'static str,
    #[serde(
        rename = "PaymentInstrumentData",
        skip_serializing_if = "Option::is_none"
    )]
    pub payment_instrument_data: Option<PaymentInstrumentData>,
    #[serde(rename = "AmountsResp")]
    pub amounts_resp: AmountsResp,
    #[serde(rename = "OnlineFlag")]
    pub online_flag: bool,
    #[serde(rename = "PaymentAcquirerData")]
    pub payment_acquirer_data: PaymentAcquirerData,
    #[serde(
        rename = "AuthenticationMethod",
        skip_serializing_if = "Option::is_none"
    )]
    pub authentication_method: Option<Vec<&'static str>>,
}

#[derive(Serialize, Debug, Clone)]
pub struct PaymentInstrumentData {
    #[serde(rename = "PaymentInstrumentType")]
    pub payment_instrument_type: &'static str,
    #[serde(rename = "CardData")]
    pub card_data: CardData,
}

/// Masked card data only: BIN and last four at most, as everywhere in poigate.
#[derive(Serialize, Debug, Clone)]
pub struct CardData {
    #[serde(rename = "EntryMode")]
    pub entry_mode: Vec<&'static str>,
    #[serde(rename = "MaskedPan")]
    pub masked_pan: String,
    #[serde(rename = "PaymentBrand")]
    pub payment_brand: &'static str,
}

#[derive(Serialize, Debug, Clone)]
pub struct AmountsResp {
    #[serde(rename = "AuthorizedAmount")]
    pub authorized_amount: serde_json::Number,
    #[serde(rename = "Currency")]
    pub currency: &'static str,
    /// The tip the shopper chose on the terminal (`tenderOption=AskGratuity`), included
    /// in `AuthorizedAmount`; absent when no tip was asked.
    #[serde(rename = "TipAmount", skip_serializing_if = "Option::is_none")]
    pub tip_amount: Option<serde_json::Number>,
}

#[derive(Serialize, Debug, Clone)]
pub struct PaymentAcquirerData {
    #[serde(rename = "AcquirerPOIID")]
    pub acquirer_poiid: String,
    #[serde(rename = "AcquirerTransactionID")]
    pub acquirer_transaction_id: TransactionIdentification,
    #[serde(rename = "ApprovalCode", skip_serializing_if = "Option::is_none")]
    pub approval_code: Option<String>,
    #[serde(rename = "MerchantID")]
    pub merchant_id: String,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct PaymentReceipt {
    #[serde(rename = "DocumentQualifier")]
    pub document_qualifier: &'static str,
    #[serde(rename = "OutputContent")]
    pub output_content: OutputContent,
    #[serde(rename = "RequiredSignatureFlag")]
    pub required_signature_flag: bool,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct OutputContent {
    #[serde(rename = "OutputFormat")]
    pub output_format: &'static str,
    #[serde(rename = "OutputText")]
    pub output_text: Vec<OutputText>,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct OutputText {
    #[serde(rename = "CharacterStyle", skip_serializing_if = "Option::is_none")]
    pub character_style: Option<&'static str>,
    #[serde(rename = "EndOfLineFlag")]
    pub end_of_line_flag: bool,
    #[serde(rename = "Text")]
    pub text: String,
}

/// `MessageReference`: which earlier message a request or response is about.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct MessageReference {
    #[serde(rename = "SaleID", skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<String>,
    #[serde(rename = "MessageCategory")]
    pub message_category: String,
    #[serde(rename = "ServiceID", skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct TransactionStatusResponse {
    #[serde(rename = "MessageReference", skip_serializing_if = "Option::is_none")]
    pub message_reference: Option<MessageReference>,
    #[serde(rename = "Response")]
    pub response: Response,
    #[serde(
        rename = "RepeatedMessageResponse",
        skip_serializing_if = "Option::is_none"
    )]
    pub repeated_message_response: Option<RepeatedMessageResponse>,
}

#[derive(Serialize, Debug, Clone)]
pub struct RepeatedMessageResponse {
    #[serde(rename = "RepeatedResponseMessageBody")]
    pub body: RepeatedResponseMessageBody,
    #[serde(rename = "MessageHeader")]
    pub header: MessageHeader,
}

#[derive(Serialize, Debug, Clone)]
pub struct RepeatedResponseMessageBody {
    #[serde(rename = "PaymentResponse", skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentResponse>,
    #[serde(rename = "ReversalResponse", skip_serializing_if = "Option::is_none")]
    pub reversal: Option<ReversalResponse>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ReversalResponse {
    #[serde(rename = "POIData", skip_serializing_if = "Option::is_none")]
    pub poi_data: Option<PoiData>,
    #[serde(
        rename = "OriginalPOITransaction",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_poi_transaction: Option<OriginalPoiTransaction>,
    #[serde(rename = "ReversedAmount", skip_serializing_if = "Option::is_none")]
    pub reversed_amount: Option<serde_json::Number>,
    #[serde(rename = "Response")]
    pub response: Response,
}

#[derive(Serialize, Debug, Clone)]
pub struct OriginalPoiTransaction {
    #[serde(rename = "POITransactionID")]
    pub poi_transaction_id: TransactionIdentification,
}

/// `{"SaleToPOIRequest": {...}}`: what the POI sends on its own, an event notification.
#[derive(Serialize, Debug, Clone)]
pub struct EventEnvelope {
    #[serde(rename = "SaleToPOIRequest")]
    pub request: EventMessage,
}

#[derive(Serialize, Debug, Clone)]
pub struct EventMessage {
    #[serde(rename = "EventNotification")]
    pub event: EventNotification,
    #[serde(rename = "MessageHeader")]
    pub header: MessageHeader,
}

#[derive(Serialize, Debug, Clone)]
pub struct EventNotification {
    #[serde(rename = "EventToNotify")]
    pub event_to_notify: &'static str,
    #[serde(rename = "EventDetails", skip_serializing_if = "Option::is_none")]
    pub event_details: Option<String>,
    /// The rejected request, Base64-encoded (a `Reject` only).
    #[serde(rename = "RejectedMessage", skip_serializing_if = "Option::is_none")]
    pub rejected_message: Option<String>,
    #[serde(rename = "TimeStamp")]
    pub time_stamp: String,
}

/// Adyen's error body for requests rejected before the Terminal API looks at them
/// (authentication, size, method): the `ServiceException` of
/// `docs.adyen.com/development-resources/serviceexception`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct ServiceException {
    pub status: u16,
    #[serde(rename = "errorCode")]
    pub error_code: &'static str,
    pub message: String,
    #[serde(rename = "errorType")]
    pub error_type: &'static str,
}
