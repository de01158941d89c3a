//! The report: one row per figure, each system row with its baseline from the same run, the
//! ratio between them and the target it is held to.

use serde::Serialize;

/// Which way a figure is better.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// A target: a bound on the figure itself, or on its ratio to the baseline.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "on", content = "bound")]
pub enum Target {
    Value(f64),
    Ratio(f64),
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub id: &'static str,
    pub what: String,
    pub value: f64,
    pub unit: &'static str,
    pub better: Better,
    /// The baseline row's id and value.
    pub baseline: Option<(&'static str, f64)>,
    /// value / baseline.
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    pub target_met: Option<bool>,
}

impl Row {
    pub fn baseline(
        id: &'static str,
        what: impl Into<String>,
        value: f64,
        unit: &'static str,
        better: Better,
    ) -> Row {
        Row {
            id,
            what: what.into(),
            value,
            unit,
            better,
            baseline: None,
            ratio: None,
            target: None,
            target_met: None,
        }
    }

    /// A system row against `baseline`, held to `target` when given.
    pub fn system(
        id: &'static str,
        what: impl Into<String>,
        value: f64,
        unit: &'static str,
        better: Better,
        baseline: &Row,
        target: Option<Target>,
    ) -> Row {
        let ratio = (baseline.value > 0.0).then(|| value / baseline.value);
        let target_met = target.map(|t| {
            let (figure, bound) = match t {
                Target::Value(b) => (value, b),
                Target::Ratio(b) => (ratio.unwrap_or(0.0), b),
            };
            match better {
                Better::Higher => figure >= bound,
                Better::Lower => figure <= bound,
            }
        });
        Row {
            id,
            what: what.into(),
            value,
            unit,
            better,
            baseline: Some((baseline.id, baseline.value)),
            ratio,
            target,
            target_met,
        }
    }
}

fn figure(value: f64, unit: &str) -> String {
    let number = if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    format!("{number} {unit}")
}

fn target_text(row: &Row) -> String {
    let Some(target) = row.target else {
        return String::new();
    };
    let sign = match row.better {
        Better::Higher => "≥",
        Better::Lower => "≤",
    };
    let bound = match target {
        Target::Value(b) => format!("{sign} {}", figure(b, row.unit)),
        Target::Ratio(b) => format!("{sign} {b}× baseline"),
    };
    match row.target_met {
        Some(true) => format!("{bound}  met"),
        Some(false) => format!("{bound}  MISSED"),
        None => bound,
    }
}

/// The table, as printed and as pasted into `docs/performance.md` (a Markdown table).
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| row | figure | value | baseline | ratio | target |\n|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let baseline = row
            .baseline
            .map(|(id, v)| {
                let unit = rows.iter().find(|r| r.id == id).map_or("", |r| r.unit);
                format!("{id} {}", figure(v, unit))
            })
            .unwrap_or_default();
        let ratio = row.ratio.map(|r| format!("{r:.2}")).unwrap_or_default();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.id,
            row.what,
            figure(row.value, row.unit),
            baseline,
            ratio,
            target_text(row)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_judged_against_its_target_in_the_right_direction() {
        let axum = Row::baseline("B", "bare axum", 40_000.0, "req/s", Better::Higher);
        let reads = |v: f64| {
            let target = Some(Target::Ratio(0.5));
            Row::system("S", "reads", v, "req/s", Better::Higher, &axum, target)
        };
        let fast = reads(25_000.0);
        assert_eq!(fast.ratio, Some(0.625));
        assert_eq!(fast.target_met, Some(true));
        let slow = reads(10_000.0);
        assert_eq!(slow.target_met, Some(false));
        let fsync = Row::baseline("F", "fsync", 1.0, "ms", Better::Lower);
        let p99 = Row::system(
            "L",
            "p99",
            2.5,
            "ms",
            Better::Lower,
            &fsync,
            Some(Target::Value(2.0)),
        );
        assert_eq!(p99.target_met, Some(false));
        assert_eq!(p99.ratio, Some(2.5));
        let table = table(&[axum, fast, fsync, p99]);
        assert!(
            table.contains(
                "| S | reads | 25000 req/s | B 40000 req/s | 0.62 | ≥ 0.5× baseline  met |"
            )
        );
        assert!(table.contains("≤ 2.00 ms  MISSED"));
    }
}
