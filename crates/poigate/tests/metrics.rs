//! `/metrics` of the real `poigate` binary, on its separate listener, read with a real
//! Prometheus text-format parser: one native sale and one NMI sale move the counters and
//! histograms they should (HTTP requests, interactions by type/outcome/dialect, time to
//! final, the terminal link, the storage writer, webhook attempts and their lag).

mod support;

use poigate_api::CreateWebhookEndpointRequest;
use poigate_testkit::poigate_client::Client;
use poigate_testkit::{WebhookReceiver, eventually, sale};
use prometheus_parse::{Scrape, Value};
use std::time::Duration;

const KEY: &str = "pg_test_metrics_scrape_0123456789abcdef0123";
const WAIT: Duration = Duration::from_secs(30);
const NATIVE_TERMINAL: &str = "V400m-324688179";
const NMI_TERMINAL: &str = "P400Plus-275039202";

/// One scrape, parsed, and its text.
struct Metrics {
    scrape: Scrape,
    text: String,
}

impl Metrics {
    async fn scrape(http: &reqwest::Client, url: &str) -> anyhow::Result<Metrics> {
        let response = http.get(url).send().await?;
        anyhow::ensure!(
            response.status() == 200,
            "metrics answered {}",
            response.status()
        );
        let text = response.text().await?;
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))?;
        Ok(Metrics { scrape, text })
    }

    /// The samples of `name` whose labels include `labels`.
    fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a prometheus_parse::Sample> + 'a {
        self.scrape.samples.iter().filter(move |s| {
            s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
    }

    /// The sum of the matching samples: a counter's or gauge's value, a histogram's count
    /// (its `+Inf` bucket). 0 when there is none (a series appears on first use).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels)
            .map(|s| match &s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                Value::Histogram(buckets) => buckets
                    .iter()
                    .find(|b| b.less_than.is_infinite())
                    .map(|b| b.count)
                    .unwrap_or(0.0),
                Value::Summary(_) => 0.0,
            })
            .sum()
    }

    /// Whether `name` is exported as a histogram with buckets (not a summary).
    fn is_histogram(&self, name: &str) -> bool {
        let mut samples = self.samples(name, &[]).peekable();
        samples.peek().is_some()
            && samples.all(|s| matches!(&s.value, Value::Histogram(b) if b.len() > 1))
    }
}

/// What a sale must move, compared between two scrapes.
struct Delta<'a> {
    before: &'a Metrics,
    after: &'a Metrics,
}

