//! The dialects a server speaks: one list the native API mounts (each under its prefix) and
//! the webhook worker renders with (each format family looked up here, not matched by hand).

use super::{Dialect, ErrorShape, Unauthenticated};
use crate::AppState;
use axum::Router;
use axum::response::{IntoResponse, Response};
use poigate_domain::OutboxMessage;
use poigate_engine::EngineError;
use poigate_webhooks::render::format_family;
use poigate_webhooks::{NativeRenderer, PayloadRenderer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A registered dialect, its types erased so that different dialects share one list.
/// Implemented for every [`Dialect`]; nothing else implements it.
pub trait MountedDialect: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn prefix(&self) -> &'static str;
    fn router(&self) -> Router<AppState>;
    fn webhook_formats(&self) -> &'static [&'static str];
    fn render_webhook(&self, message: &OutboxMessage, format: &str) -> Result<Vec<u8>, String>;
    fn webhook_acknowledged(&self, format: &str, status: u16, body: &[u8]) -> bool;
    fn webhook_id(&self, message: &OutboxMessage, format: &str) -> String;
    /// The dialect's answer for an engine error (its [`ErrorShape::from_engine`]).
    fn engine_error(&self, error: EngineError) -> Response;
    /// The dialect's answer for a refused credential.
    fn unauthenticated(&self, why: Unauthenticated) -> Response;
}

impl<D: Dialect> MountedDialect for D {
    fn name(&self) -> &'static str {
        Dialect::name(self)
    }
    fn prefix(&self) -> &'static str {
        Dialect::prefix(self)
    }
    fn router(&self) -> Router<AppState> {
        Dialect::router(self)
    }
    fn webhook_formats(&self) -> &'static [&'static str] {
        Dialect::webhook_formats(self)
    }
    fn render_webhook(&self, message: &OutboxMessage, format: &str) -> Result<Vec<u8>, String> {
        Dialect::render_webhook(self, message, format)
    }
    fn webhook_acknowledged(&self, format: &str, status: u16, body: &[u8]) -> bool {
        Dialect::webhook_acknowledged(self, format, status, body)
    }
    fn webhook_id(&self, message: &OutboxMessage, format: &str) -> String {
        Dialect::webhook_id(self, message, format)
    }
    fn engine_error(&self, error: EngineError) -> Response {
        D::Error::from_engine(error).into_response()
    }
    fn unauthenticated(&self, why: Unauthenticated) -> Response {
        D::Error::unauthenticated(why).into_response()
    }
}

/// Why a dialect cannot be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "dialect `{name}`: prefix `{prefix}` must start with `/`, not end with one, and contain no `{{`"
    )]
    BadPrefix {
        name: &'static str,
        prefix: &'static str,
    },
    #[error("dialect `{name}`: prefix `{prefix}` is already mounted")]
    PrefixTaken {
        name: &'static str,
        prefix: &'static str,
    },
    #[error("dialect `{name}`: webhook format `{format}` already belongs to another dialect")]
    FormatTaken {
        name: &'static str,
        format: &'static str,
    },
}

/// The dialects a server mounts, and the webhook formats they own.
#[derive(Clone, Default)]
pub struct DialectRegistry {
    dialects: Vec<Arc<dyn MountedDialect>>,
    /// Webhook format family → index in `dialects`.
    formats: BTreeMap<&'static str, usize>,
}

impl DialectRegistry {
    /// No dialects (the native API alone).
    pub fn empty() -> DialectRegistry {
        DialectRegistry::default()
    }

    /// The four dialects poigate ships: Cybersource, NMI, Adyen and CM.com.
    pub fn standard() -> DialectRegistry {
        use crate::dialects::{adyen::Adyen, cm::Cm, cybersource::Cybersource, nmi::Nmi};
        let mut registry = DialectRegistry::empty();
        // The four have distinct, valid prefixes and formats (the registry test checks it),
        // so registering them cannot fail; a failure would leave that dialect out, loudly.
        let results = [
            registry.register(Cybersource).err(),
            registry.register(Nmi).err(),
            registry.register(Adyen).err(),
            registry.register(Cm).err(),
        ];
        for e in results.into_iter().flatten() {
            tracing::error!(error = %e, "a standard dialect was not registered");
        }
        registry
    }

