//! Translation between CM.com transactions and poigate interactions. No business rule here:
//! only names, shapes and the status table of `docs/dialects.md`.

use super::wire::{
    self, Action, Metadata, Redirect, Refunds, ReturnUrls, TransactionView, WebhookSpec, keys,
};
use poigate_domain::{
    CallbackSubscription, CancelReason, Condition, Interaction, InteractionId, Operation,
    OperationStatus, Status, Timestamp, Transaction, TransactionKind,
};

/// What a create request becomes in poigate's terms.
pub struct Prepared {
    pub timeout_seconds: Option<u32>,
    pub metadata: Metadata,
    pub webhooks: Vec<CallbackSubscription>,
}

/// CM.com webhook events and the poigate event each listens to. For a card-present sale the
/// only status change after `OPEN` is the final one, so `STATUS_CHANGE` and `FINALSTATUS`
/// both follow `interaction.completed`.
fn native_event(cm_event: &str) -> Option<&'static str> {
    match cm_event {
        "FINALSTATUS" | "STATUS_CHANGE" => Some("interaction.completed"),
        "REFUND_STATUS" => Some("transaction.refund.updated"),
        _ => None,
    }
}

/// Checks a create request against CM.com's constraints and maps its fields.
pub fn prepare(req: &wire::CreateTransaction, now: Timestamp) -> Result<Prepared, String> {
    let len = |s: &str| s.chars().count();
    if !(1..=255).contains(&len(&req.reference)) {
        return Err("reference must be 1 to 255 characters".into());
    }
    let mut metadata = Metadata::new();
    metadata.insert(keys::DIALECT.into(), "cm".into());
    if let Some(d) = &req.description {
        if !(1..=255).contains(&len(d)) {
            return Err("description must be 1 to 255 characters".into());
        }
        metadata.insert(keys::DESCRIPTION.into(), d.clone());
    }
    if let Some(l) = &req.language {
        if l.len() != 2 || !l.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err("language must be an ISO 639-1 code such as nl".into());
        }
        metadata.insert(keys::LANGUAGE.into(), l.clone());
    }
    if let Some(c) = &req.country {
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err("country must be an ISO 3166 code such as NL".into());
        }
        metadata.insert(keys::COUNTRY.into(), c.to_ascii_uppercase());
    }
    let mut timeout_seconds = None;
    if let Some(e) = &req.expires_at {
        let at = Timestamp::parse_rfc3339(e).ok_or("expiresAt must be an RFC 3339 time")?;
        let seconds = at.millis_since(now) / 1000;
        if seconds < 10 {
            return Err("expiresAt must be at least 10 seconds in the future".into());
        }
        // The terminal enforces the card timeout: expiresAt becomes it (at most 600 s).
        timeout_seconds = Some(u32::try_from(seconds.min(600)).unwrap_or(600));
        metadata.insert(keys::EXPIRES_AT.into(), at.to_rfc3339_seconds());
    }
    match (&req.return_url, &req.return_urls) {
        (Some(_), Some(_)) => {
            return Err("either returnUrl or returnUrls must be specified, but not both".into());
        }
        (Some(u), None) => {
            metadata.insert(keys::RETURN_URL.into(), u.clone());
        }
        (None, Some(urls)) => {
            for (key, value) in [
                (keys::RETURN_SUCCESS, &urls.success),
                (keys::RETURN_CANCELLED, &urls.cancelled),
                (keys::RETURN_EXPIRED, &urls.expired),
                (keys::RETURN_FAILED, &urls.failed),
            ] {
                if let Some(v) = value {
                    metadata.insert(key.into(), v.clone());
                }
            }
        }
        (None, None) => {}
    }
    let mut webhooks = Vec::new();
    let mut seen = Vec::new();
    for (entry, spec) in req.webhooks.iter().enumerate() {
        for event in &spec.events {
            let native = native_event(event)
                .ok_or_else(|| format!("unsupported webhook event `{event}` (FINALSTATUS, STATUS_CHANGE, REFUND_STATUS)"))?;
            if seen.contains(event) {
                return Err(format!(
                    "each webhook event can be used at most once per transaction ({event})"
                ));
            }
            seen.push(event.clone());
            webhooks.push(CallbackSubscription {
                url: spec.url.clone(),
                events: vec![native.to_string()],
                // `cm.<request entry>.<event>`: the renderer reads the event, the view
                // rebuilds the entries exactly as they were sent.
                format: Some(format!("cm.{entry}.{}", event.to_ascii_lowercase())),
            });
        }
    }
    Ok(Prepared {
        timeout_seconds,
        metadata,
        webhooks,
    })
}

