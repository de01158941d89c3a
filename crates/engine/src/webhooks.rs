//! Webhook endpoints, signing secrets and the delivery log, as the engine offers them.
//!
//! The engine only records: outbox messages are written with the state changes in
//! `engine.rs`, delivered by the `poigate-webhooks` worker. What is here is management:
//! validated endpoints, secrets generated from the OS, rotation with overlap, the log.

use crate::engine::{Caller, Engine};
use crate::error::EngineError;
use crate::services::Webhooks;
use base64::Engine as _;
use poigate_domain::webhook::validate_filter;
use poigate_domain::{
    DeliveryId, EndpointKind, FieldError, MerchantId, SigningSecret, ValidationErrors,
    WebhookEndpoint, WebhookEndpointId,
};
use poigate_store::{DeliveryFilter, DeliveryRecord, DeliveryStatus};
use std::time::Duration;

/// Decides whether a webhook URL may be called (the SSRF guard). The engine applies it to
/// endpoints and per-interaction callbacks; the implementation lives with the HTTP client.
pub trait TargetGuard: Send + Sync + 'static {
    /// `Err(reason)` when the URL must not be called.
    fn check(&self, url: &str) -> Result<(), String>;
}

/// A new endpoint.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub url: String,
    /// Payload format (`adyen`, `cm`, …); the native envelope when `None`.
    pub format: Option<String>,
    /// Event types, or `["*"]` for all.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct EndpointUpdate {
    pub url: Option<String>,
    pub format: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Bytes of randomness in a new signing secret (the spec allows 24 to 64).
const SECRET_BYTES: usize = 32;

fn new_secret() -> Result<String, EngineError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| EngineError::Randomness(e.to_string()))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

impl Engine {
    /// Checks a webhook URL: syntax, no card data, and the SSRF guard.
    pub(crate) fn check_webhook_url(&self, field: &str, url: &str, errors: &mut ValidationErrors) {
        let before = errors.errors().len();
        errors.check_text(field, url, 2000);
        if errors.errors().len() > before {
            return;
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            errors.add(
                field,
                "invalid_url",
                "the URL must start with https:// or http://",
            );
            return;
        }
        if let Err(reason) = self.inner.target_guard.check(url) {
            errors.add(field, "target_not_allowed", reason);
        }
    }

    pub(crate) fn validate_endpoint(
        &self,
        url: &str,
        events: &[String],
        description: Option<&str>,
        format: Option<&str>,
    ) -> Result<(), EngineError> {
        let mut errors = ValidationErrors::new();
        if let Some(f) = format
            && !poigate_domain::webhook::valid_format(f)
        {
            errors.add(
                "format",
                "invalid_format",
                "a format is 1 to 32 lowercase letters, digits, dots or underscores, e.g. adyen",
            );
        }
        self.check_webhook_url("url", url, &mut errors);
        validate_filter("events", events, &mut errors);
        if let Some(d) = description {
            errors.check_text("description", d, 200);
        }
        Ok(errors.into_result(())?)
    }

    /// Stores a new endpoint record with a fresh secret.
    pub(crate) async fn save_new_record(
        &self,
        merchant: MerchantId,
        livemode: bool,
        kind: EndpointKind,
        new: NewEndpoint,
    ) -> Result<WebhookEndpoint, EngineError> {
        let now = self.now();
        let record = WebhookEndpoint {
            id: WebhookEndpointId::generate(now),
            merchant_id: merchant,
            livemode,
            kind,
            url: new.url,
            format: new.format.filter(|f| f != "native"),
            description: new.description,
            events: new.events,
            enabled: new.enabled,
            disabled_reason: None,
            secrets: vec![SigningSecret {
                secret: new_secret()?,
                created_at: now,
                expires_at: None,
            }],
            created_at: now,
            updated_at: now,
        };
        self.inner.store.save_webhook_endpoint(&record).await?;
        Ok(record)
    }

