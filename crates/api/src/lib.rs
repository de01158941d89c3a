//! # poigate-api
//!
//! The wire types of poigate's native API: request bodies, response bodies, the problem
//! document of errors. The server renders them; the Rust client and the CLI parse them; the
//! OpenAPI document is generated from them.
//!
//! **Owns:** field names and shapes of the native API (design section 4), and the mapping
//! from domain values to those shapes.
//!
//! **Must not know about:** how requests are served (axum), stored, or carried out. The
//! provider dialects have their own shapes elsewhere.

mod keys;
mod money;
mod problem;
mod requests;
mod views;
mod webhooks;

pub use keys::*;
pub use money::*;
pub use problem::{FieldErrorBody, Problem, problem_type_uri};
pub use requests::*;
pub use views::*;
pub use webhooks::*;
