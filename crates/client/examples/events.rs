//! Follow every event of the merchant live (the merchant-wide stream), resuming by itself
//! with `Last-Event-ID` after a dropped connection.
//!
//! ```text
//! POIGATE_URL=http://127.0.0.1:8080 POIGATE_API_KEY=pg_test_… \
//!   cargo run -p poigate-client --example events -- interaction.completed
//! ```

use poigate_client::Client;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("POIGATE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let key = std::env::var("POIGATE_API_KEY")?;
    let types: Vec<String> = std::env::args().skip(1).collect();
    let types: Vec<&str> = types.iter().map(String::as_str).collect();

    let client = Client::builder(url, key).build()?;
    let mut stream = client.merchant_events(&types, None);
    while let Some(message) = stream.next().await {
        let message = message?;
        // `data` is exactly the body a webhook endpoint would receive.
        let body: serde_json::Value = message.json()?;
        println!(
            "{}  {}  {}",
            message.id.as_deref().unwrap_or("-"),
            message.event,
            body["data"]["id"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