    pub(crate) async fn rotate(
        &self,
        endpoint: &mut WebhookEndpoint,
        overlap: Option<Duration>,
    ) -> Result<(), EngineError> {
        let overlap = overlap.unwrap_or(self.inner.config.webhook_secret_overlap);
        if overlap > Duration::from_secs(7 * 24 * 3600) {
            return Err(EngineError::Validation(ValidationErrors::single(
                FieldError::new(
                    "overlap_seconds",
                    "out_of_range",
                    "the overlap is at most 7 days",
                ),
            )));
        }
        let ms = i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX);
        endpoint.rotate(new_secret()?, self.now(), ms);
        self.inner.store.save_webhook_endpoint(endpoint).await?;
        Ok(())
    }
}

impl Webhooks<'_> {
    /// Creates an endpoint of the caller's key's mode: it receives only that mode's events.
    pub async fn create_webhook_endpoint(
        &self,
        caller: &Caller,
        new: NewEndpoint,
    ) -> Result<WebhookEndpoint, EngineError> {
        let merchant = caller.merchant_id;
        self.engine.validate_endpoint(
            &new.url,
            &new.events,
            new.description.as_deref(),
            new.format.as_deref(),
        )?;
        let count = self
            .engine
            .inner
            .store
            .list_webhook_endpoints(merchant)
            .await?
            .iter()
            .filter(|e| e.kind == EndpointKind::Endpoint)
            .count();
        if count >= 20 {
            return Err(EngineError::NotAllowed(
                "a merchant has at most 20 webhook endpoints",
            ));
        }
        self.engine
            .save_new_record(merchant, caller.livemode(), EndpointKind::Endpoint, new)
            .await
    }

    /// The caller's endpoints, of its key's mode only.
    pub async fn list_webhook_endpoints(
        &self,
        caller: &Caller,
    ) -> Result<Vec<WebhookEndpoint>, EngineError> {
        Ok(self
            .engine
            .inner
            .store
            .list_webhook_endpoints(caller.merchant_id)
            .await?
            .into_iter()
            .filter(|e| e.kind == EndpointKind::Endpoint && e.livemode == caller.livemode())
            .collect())
    }

    /// One of the caller's endpoints; one of the other mode is not found, like another
    /// merchant's.
    pub async fn webhook_endpoint(
        &self,
        caller: &Caller,
        id: WebhookEndpointId,
    ) -> Result<WebhookEndpoint, EngineError> {
        match self
            .engine
            .inner
            .store
            .get_webhook_endpoint(caller.merchant_id, id)
            .await?
        {
            Some(e) if e.kind == EndpointKind::Endpoint && e.livemode == caller.livemode() => Ok(e),
            _ => Err(EngineError::NotFound("webhook endpoint")),
        }
    }

    pub async fn update_webhook_endpoint(
        &self,
        caller: &Caller,
        id: WebhookEndpointId,
        update: EndpointUpdate,
    ) -> Result<WebhookEndpoint, EngineError> {
        let mut endpoint = self.webhook_endpoint(caller, id).await?;
        if let Some(url) = update.url {
            endpoint.url = url;
        }
        if let Some(format) = update.format {
            endpoint.format = (format != "native").then_some(format);
        }
        if let Some(events) = update.events {
            endpoint.events = events;
        }
        if let Some(d) = update.description {
            endpoint.description = Some(d);
        }
        if let Some(enabled) = update.enabled {
            endpoint.enabled = enabled;
            if enabled {
                endpoint.disabled_reason = None;
            }
        }
        self.engine.validate_endpoint(
            &endpoint.url,
            &endpoint.events,
            endpoint.description.as_deref(),
            endpoint.format.as_deref(),
        )?;
        endpoint.updated_at = self.engine.now();
        self.engine
            .inner
            .store
            .save_webhook_endpoint(&endpoint)
            .await?;
        Ok(endpoint)
    }

    pub async fn delete_webhook_endpoint(
        &self,
        caller: &Caller,
        id: WebhookEndpointId,
    ) -> Result<(), EngineError> {
        let merchant = caller.merchant_id;
        self.webhook_endpoint(caller, id).await?;
        if self
            .engine
            .inner
            .store
            .delete_webhook_endpoint(merchant, id, self.engine.now())
            .await?
        {
            Ok(())
        } else {
            Err(EngineError::NotFound("webhook endpoint"))
        }
    }

    /// Adds a new secret; the previous ones keep signing for `overlap` (default from the
    /// configuration), so receivers can switch without losing a message.
    pub async fn rotate_webhook_secret(
        &self,
        caller: &Caller,
        id: WebhookEndpointId,
        overlap: Option<Duration>,
    ) -> Result<WebhookEndpoint, EngineError> {
        let mut endpoint = self.webhook_endpoint(caller, id).await?;
        self.engine.rotate(&mut endpoint, overlap).await?;
        Ok(endpoint)
    }

    /// The record holding the secret that signs a merchant's per-interaction callbacks,
    /// created on first use.
    pub async fn ensure_callback_secret(
        &self,
        merchant: MerchantId,
    ) -> Result<WebhookEndpoint, EngineError> {
        if let Some(existing) = self
            .engine
            .inner
            .store
            .list_webhook_endpoints(merchant)
            .await?
            .into_iter()
            .find(|e| e.kind == EndpointKind::Callbacks)
        {
            return Ok(existing);
        }
        let new = NewEndpoint {
            url: String::new(),
            format: None,
            events: vec!["*".into()],
            description: Some("signs per-interaction callbacks".into()),
            enabled: true,
        };
        self.engine
            .save_new_record(merchant, false, EndpointKind::Callbacks, new)
            .await
    }

    pub async fn rotate_callback_secret(
        &self,
        merchant: MerchantId,
        overlap: Option<Duration>,
    ) -> Result<WebhookEndpoint, EngineError> {
        let mut record = self.ensure_callback_secret(merchant).await?;
        self.engine.rotate(&mut record, overlap).await?;
        Ok(record)
    }

    /// The caller's deliveries, of its key's mode only (filtered in the store's query, so
    /// pages never mix modes).
    pub async fn deliveries(
        &self,
        caller: &Caller,
        filter: &DeliveryFilter,
    ) -> Result<Vec<DeliveryRecord>, EngineError> {
        let filter = DeliveryFilter {
            livemode: Some(caller.livemode()),
            ..filter.clone()
        };
        Ok(self
            .engine
            .inner
            .store
            .list_deliveries(caller.merchant_id, &filter)
            .await?)
    }

    pub async fn delivery(
        &self,
        caller: &Caller,
        id: DeliveryId,
    ) -> Result<DeliveryRecord, EngineError> {
        self.engine
            .inner
            .store
            .get_delivery(caller.merchant_id, id)
            .await?
            .filter(|d| d.livemode == caller.livemode())
            .ok_or(EngineError::NotFound("webhook delivery"))
    }

    /// Sends a delivery again now, with a fresh retry schedule.
    pub async fn redeliver(
        &self,
        caller: &Caller,
        id: DeliveryId,
    ) -> Result<DeliveryRecord, EngineError> {
        let merchant = caller.merchant_id;
        let delivery = self.delivery(caller, id).await?;
        if delivery.status == DeliveryStatus::Pending {
            return Err(EngineError::NotAllowed("the delivery is still pending"));
        }
        if let Some(endpoint_id) = delivery.endpoint_id {
            match self
                .engine
                .inner
                .store
                .get_webhook_endpoint(merchant, endpoint_id)
                .await?
            {
                Some(e) if e.enabled => {}
                Some(_) => {
                    return Err(EngineError::NotAllowed(
                        "the endpoint is disabled; enable it first",
                    ));
                }
                None => return Err(EngineError::NotAllowed("the endpoint was deleted")),
            }
        }
        self.engine
            .inner
            .store
            .redeliver(merchant, id, self.engine.now())
            .await?;
        self.engine.inner.outbox_signal.notify_one();
        self.delivery(caller, id).await
    }
}
