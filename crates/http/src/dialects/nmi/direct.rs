//! NMI's Payment API ("direct post") answer: a query string such as
//! `response=1&responsetext=…&authcode=…&transactionid=…&…&response_code=100`, used by
//! `transact.php` for accepted asynchronous requests, synchronous results, cancellations
//! and errors. Pure.

use super::alias::transaction_alias;
use super::guid::Guid;
use super::status::nmi_type;
use poigate_domain::{
    CancelReason, DeclineReason, Interaction, Outcome, Transaction, TransactionStatus,
};

/// `response`: 1 approved (or accepted), 2 declined, 3 error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Code {
    Approved = 1,
    Declined = 2,
    Error = 3,
}

/// One direct-post answer. Fields are written in NMI's order; empty ones stay (`authcode=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Answer {
    pub response: Code,
    pub text: String,
    pub authcode: String,
    pub transactionid: String,
    pub orderid: String,
    pub kind: String,
    pub response_code: u16,
    pub guid: Option<String>,
}

impl Answer {
    /// An error answer (`response=3`) with `response_code` 300 ("rejected by the gateway").
    pub(super) fn error(text: impl Into<String>) -> Answer {
        Answer {
            response: Code::Error,
            text: text.into(),
            authcode: String::new(),
            transactionid: String::new(),
            orderid: String::new(),
            kind: String::new(),
            response_code: 300,
            guid: None,
        }
    }

    pub(super) fn with_order(mut self, orderid: &str, kind: &str) -> Answer {
        self.orderid = orderid.to_string();
        self.kind = kind.to_string();
        self
    }

    /// The accepted answer of an asynchronous request: `response_code=101` with the guid to
    /// poll, as NMI's asynchronous POI integrations receive it.
    pub(super) fn accepted(guid: Guid, orderid: &str, kind: &str) -> Answer {
        Answer {
            response: Code::Approved,
            text: "Request Accepted".into(),
            response_code: 101,
            guid: Some(guid.render()),
            ..Answer::error("").with_order(orderid, kind)
        }
    }

    /// The query-string body.
    pub(super) fn encode(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        out.append_pair("response", &(self.response as u8).to_string())
            .append_pair("responsetext", &self.text)
            .append_pair("authcode", &self.authcode)
            .append_pair("transactionid", &self.transactionid)
            .append_pair("avsresponse", "")
            .append_pair("cvvresponse", "")
            .append_pair("orderid", &self.orderid)
            .append_pair("type", &self.kind)
            .append_pair("response_code", &self.response_code.to_string());
        if let Some(guid) = &self.guid {
            out.append_pair("async_status_guid", guid);
        }
        out.finish()
    }
}

/// NMI's result code of a decline reason (Payment API appendix: 2xx are issuer declines).
pub(super) fn decline_code(reason: DeclineReason) -> u16 {
    match reason {
        DeclineReason::Refused => 201,
        DeclineReason::InsufficientFunds => 202,
        DeclineReason::CardBlocked => 204,
        DeclineReason::CardExpired => 223,
        DeclineReason::InvalidCard => 220,
        DeclineReason::InvalidAmount | DeclineReason::PinIncorrect => 200,
    }
}

fn cancel_text(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::Terminal => "Transaction cancelled at the POI device",
        CancelReason::Api => "Transaction cancelled by API request",
        CancelReason::Timeout => "Transaction cancelled: no interaction with the POI device",
        CancelReason::NotDelivered => "Transaction cancelled: the POI device did not respond",
    }
}

/// The synchronous answer for an interaction (final, or still in flight at the bound).
pub(super) fn result(interaction: &Interaction, txn: Option<&Transaction>) -> Answer {
    let orderid = interaction.reference.clone().unwrap_or_default();
    let kind = nmi_type(interaction.kind);
    let guid = Some(Guid::Interaction(interaction.id).render());
    let base = Answer {
        guid,
        ..Answer::error("").with_order(&orderid, kind)
    };
    match (&interaction.outcome, txn) {
        (Some(Outcome::Approved { auth_code, .. }), _) => Answer {
            response: Code::Approved,
            text: "APPROVED".into(),
            authcode: auth_code.clone(),
            transactionid: txn
                .filter(|t| t.status == TransactionStatus::Approved)
                .map(|_| transaction_alias(interaction.id).to_string())
                .unwrap_or_default(),
            response_code: 100,
            ..base
        },
        (Some(Outcome::Declined { reason, message }), _) => Answer {
            response: Code::Declined,
            text: message.clone(),
            transactionid: txn
                .map(|_| transaction_alias(interaction.id).to_string())
                .unwrap_or_default(),
            response_code: decline_code(*reason),
            ..base
        },
        (Some(Outcome::Cancelled { reason }), _) => Answer {
            text: cancel_text(*reason).into(),
            ..base
        },
        (Some(Outcome::Failed { message, .. }), _) => Answer {
            text: message.clone(),
            ..base
        },
        _ => Answer {
            text: "Transaction still in progress on the POI device; poll async_status_guid".into(),
            ..base
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_in_nmi_order_with_empty_fields() {
        let a = Answer::error("Authentication Failed");
        assert_eq!(
            a.encode(),
            "response=3&responsetext=Authentication+Failed&authcode=&transactionid=\
             &avsresponse=&cvvresponse=&orderid=&type=&response_code=300"
        );
    }
}