/// The CM.com status of an interaction and its transaction.
pub fn status(i: &Interaction, txn: Option<&Transaction>) -> &'static str {
    match i.status {
        Status::Pending | Status::InProgress => "OPEN",
        Status::Approved => match txn {
            Some(t) if t.condition == Condition::Canceled => "CANCELLED",
            Some(t) if t.kind == TransactionKind::Auth && t.captured_amount == 0 => "AUTHORIZED",
            _ => "SUCCESS",
        },
        Status::Declined | Status::Failed => "FAILURE",
        Status::Cancelled => match i.cancel_reason() {
            Some(CancelReason::Timeout | CancelReason::NotDelivered) => "EXPIRED",
            _ => "CANCELLED",
        },
    }
}

/// Reads a callback format `cm.<entry>.<event>`: the request entry and the CM.com event.
pub fn parse_format(format: &str) -> Option<(usize, String)> {
    let mut parts = format.strip_prefix("cm.")?.splitn(2, '.');
    let entry = parts.next()?.parse().ok()?;
    Some((entry, parts.next()?.to_ascii_uppercase()))
}

/// The webhooks as they were sent: entries in request order, events in each entry's order.
fn webhooks(i: &Interaction) -> Vec<WebhookSpec> {
    let mut out: Vec<(usize, WebhookSpec)> = Vec::new();
    for sub in &i.webhooks {
        let Some((entry, event)) = sub.format.as_deref().and_then(parse_format) else {
            continue;
        };
        match out.iter_mut().find(|(e, _)| *e == entry) {
            Some((_, w)) => w.events.push(event),
            None => out.push((
                entry,
                WebhookSpec {
                    url: sub.url.clone(),
                    events: vec![event],
                },
            )),
        }
    }
    out.into_iter().map(|(_, w)| w).collect()
}

/// A refund (a poigate refund operation) as CM.com lists it.
pub fn refund_view(op: &Operation, transaction: InteractionId) -> wire::RefundView {
    wire::RefundView {
        id: op.id.uuid().hyphenated().to_string(),
        transaction_id: transaction.uuid().hyphenated().to_string(),
        amount: op.amount.value(),
        currency: op.amount.currency().code().to_string(),
        status: match op.status {
            OperationStatus::Pending => "PENDING",
            OperationStatus::Succeeded => "SUCCEEDED",
            OperationStatus::Failed => "FAILED",
        },
        reason: op.reference.clone(),
        created_at: op.created_at.to_rfc3339_seconds(),
    }
}

pub fn view(i: &Interaction, txn: Option<&Transaction>, base: &str) -> TransactionView {
    let id = i.id.uuid().hyphenated().to_string();
    let meta = |k: &str| i.metadata.get(k).cloned();
    let status = status(i, txn);
    let return_urls = ReturnUrls {
        success: meta(keys::RETURN_SUCCESS),
        cancelled: meta(keys::RETURN_CANCELLED),
        expired: meta(keys::RETURN_EXPIRED),
        failed: meta(keys::RETURN_FAILED),
    };
    let has_return_urls = return_urls != ReturnUrls::default();
    TransactionView {
        order_id: id.clone(),
        reference: i.reference.clone().unwrap_or_default(),
        amount: i.amount.value(),
        currency: i.amount.currency().code().to_string(),
        description: meta(keys::DESCRIPTION),
        expires_at: meta(keys::EXPIRES_AT),
        language: meta(keys::LANGUAGE),
        country: meta(keys::COUNTRY),
        webhooks: webhooks(i),
        status,
        action: (status == "OPEN").then(|| Action {
            redirect: Redirect {
                url: format!("{base}/api/v1/paymentmethods/creditcard/v1/transactions/{id}"),
            },
        }),
        created_at: i.created_at.to_rfc3339_seconds(),
        refunds: Refunds {
            refunded_amount: txn.map(|t| t.refunded_amount).unwrap_or(0),
            refunded_pending_amount: txn.map(|t| t.refund_pending_amount).unwrap_or(0),
        },
        return_url: meta(keys::RETURN_URL),
        return_urls: has_return_urls.then_some(return_urls),
        id,
    }
}
