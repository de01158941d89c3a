//! `pay_and_wait`: create a payment, survive a lost answer, follow it to its final state.
//!
//! The danger it removes: a POS sends a sale, the network drops the answer, the POS sends
//! the sale again — and the customer pays twice. Here the create carries an
//! `Idempotency-Key` (the caller's or a generated one, kept for the whole call). When its
//! answer is lost, the interaction is first looked up by the POS's references (`sale_id` +
//! `service_id`, when the request has them); otherwise the create is sent again *with the
//! same key*, which the server answers with the interaction it already committed. Either
//! way there is exactly one interaction. Then the interaction is long-polled to its final
//! state, riding out network failures the same way.

use crate::{Client, ClientError, CreateResponse, retry::jitter};
use poigate_api::{CreateInteractionRequest, InteractionView, ListInteractionsQuery};
use poigate_domain::{CancelReason, DeclineReason, FailureReason, Outcome};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// How [`Client::pay_and_wait_with`] works.
#[derive(Clone, Debug, Default)]
pub struct PayOptions {
    /// The create's `Idempotency-Key` (default: generated). Give your own to make a retry
    /// of the whole call — after your process restarted — land on the same payment.
    pub idempotency_key: Option<String>,
    /// How long to keep trying to create and to wait for the final state (default: the
    /// request's card timeout, 120 s unless set, plus two minutes).
    pub max_wait: Option<Duration>,
}

/// The final result of a payment, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentOutcome {
    Approved {
        auth_code: String,
    },
    Declined {
        reason: DeclineReason,
        message: String,
    },
    Cancelled {
        reason: CancelReason,
    },
    Failed {
        reason: FailureReason,
        message: String,
    },
}

impl PaymentOutcome {
    pub fn is_approved(&self) -> bool {
        matches!(self, PaymentOutcome::Approved { .. })
    }
}

impl From<Outcome> for PaymentOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Approved { auth_code, .. } => PaymentOutcome::Approved { auth_code },
            Outcome::Declined { reason, message } => PaymentOutcome::Declined { reason, message },
            Outcome::Cancelled { reason } => PaymentOutcome::Cancelled { reason },
            Outcome::Failed { reason, message } => PaymentOutcome::Failed { reason, message },
        }
    }
}

/// A payment that reached its final state.
#[derive(Clone, Debug)]
pub struct Payment {
    pub outcome: PaymentOutcome,
    /// The interaction as it ended (with its transaction when a card decided).
    pub interaction: InteractionView,
    /// The `Idempotency-Key` the create was sent with.
    pub idempotency_key: String,
    /// True when the create's answer was lost and the interaction was found again.
    pub recovered: bool,
}

/// A create whose answer arrived, first time or after recovery.
#[derive(Clone, Debug)]
pub struct Created {
    pub response: CreateResponse,
    /// True when an answer was lost on the way and the interaction was found again (by
    /// lookup or by replay of the same key).
    pub recovered: bool,
}

/// Whether an error leaves it unknown if the server carried the create out.
fn ambiguous(e: &ClientError) -> bool {
    match e {
        ClientError::Http(_) => true,
        ClientError::Api { status, .. } | ClientError::Decode { status, .. } => {
            status.is_server_error()
        }
        ClientError::NotFinal { .. } | ClientError::Invalid(_) => false,
    }
}

/// Whether the server refused without doing anything, asking to come back later.
fn come_back_later(e: &ClientError) -> bool {
    match e {
        ClientError::Api { status, problem } => {
            *status == StatusCode::TOO_MANY_REQUESTS
                || *status == StatusCode::SERVICE_UNAVAILABLE
                || problem.code == "idempotency_in_progress"
        }
        _ => false,
    }
}

impl Client {
    /// Creates `request` and follows it to its final state. See [`Client::pay_and_wait_with`].
    pub async fn pay_and_wait(
        &self,
        request: &CreateInteractionRequest,
    ) -> Result<Payment, ClientError> {
        self.pay_and_wait_with(request, &PayOptions::default())
            .await
    }

