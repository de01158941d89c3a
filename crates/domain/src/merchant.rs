//! Merchants (tenants) and API key modes.

use crate::id::MerchantId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A tenant: owns API keys, terminals, interactions and webhook endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    pub id: MerchantId,
    pub name: String,
    pub created_at: Timestamp,
    /// Set by a platform admin: the merchant's keys are refused (401) from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Timestamp>,
}

/// Test keys may drive simulated terminals through the test helpers; live keys may not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyMode {
    Test,
    Live,
}

impl ApiKeyMode {
    /// The prefix of secrets of this mode: `pg_test_` or `pg_live_`.
    pub fn secret_prefix(self) -> &'static str {
        match self {
            ApiKeyMode::Test => "pg_test_",
            ApiKeyMode::Live => "pg_live_",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyMode::Test => "test",
            ApiKeyMode::Live => "live",
        }
    }

    pub fn parse(s: &str) -> Option<ApiKeyMode> {
        match s {
            "test" => Some(ApiKeyMode::Test),
            "live" => Some(ApiKeyMode::Live),
            _ => None,
        }
    }

    /// The mode a presented secret claims by its prefix.
    pub fn of_secret(secret: &str) -> Option<ApiKeyMode> {
        if secret.starts_with("pg_test_") {
            Some(ApiKeyMode::Test)
        } else if secret.starts_with("pg_live_") {
            Some(ApiKeyMode::Live)
        } else {
            None
        }
    }
}