impl Delta<'_> {
    fn of(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.after.value(name, labels) - self.before.value(name, labels)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_moves_the_counters_and_histograms() -> anyhow::Result<()> {
    poigate_webhooks::install_tls_provider();
    let dir = tempfile::tempdir()?;
    let receiver = WebhookReceiver::start().await?;
    let (_gateway, rx) = support::spawn(
        &[
            "serve",
            "--demo",
            "--demo-terminals",
            "link",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--sim-speed",
            "0",
            "--log",
            "warn",
        ],
        Some(dir.path()),
        KEY,
    );
    let url = support::line_where(&rx, |l| {
        l.trim().strip_prefix("URL").map(|u| u.trim().to_string())
    });
    let metrics_url = support::line_where(&rx, |l| {
        l.trim()
            .strip_prefix("metrics")
            .map(|u| u.trim().to_string())
    });
    assert!(
        metrics_url.starts_with("http://127.0.0.1:") && metrics_url.ends_with("/metrics"),
        "{metrics_url}"
    );
    assert_ne!(
        metrics_url.trim_end_matches("/metrics"),
        url,
        "metrics have a listener of their own"
    );
    let http = reqwest::Client::new();
    // The API does not serve them.
    let on_api = http.get(format!("{url}/metrics")).send().await?;
    assert_eq!(on_api.status(), 404);

    let client = Client::new(&url, KEY)?;
    client
        .create_webhook_endpoint(&CreateWebhookEndpointRequest {
            url: receiver.url("/hook"),
            format: None,
            events: Some(vec!["interaction.completed".into()]),
            description: None,
            enabled: None,
        })
        .await?;
    let before = Metrics::scrape(&http, &metrics_url).await?;

    // A native sale, followed to its end with a long-poll.
    let created = client
        .create_interaction(&sale(NATIVE_TERMINAL, 1000, "EUR"), None)
        .await?;
    let done = client
        .wait_final(&created.interaction.id.to_string(), WAIT)
        .await?;
    assert_eq!(done.status.as_str(), "approved");
    // An NMI sale, answered synchronously with the final result.
    let nmi = http
        .post(format!("{url}/nmi/api/transact.php"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "security_key={KEY}&type=sale&amount=12.50&poi_device_id={NMI_TERMINAL}"
        ))
        .send()
        .await?;
    assert_eq!(nmi.status(), 200);
    let nmi_body = nmi.text().await?;
    assert!(nmi_body.contains("response=1"), "{nmi_body}");

    // Completions are counted right after they are published, and webhooks go out in the
    // background: wait until both sales and both deliveries are in.
    let after = eventually(WAIT, || async {
        let m = Metrics::scrape(&http, &metrics_url).await.ok()?;
        let delta = Delta {
            before: &before,
            after: &m,
        };
        let complete = delta.of("poigate_interactions_completed_total", &[]) >= 2.0
            && delta.of("poigate_webhook_attempts_total", &[("result", "succeeded")]) >= 2.0;
        complete.then_some(m)
    })
    .await?;
    let d = Delta {
        before: &before,
        after: &after,
    };

    // HTTP requests by route template, method and status, with their latency.
    let create = [
        ("method", "POST"),
        ("route", "/v1/interactions"),
        ("status", "202"),
    ];
    assert_eq!(d.of("poigate_http_requests_total", &create), 1.0);
    assert_eq!(d.of("poigate_http_request_duration_seconds", &create), 1.0);
    assert!(after.is_histogram("poigate_http_request_duration_seconds"));
    let nmi_route = [
        ("method", "POST"),
        ("route", "/nmi/api/transact.php"),
        ("status", "200"),
    ];
    assert_eq!(d.of("poigate_http_requests_total", &nmi_route), 1.0);
    // The long-poll is counted on its template, never on its id. (prometheus-parse skips
    // samples whose label values hold `{` or `}`, valid as they are: these are read from the
    // exposition text itself.)
    let templated =
        r#"poigate_http_requests_total{method="GET",route="/v1/interactions/{id}",status="200"}"#;
    assert!(after.text.contains(templated), "{}", after.text);
    assert!(
        !after.text.contains("route=\"/v1/interactions/int_"),
        "routes are templates, never paths with ids"
    );

    // Interactions by type, outcome and dialect.
    for dialect in ["native", "nmi"] {
        assert_eq!(
            d.of(
                "poigate_interactions_created_total",
                &[("type", "sale"), ("dialect", dialect)]
            ),
            1.0,
            "{dialect}"
        );
        assert_eq!(
            d.of(
                "poigate_interactions_completed_total",
                &[
                    ("type", "sale"),
                    ("outcome", "approved"),
                    ("dialect", dialect)
                ]
            ),
            1.0,
            "{dialect}"
        );
    }
    assert_eq!(
        d.of(
            "poigate_interaction_time_to_final_seconds",
            &[("type", "sale"), ("outcome", "approved")]
        ),
        2.0
    );
    assert!(after.is_histogram("poigate_interaction_time_to_final_seconds"));

    // Terminals and the link: the three demo terminals are linked and idle again.
    assert_eq!(
        after.value("poigate_terminals", &[("status", "online")]),
        3.0
    );
    assert_eq!(after.value("poigate_terminals", &[("status", "busy")]), 0.0);
    assert_eq!(after.value("poigate_link_connections", &[]), 3.0);
    // At least a start per sale went out, and at least its acknowledgement and result came in.
    assert!(d.of("poigate_link_frames_sent_total", &[]) >= 2.0);
    assert!(d.of("poigate_link_frames_received_total", &[]) >= 4.0);

    // The storage writer committed batches.
    assert!(d.of("poigate_store_writer_batch_size", &[]) >= 1.0);
    assert!(d.of("poigate_store_writer_commit_seconds", &[]) >= 1.0);
    assert!(after.is_histogram("poigate_store_writer_batch_size"));
    assert!(after.is_histogram("poigate_store_writer_commit_seconds"));
    assert_eq!(after.value("poigate_store_writer_queue_depth", &[]), 0.0);
    assert!(after.value("poigate_store_writer_queue_capacity", &[]) >= 1.0);

    // Webhooks: both completions delivered, with their lag.
    assert!(d.of("poigate_webhook_delivery_lag_seconds", &[]) >= 2.0);
    assert!(after.is_histogram("poigate_webhook_delivery_lag_seconds"));
    receiver.wait_for(2, WAIT).await?;

    // Nothing is parked once the sales are over.
    assert_eq!(after.value("poigate_long_polls_parked", &[]), 0.0);
    assert_eq!(after.value("poigate_sse_streams", &[]), 0.0);
    Ok(())
}
