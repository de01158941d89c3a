//! `POST /adyen/sync` and `POST /adyen/async`: authenticate (`x-api-key`, or a Bearer API key
//! or access token), read the body, parse the `SaleToPOIRequest`, hand it to the module of
//! its message type.

use super::Adyen;
use super::answer::ServiceError;
use super::request::{Body, Header, Reference, Rejected, parse};
use super::{abort, answer, payment, reversal, status};
use crate::AppState;
use crate::dialect::{Dialect, authenticate};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use poigate_domain::{Interaction, TerminalId, Transaction};
use poigate_engine::{Caller, Engine, EngineError, InteractionFilter};

/// How the result of a request reaches the POS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `/sync`: in the HTTP answer, once final.
    Sync,
    /// `/async`: `ok` at once, the result as an event notification (webhook).
    Async,
}

/// Everything a request handler needs.
pub struct Ctx<'a> {
    pub engine: &'a Engine,
    pub caller: &'a Caller,
    pub header: &'a Header,
    /// The request as sent (a `Reject` carries it back).
    pub raw: &'a [u8],
    pub mode: Mode,
}

impl Ctx<'_> {
    /// The header of the answer: the request's references, as a `Response`.
    pub fn response_header(&self, category: &str) -> super::wire::MessageHeader {
        super::render::response_header(
            category,
            Some(&self.header.sale_id),
            Some(&self.header.service_id),
            Some(&self.header.poiid),
        )
    }

    /// The request's references, for a `Reject`.
    pub fn echoed(&self) -> super::render::Echoed<'_> {
        super::render::Echoed {
            sale_id: Some(&self.header.sale_id),
            service_id: Some(&self.header.service_id),
            poiid: Some(&self.header.poiid),
        }
    }

    /// A `Reject` event notification answering this request.
    pub fn reject(&self, message: &str) -> Response {
        answer::json(
            StatusCode::OK,
            &super::render::reject(&self.echoed(), message, Some(self.raw), self.engine.now()),
        )
    }

    /// The terminal the request's `POIID` names (`None`: no such terminal).
    pub async fn terminal(&self) -> Result<Option<TerminalId>, EngineError> {
        match self
            .engine
            .admin()
            .find_terminal_for(self.caller, &self.header.poiid)
            .await
        {
            Ok(t) => Ok(Some(t.terminal.id)),
            Err(EngineError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`Ctx::latest`] with the transaction its card decision created, read together
    /// (a `TransactionStatus` answers both).
    pub async fn latest_with_transaction(
        &self,
        terminal: TerminalId,
        reference: Option<&Reference>,
    ) -> Result<Option<(Interaction, Option<Transaction>)>, EngineError> {
        let filter = InteractionFilter {
            sale_id: reference.map(|r| r.sale_id.clone()),
            service_id: reference.map(|r| r.service_id.clone()),
            terminal_id: Some(terminal),
            limit: 1,
            ..InteractionFilter::default()
        };
        Ok(self
            .engine
            .interactions()
            .find_with_transactions(self.caller, &filter)
            .await?
            .into_iter()
            .next())
    }

    /// The newest interaction on `terminal`, of `sale_id` + `service_id` when given.
    pub async fn latest(
        &self,
        terminal: TerminalId,
        reference: Option<&Reference>,
    ) -> Result<Option<Interaction>, EngineError> {
        let filter = InteractionFilter {
            sale_id: reference.map(|r| r.sale_id.clone()),
            service_id: reference.map(|r| r.service_id.clone()),
            terminal_id: Some(terminal),
            limit: 1,
            ..InteractionFilter::default()
        };
        Ok(self
            .engine
            .interactions()
            .find(self.caller, &filter)
            .await?
            .into_iter()
            .next())
    }
}

pub async fn sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&state, &headers, body, Mode::Sync).await
}

pub async fn asynchronous(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&state, &headers, body, Mode::Async).await
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    mode: Mode,
) -> Response {
    let caller = match authenticate::<ServiceError>(state, Adyen::CREDENTIALS, headers, None).await
    {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    handle_as(state, &caller, body, mode, None).await
}

/// A Terminal API request of an authenticated caller. `device`: the device the URL names
/// (the Cloud Device API's `/devices/{deviceId}/sync`), which must be the message's `POIID`.
pub async fn handle_as(
    state: &AppState,
    caller: &Caller,
    body: Result<Bytes, BytesRejection>,
    mode: Mode,
    device: Option<&str>,
) -> Response {
    let engine = &state.engine;
    let raw = match body {
        Ok(bytes) => bytes,
        Err(rejection) => return answer::unreadable_body(&rejection),
    };
    let value: serde_json::Value = match serde_json::from_slice(&raw) {
        Ok(v) => v,
        Err(e) => return answer::bad_json(&e),
    };
    let request = match parse(&value) {
        Ok(r) => r,
        Err(rejected) => return format_error(engine, &rejected, &raw),
    };
    if let Some(device) = device
        && device != request.header.poiid
    {
        return answer::service_exception(
            StatusCode::UNPROCESSABLE_ENTITY,
            "702",
            format!(
                "Unexpected input: the deviceId {device} of the URL is not the POIID {} of the message",
                request.header.poiid
            ),
            "validation",
        );
    }
    let ctx = Ctx {
        engine,
        caller,
        header: &request.header,
        raw: &raw,
        mode,
    };
    match request.body {
        Body::Payment(p) => payment::handle(&ctx, p).await,
        Body::TransactionStatus(s) => status::handle(&ctx, s).await,
        Body::Abort(a) => abort::handle(&ctx, a).await,
        Body::Reversal(r) => reversal::handle(&ctx, r).await,
        Body::Unsupported { response_key } => unsupported(&ctx, &response_key),
    }
}

fn format_error(engine: &Engine, rejected: &Rejected, raw: &[u8]) -> Response {
    answer::message_format(rejected, raw, engine.now())
}

/// A nexo request poigate does not implement: `UnavailableService`, as Adyen answers
/// requests it does not implement (docs.adyen.com/point-of-sale/error-scenarios).
fn unsupported(ctx: &Ctx<'_>, response_key: &str) -> Response {
    let header = ctx.response_header(&ctx.header.category);
    let response =
        super::wire::Response::failure("UnavailableService", "Unavailable Device Service");
    answer::json(
        StatusCode::OK,
        &answer::body_in(header, response_key, response).into_envelope(),
    )
}
