//! A webhook receiver that checks poigate's Standard Webhooks signature before trusting
//! anything in the body. Plain `std::net`, one request at a time: the verification is the
//! point, not the server.
//!
//! ```text
//! WEBHOOK_SECRET=whsec_… cargo run -p poigate-client --example verify_webhook
//! poigate listen --forward-to http://127.0.0.1:4242/webhooks   # prints its whsec_ secret
//! ```

use poigate_client::webhook::{Headers, verify_now};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

fn main() -> anyhow::Result<()> {
    let secret = std::env::var("WEBHOOK_SECRET")?;
    let listener = TcpListener::bind("127.0.0.1:4242")?;
    println!("listening on http://127.0.0.1:4242/webhooks");
    for stream in listener.incoming() {
        let mut stream = stream?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut headers = reqwest::header::HeaderMap::new();
        let mut length = 0usize;
        let mut line = String::new();
        reader.read_line(&mut line)?; // the request line
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
            if name == "content-length" {
                length = value.parse()?;
            }
            if let (Ok(n), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                reqwest::header::HeaderValue::from_str(&value),
            ) {
                headers.insert(n, v);
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let verdict = Headers::from_map(&headers)
            .ok_or_else(|| "missing webhook-* headers".to_string())
            .and_then(|h| verify_now(&secret, &h, &body).map_err(|e| e.to_string()));
        let status = match verdict {
            Ok(()) => {
                let event: serde_json::Value = serde_json::from_slice(&body)?;
                println!("verified {} {}", event["type"], event["data"]["id"]);
                "204 No Content"
            }
            Err(why) => {
                println!("rejected: {why}");
                "400 Bad Request"
            }
        };
        write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )?;
    }
    Ok(())
}