    /// Creates `request` with an `Idempotency-Key`, recovers a lost answer without paying
    /// twice ([`Client::create_recovering`]), long-polls to the final state, and returns the
    /// typed outcome. A non-final interaction after `max_wait` is [`ClientError::NotFinal`]:
    /// the payment may still finish; look it up by its id.
    pub async fn pay_and_wait_with(
        &self,
        request: &CreateInteractionRequest,
        options: &PayOptions,
    ) -> Result<Payment, ClientError> {
        let started = Instant::now();
        let max_wait = options.max_wait.unwrap_or_else(|| {
            Duration::from_secs(u64::from(request.timeout_seconds.unwrap_or(120)) + 120)
        });
        let key = options
            .idempotency_key
            .clone()
            .unwrap_or_else(crate::new_idempotency_key);
        let created = self.create_recovering(request, &key, max_wait).await?;
        let id = created.response.interaction.id.to_string();
        let left = max_wait.saturating_sub(started.elapsed());
        let interaction = self.follow_to_final(&id, left).await?;
        let Some(outcome) = interaction.outcome.clone() else {
            return Err(ClientError::NotFinal {
                id,
                waited: started.elapsed(),
            });
        };
        Ok(Payment {
            outcome: outcome.into(),
            interaction,
            idempotency_key: key,
            recovered: created.recovered,
        })
    }

    /// Creates an interaction with `idempotency_key`, trying for up to `give_up`. When an
    /// answer is lost (a network failure after sending, a 5xx), the interaction is looked up
    /// by `sale_id` + `service_id` when the request has both, else the create is sent again
    /// with the same key (the server replays what it committed). `429`, `503` and
    /// `idempotency_in_progress` are waited out; any other refusal is returned at once.
    pub async fn create_recovering(
        &self,
        request: &CreateInteractionRequest,
        idempotency_key: &str,
        give_up: Duration,
    ) -> Result<Created, ClientError> {
        let deadline = Instant::now() + give_up;
        // One attempt per call here: this loop decides what happens after a failure (a
        // refused connection gets the client's own retries below).
        let once = self.with_retry(crate::RetryPolicy::none());
        let mut lost = false;
        let mut attempt = 1u32;
        loop {
            let error = match once
                .create_interaction(request, Some(idempotency_key))
                .await
            {
                Ok(response) => {
                    return Ok(Created {
                        response,
                        recovered: lost,
                    });
                }
                Err(e) => e,
            };
            // A refused connection sent nothing: not a lost answer.
            if ambiguous(&error) && !error.is_unreachable() {
                lost = true;
                if let Some(found) = self.lookup_created(request).await {
                    return Ok(Created {
                        response: CreateResponse {
                            interaction: found,
                            replayed: true,
                        },
                        recovered: true,
                    });
                }
            } else if error.is_unreachable() && !lost {
                // Never reached (the client's own retries included): nothing can have been
                // created, and waiting longer here would only hide that the server is down.
                return Err(error);
            } else if !come_back_later(&error) && !error.is_unreachable() {
                return Err(error);
            }
            let wait = self
                .retry_policy()
                .backoff(attempt)
                .max(jitter(Duration::from_millis(100)));
            if Instant::now() + wait >= deadline {
                return Err(error);
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The interaction `request` created, found by its natural key (`None` when the request
    /// has none, or it was not created, or the lookup failed too).
    async fn lookup_created(&self, request: &CreateInteractionRequest) -> Option<InteractionView> {
        let (Some(sale_id), Some(service_id)) = (&request.sale_id, &request.service_id) else {
            return None;
        };
        let query = ListInteractionsQuery {
            sale_id: Some(sale_id.clone()),
            service_id: Some(service_id.clone()),
            limit: Some(1),
            ..ListInteractionsQuery::default()
        };
        self.lookup(&query).await.ok()?.data.into_iter().next()
    }

    /// Long-polls `id` until it is final or `max` passes (then returns it as it is),
    /// riding out network failures and `429`/`503` with backoff.
    pub async fn follow_to_final(
        &self,
        id: &str,
        max: Duration,
    ) -> Result<InteractionView, ClientError> {
        let deadline = Instant::now() + max;
        let mut failures = 0u32;
        let mut last: Option<InteractionView> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = left.as_secs().clamp(1, 30);
            match self.get_interaction(id, Some(wait), None).await {
                Ok(i) if i.is_final => return Ok(i),
                Ok(i) => {
                    failures = 0;
                    last = Some(i);
                }
                Err(e) if e.is_network() || come_back_later(&e) => {
                    failures += 1;
                    let pause = self
                        .retry_policy()
                        .backoff(failures)
                        .max(jitter(Duration::from_millis(200)));
                    if Instant::now() + pause >= deadline {
                        return last.ok_or(e);
                    }
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return last.ok_or_else(|| ClientError::NotFinal {
                    id: id.to_string(),
                    waited: max,
                });
            }
        }
    }
}