    /// Adds `dialect`, refusing a malformed or taken prefix and a taken webhook format.
    pub fn register<D: Dialect>(&mut self, dialect: D) -> Result<&mut Self, RegistryError> {
        let name = Dialect::name(&dialect);
        let prefix = Dialect::prefix(&dialect);
        if !prefix.starts_with('/')
            || prefix.len() < 2
            || prefix.ends_with('/')
            || prefix.contains('{')
        {
            return Err(RegistryError::BadPrefix { name, prefix });
        }
        if self.dialects.iter().any(|d| d.prefix() == prefix) {
            return Err(RegistryError::PrefixTaken { name, prefix });
        }
        let formats = Dialect::webhook_formats(&dialect);
        if let Some(format) = formats.iter().find(|f| self.formats.contains_key(*f)) {
            return Err(RegistryError::FormatTaken { name, format });
        }
        let index = self.dialects.len();
        self.formats.extend(formats.iter().map(|f| (*f, index)));
        self.dialects.push(Arc::new(dialect));
        Ok(self)
    }

    /// [`register`](Self::register), by value.
    pub fn with<D: Dialect>(mut self, dialect: D) -> Result<DialectRegistry, RegistryError> {
        self.register(dialect)?;
        Ok(self)
    }

    /// The registered dialects, in registration order.
    pub fn dialects(&self) -> impl Iterator<Item = &dyn MountedDialect> {
        self.dialects.iter().map(|d| d.as_ref())
    }

    /// The dialect named `name`.
    pub fn get(&self, name: &str) -> Option<&dyn MountedDialect> {
        self.dialects().find(|d| d.name() == name)
    }

    /// The dialect that renders webhook `format`, if any: the one owning that exact name, else
    /// the one owning its family (`cm.` for `cm.0.finalstatus`).
    pub fn for_format(&self, format: &str) -> Option<&dyn MountedDialect> {
        let index = self
            .formats
            .get(format)
            .or_else(|| self.formats.get(format_family(format)?))?;
        self.dialects.get(*index).map(|d| d.as_ref())
    }

    /// Every dialect, each nested under its prefix, its requests marked with its name so
    /// that the interactions they create are counted under it (`dialect` label).
    pub fn router(&self) -> Router<AppState> {
        self.dialects.iter().fold(Router::new(), |router, d| {
            let name = d.name();
            let marked = d.router().layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    poigate_engine::metrics::with_origin(name, next.run(request))
                },
            ));
            router.nest(d.prefix(), marked)
        })
    }
}

/// Webhook bodies: a format a dialect owns is rendered (and acknowledged) by that dialect;
/// no format, or one no dialect owns, gets the native envelope.
impl PayloadRenderer for DialectRegistry {
    fn render(&self, message: &OutboxMessage, format: Option<&str>) -> Result<Vec<u8>, String> {
        match format.and_then(|f| Some((f, self.for_format(f)?))) {
            Some((f, dialect)) => dialect.render_webhook(message, f),
            None => NativeRenderer.render(message, format),
        }
    }

    fn acknowledged(&self, format: Option<&str>, status: u16, body: &[u8]) -> bool {
        match format.and_then(|f| Some((f, self.for_format(f)?))) {
            Some((f, dialect)) => dialect.webhook_acknowledged(f, status, body),
            None => NativeRenderer.acknowledged(format, status, body),
        }
    }

    fn webhook_id(&self, message: &OutboxMessage, format: Option<&str>) -> String {
        match format.and_then(|f| Some((f, self.for_format(f)?))) {
            Some((f, dialect)) => dialect.webhook_id(message, f),
            None => NativeRenderer.webhook_id(message, format),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_dialects_register_and_own_their_formats() {
        let registry = DialectRegistry::standard();
        let names: Vec<_> = registry.dialects().map(|d| d.name()).collect();
        assert_eq!(names, ["cybersource", "nmi", "adyen", "cm"]);
        assert_eq!(
            registry.for_format("adyen").map(|d| d.name()),
            Some("adyen")
        );
        assert_eq!(
            registry.for_format("cm.0.finalstatus").map(|d| d.name()),
            Some("cm")
        );
        assert!(registry.for_format("native").is_none());
        assert!(registry.for_format("adyenx").is_none());
        assert!(registry.for_format("adyen.x").is_none());
        assert!(registry.for_format("cm").is_none());
    }

    #[test]
    fn a_taken_prefix_is_refused() {
        let mut registry = DialectRegistry::standard();
        assert!(matches!(
            registry.register(crate::dialects::adyen::Adyen),
            Err(RegistryError::PrefixTaken { .. })
        ));
    }
}
