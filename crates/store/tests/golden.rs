//! Golden rows: bodies exactly as released versions stored them (one JSON body per line in
//! `tests/golden/*.jsonl`, written by the version before storage rows existed, i.e. by
//! `serde_json` of the domain types). Each must decode into its domain type through the row
//! types and encode back to the same bytes. A domain change that is not carried by a row
//! conversion breaks the build (the conversions are field by field) or this test.

use poigate_domain::{
    Event, Interaction, Operation, OutboxMessage, Transaction, TransactionEvent, WebhookEndpoint,
};
use poigate_store::OperationSnapshot;
use poigate_store::rows::{self, Stored};
use std::path::Path;

fn fixture(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(!lines.is_empty(), "{name} holds no rows");
    lines
}

/// Decodes every body of `name` as `T` and checks it encodes back byte for byte.
fn round_trip<T: Stored + std::fmt::Debug>(name: &str) -> Vec<T> {
    fixture(name)
        .iter()
        .enumerate()
        .map(|(n, body)| {
            let value: T =
                rows::decode(body).unwrap_or_else(|e| panic!("{name} line {}: {e}", n + 1));
            let again = rows::encode(&value).expect("encode");
            assert_eq!(&again, body, "{name} line {} changed on re-encoding", n + 1);
            value
        })
        .collect()
}

#[test]
fn interactions_and_idempotent_responses() {
    // An idempotency record stores the interaction as the first response showed it: the
    // same row.
    let all: Vec<Interaction> = round_trip("interactions.jsonl");
    assert_eq!(all.len(), 6);
    assert!(all.iter().any(|i| i.outcome.is_none()));
    assert!(
        all.iter()
            .any(|i| !i.metadata.is_empty() && i.webhooks.len() == 2)
    );
}

#[test]
fn events_of_every_kind() {
    let all: Vec<Event> = round_trip("events.jsonl");
    let mut kinds: Vec<&str> = all.iter().map(|e| e.kind.name()).collect();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "created",
            "acknowledged",
            "stage",
            "cancel_requested",
            "cancel_too_late",
            "terminal_disconnected",
            "terminal_reconnected",
            "overdue",
            "completed"
        ]
    );
}

#[test]
fn transactions_with_card_emv_and_receipts() {
    let all: Vec<Transaction> = round_trip("transactions.jsonl");
    assert!(
        all.iter()
            .any(|t| t.emv.is_some() && t.receipts.customer.is_some())
    );
    assert!(
        all.iter()
            .any(|t| t.card.as_ref().is_some_and(|c| c.bin().is_none()))
    );
    assert!(
        all.iter()
            .any(|t| t.pending_operation.is_some() && t.settled_at.is_some())
    );
}

#[test]
fn operations_transaction_events_and_snapshots() {
    let ops: Vec<Operation> = round_trip("operations.jsonl");
    assert!(ops.iter().any(|o| o.receipts.is_some()));
    let events: Vec<TransactionEvent> = round_trip("transaction_events.jsonl");
    assert_eq!(events.len(), 4);
    let snapshots: Vec<OperationSnapshot> = round_trip("operation_snapshots.jsonl");
    assert_eq!(snapshots.len(), 2);
}

#[test]
fn webhook_messages_of_every_subject_and_endpoints() {
    let messages: Vec<OutboxMessage> = round_trip("outbox_messages.jsonl");
    assert_eq!(messages.len(), 7);
    let endpoints: Vec<WebhookEndpoint> = round_trip("webhook_endpoints.jsonl");
    assert_eq!(endpoints.len(), 2);
}

/// Rows written before a field existed read with its default.
#[test]
fn rows_from_before_later_fields_still_read() {
    let mut txn: serde_json::Value =
        serde_json::from_str(&fixture("transactions.jsonl")[0]).expect("json");
    let obj = txn.as_object_mut().expect("object");
    for later in [
        "pending_operation",
        "captured_at",
        "voided_at",
        "settled_at",
        "last_seq",
    ] {
        obj.remove(later);
    }
    let old: Transaction = rows::decode(&txn.to_string()).expect("an old transaction row");
    assert_eq!(old.last_seq, 0);
    assert_eq!(old.captured_at, None);

    let mut msg: serde_json::Value =
        serde_json::from_str(&fixture("outbox_messages.jsonl")[2]).expect("json");
    msg["subject"]["terminal"]
        .as_object_mut()
        .expect("terminal")
        .remove("connection");
    let old: OutboxMessage = rows::decode(&msg.to_string()).expect("an old terminal snapshot");
    let poigate_domain::WebhookSubject::Terminal { terminal, .. } = old.subject else {
        panic!("expected a terminal subject");
    };
    assert_eq!(
        terminal.connection,
        poigate_domain::TerminalConnection::InProcess
    );
}

/// A body the domain refuses is `Corrupt`, never a panic.
#[test]
fn a_bad_body_is_corrupt() {
    let bad = fixture("interactions.jsonl")[0].replace("\"EUR\"", "\"XXX\"");
    assert!(matches!(
        rows::decode::<Interaction>(&bad),
        Err(poigate_store::StoreError::Corrupt(_))
    ));
    assert!(matches!(
        rows::decode::<Event>("{\"type\":\"renamed\"}"),
        Err(poigate_store::StoreError::Corrupt(_))
    ));
}
