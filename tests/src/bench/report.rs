//! Printing a scenario's figures as a table and writing them as JSON.

use std::path::Path;

use serde_json::{Map, Value};

/// One figure: a name, a value with its unit, and, where the issue sets one,
/// the target and whether it is met.
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub target: Option<(&'static str, bool)>,
}

pub fn figure(name: impl Into<String>, value: f64, unit: &'static str) -> Figure {
    Figure {
        name: name.into(),
        value,
        unit,
        target: None,
    }
}

impl Figure {
    /// At most `limit`.
    pub fn at_most(mut self, limit: f64, text: &'static str) -> Self {
        self.target = Some((text, self.value <= limit));
        self
    }
    /// At least `limit`.
    pub fn at_least(mut self, limit: f64, text: &'static str) -> Self {
        self.target = Some((text, self.value >= limit));
        self
    }
}

pub struct Report {
    pub scenario: &'static str,
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        Self {
            scenario,
            figures: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn push(&mut self, f: Figure) {
        self.figures.push(f);
    }

    pub fn print(&self) {
        println!("\n## {}", self.scenario);
        println!("| figure | value | target |");
        println!("|---|---|---|");
        for f in &self.figures {
            let target = match f.target {
                Some((t, true)) => format!("{t} ✅"),
                Some((t, false)) => format!("{t} ❌"),
                None => String::new(),
            };
            println!("| {} | {} {} | {} |", f.name, fmt(f.value), f.unit, target);
        }
        for n in &self.notes {
            println!("\n{n}");
        }
    }

    pub fn write_json(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let figures: Vec<Value> = self
            .figures
            .iter()
            .map(|f| {
                let mut m = Map::new();
                m.insert("name".into(), f.name.clone().into());
                m.insert("value".into(), f.value.into());
                m.insert("unit".into(), f.unit.into());
                if let Some((t, met)) = f.target {
                    m.insert("target".into(), t.into());
                    m.insert("met".into(), met.into());
                }
                Value::Object(m)
            })
            .collect();
        let doc = serde_json::json!({"scenario": self.scenario, "figures": figures, "notes": self.notes});
        std::fs::write(
            dir.join(format!("{}.json", self.scenario)),
            serde_json::to_string_pretty(&doc)?,
        )
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}
