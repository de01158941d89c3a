//! A sale that survives a lost answer: `pay_and_wait` creates it with an idempotency key,
//! recovers by lookup if the answer is lost, and long-polls to the final state.
//!
//! ```text
//! poigate serve --demo        # in another terminal; note the URL and key it prints
//! POIGATE_URL=http://127.0.0.1:8080 POIGATE_API_KEY=pg_test_… \
//!   cargo run -p poigate-client --example pay -- V400m-324688179 1250 EUR
//! ```

use poigate_api::CreateInteractionRequest;
use poigate_client::{Client, PaymentOutcome};
use poigate_domain::InteractionType;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("POIGATE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let key = std::env::var("POIGATE_API_KEY")?;
    let mut args = std::env::args().skip(1);
    let terminal = args.next().unwrap_or_else(|| "V400m-324688179".into());
    let value: i64 = args.next().unwrap_or_else(|| "1250".into()).parse()?;
    let currency = args.next().unwrap_or_else(|| "EUR".into());

    let client = Client::builder(url, key).build()?;
    let mut sale = CreateInteractionRequest::new(terminal, InteractionType::Sale, value, currency);
    // Your own references make the payment findable after a crash of your process too.
    sale.sale_id = Some("till-1".into());
    sale.service_id = Some(format!("{}", std::process::id()));

    let payment = client.pay_and_wait(&sale).await?;
    println!(
        "{} (idempotency key {}, recovered: {})",
        payment.interaction.id, payment.idempotency_key, payment.recovered
    );
    match payment.outcome {
        PaymentOutcome::Approved { auth_code } => println!("approved, auth code {auth_code}"),
        PaymentOutcome::Declined { message, .. } => println!("declined: {message}"),
        PaymentOutcome::Cancelled { reason } => println!("cancelled: {reason:?}"),
        PaymentOutcome::Failed { message, .. } => println!("failed: {message}"),
    }
    Ok(())
}
