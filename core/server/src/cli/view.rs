//! How a followed operation is shown: [`Plain`] lines (piped, or `komander deployment
//! follow`), [`Json`] (one JSON object per event, for scripts), or [`Terminal`] on a
//! terminal: a line per step with its timing, its progress lines beneath, and a spinner while
//! the next step runs.

use std::{io, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};
use komander_domain::api::{OperationEnded, ProgressLine, ServiceLogLine, StepEvent};

use super::{OutputFormat, output::print_line};

/// Something that shows an operation's events as they come.
pub trait OperationView: Send {
    /// A progress line.
    fn line(&mut self, line: &ProgressLine, raw: &str) -> io::Result<()>;
    /// A step ended.
    fn step(&mut self, step: &StepEvent, raw: &str) -> io::Result<()>;
    /// The operation ended.
    fn end(&mut self, ended: &OperationEnded, raw: &str) -> io::Result<()>;
    /// The stream was cut; following resumes.
    fn cut(&mut self, note: &str);
}

/// A step's duration in seconds, from its event.
fn took(step: &StepEvent) -> f64 {
    (step.finished_at - step.started_at).as_seconds_f64()
}

/// `: message`, or nothing.
pub(super) fn note(message: Option<&str>) -> String {
    message.map(|m| format!(": {m}")).unwrap_or_default()
}

/// Prints log lines on standard output: each line's text, or one JSON object per line.
pub(super) fn print_log_lines(out: OutputFormat, lines: &[ServiceLogLine]) -> io::Result<()> {
    for line in lines {
        match out {
            OutputFormat::Table => print_line(&line.line)?,
            OutputFormat::Json => {
                print_line(&serde_json::to_string(line).map_err(io::Error::other)?)?;
            }
        }
    }
    Ok(())
}

/// Plain lines: progress on standard output, steps and the end as notes on standard error.
#[derive(Default)]
pub struct Plain;

impl OperationView for Plain {
    fn line(&mut self, line: &ProgressLine, _: &str) -> io::Result<()> {
        print_line(&line.text)
    }

    fn step(&mut self, step: &StepEvent, _: &str) -> io::Result<()> {
        eprintln!("step {} took {:.1} s", step.name, took(step));
        Ok(())
    }

    fn end(&mut self, ended: &OperationEnded, _: &str) -> io::Result<()> {
        eprintln!(
            "operation {}{}",
            ended.state.as_str(),
            note(ended.message.as_deref())
        );
        Ok(())
    }

    fn cut(&mut self, note: &str) {
        eprintln!("{note}");
    }
}

/// One JSON object per event on standard output: `{"event": "progress", "data": {...}}`.
#[derive(Default)]
pub struct Json;

impl Json {
    fn event(name: &str, raw: &str) -> io::Result<()> {
        let data: serde_json::Value = serde_json::from_str(raw).map_err(io::Error::other)?;
        print_line(serde_json::json!({ "event": name, "data": data }).to_string())
    }
}

impl OperationView for Json {
    fn line(&mut self, _: &ProgressLine, raw: &str) -> io::Result<()> {
        Json::event(komander_domain::api::EVENT_PROGRESS, raw)
    }

    fn step(&mut self, _: &StepEvent, raw: &str) -> io::Result<()> {
        Json::event(komander_domain::api::EVENT_STEP, raw)
    }

    fn end(&mut self, _: &OperationEnded, raw: &str) -> io::Result<()> {
        Json::event(komander_domain::api::EVENT_END, raw)
    }

    fn cut(&mut self, note: &str) {
        eprintln!("{note}");
    }
}

/// On a terminal: `✔ apply #1 (0.4 s)` per step with its lines indented beneath, and a
/// spinner with the time passing while the next step runs.
pub struct Terminal {
    spinner: ProgressBar,
    /// The lines of the step that runs now: they print under its line when it ends.
    pending: Vec<String>,
}

impl Terminal {
    /// A view whose spinner says `what` (`applying shop/dev/mine`) until the first step ends.
    pub fn new(what: &str) -> Terminal {
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.set_message(what.to_owned());
        spinner.enable_steady_tick(Duration::from_millis(100));
        Terminal {
            spinner,
            pending: Vec::new(),
        }
    }
}

impl OperationView for Terminal {
    fn line(&mut self, line: &ProgressLine, _: &str) -> io::Result<()> {
        self.pending.push(line.text.clone());
        Ok(())
    }

    fn step(&mut self, step: &StepEvent, _: &str) -> io::Result<()> {
        self.spinner
            .println(format!("✔ {} ({:.1} s)", step.name, took(step)));
        for line in self.pending.drain(..) {
            self.spinner.println(format!("    {line}"));
        }
        self.spinner
            .set_message("waiting for the next step".to_owned());
        self.spinner.reset_elapsed();
        Ok(())
    }

    fn end(&mut self, ended: &OperationEnded, _: &str) -> io::Result<()> {
        for line in self.pending.drain(..) {
            self.spinner.println(format!("    {line}"));
        }
        self.spinner.finish_and_clear();
        let mark = match ended.state {
            komander_domain::api::OperationState::Done => "✔",
            _ => "✘",
        };
        eprintln!(
            "{mark} operation {}{}",
            ended.state.as_str(),
            note(ended.message.as_deref())
        );
        Ok(())
    }

    fn cut(&mut self, note: &str) {
        self.spinner.println(note);
    }
}
