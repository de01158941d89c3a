//! The example exchange of `docs/terminal-protocol.md` is what the code speaks: every frame
//! parses as its direction's frame type and renders back to the same JSON, so a field the
//! document misspells (which a receiver would silently ignore) fails here.

use poigate_link::protocol::{
    GatewayFrame, TerminalFrame, parse_gateway_frame, parse_terminal_frame,
};
use serde_json::Value;
use std::path::PathBuf;

fn example() -> Vec<(char, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/terminal-protocol.md");
    let doc = std::fs::read_to_string(path).expect("docs/terminal-protocol.md");
    let start = doc.find("<!-- example -->").expect("example start marker");
    let end = doc.find("<!-- /example -->").expect("example end marker");
    doc[start..end]
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("→ ")
                .map(|f| ('→', f.to_string()))
                .or_else(|| l.strip_prefix("← ").map(|f| ('←', f.to_string())))
        })
        .collect()
}

#[test]
fn the_documented_exchange_is_what_the_code_speaks() {
    let frames = example();
    assert!(
        frames.len() >= 15,
        "the example lost frames: {}",
        frames.len()
    );
    let mut malformed = 0;
    for (direction, text) in frames {
        let original: Value = serde_json::from_str(&text).expect("every example frame is JSON");
        let rendered = match direction {
            '→' => match parse_terminal_frame(&text) {
                Ok(f) => serde_json::to_value::<TerminalFrame>(f),
                Err(e) => {
                    // The example's deliberately malformed frame.
                    assert_eq!(e.code.as_str(), "invalid_frame", "{text}");
                    malformed += 1;
                    continue;
                }
            },
            _ => serde_json::to_value::<GatewayFrame>(
                parse_gateway_frame(&text).unwrap_or_else(|e| panic!("{text}: {e}")),
            ),
        }
        .expect("render");
        assert_eq!(rendered, original, "the document and the code disagree");
    }
    assert_eq!(malformed, 1);
}
