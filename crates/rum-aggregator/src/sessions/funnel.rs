//! Funnels: ordered steps (a route, an action name or a business-event name) a session reaches
//! once each, in order, within a window from its first step.

use std::sync::Arc;

use rum_config::{ConfigError, FunnelConfig};

use super::Occurrence;

/// What a step matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A new page view on this route template.
    Route(Arc<str>),
    Action(Arc<str>),
    Event(Arc<str>),
}

impl Step {
    /// The `target` label: `route:/cart`, `action:Checkout`, `event:purchase`.
    pub fn target(&self) -> String {
        match self {
            Step::Route(name) => format!("route:{name}"),
            Step::Action(name) => format!("action:{name}"),
            Step::Event(name) => format!("event:{name}"),
        }
    }

    fn matches(&self, occurrence: &Occurrence) -> bool {
        use super::OccurrenceKind as Kind;
        match (self, occurrence.kind) {
            (Step::Route(name), Kind::PageView)
            | (Step::Action(name), Kind::Action)
            | (Step::Event(name), Kind::Event) => **name == *occurrence.name,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Funnel {
    pub name: Arc<str>,
    /// Only this site's sessions, or every site's.
    pub site: Option<Arc<str>>,
    pub window_ms: i64,
    pub steps: Vec<Step>,
}

impl Funnel {
    pub fn from_config(config: &FunnelConfig) -> Result<Self, ConfigError> {
        let steps = config
            .steps
            .iter()
            .map(|step| {
                let text = |name: &String| Arc::<str>::from(name.trim());
                match (&step.route, &step.action, &step.event) {
                    (Some(route), None, None) => Ok(Step::Route(text(route))),
                    (None, Some(action), None) => Ok(Step::Action(text(action))),
                    (None, None, Some(event)) => Ok(Step::Event(text(event))),
                    _ => Err(ConfigError::invalid(
                        format!("aggregator.funnels.{}.steps", config.name),
                        "needs exactly one of route, action or event",
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            name: Arc::from(config.name.as_str()),
            site: config.site.as_deref().map(Arc::from),
            window_ms: i64::try_from(config.window.0.as_millis()).unwrap_or(i64::MAX),
            steps,
        })
    }

    pub fn applies_to(&self, site: &str) -> bool {
        self.site.as_deref().is_none_or(|only| only == site)
    }
}

/// Where one session is in one funnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Steps reached, in order (0: not started).
    pub reached: u32,
    /// When the first step was reached (ms).
    pub start_ms: i64,
}

impl Progress {
    /// Feeds one final occurrence, in time order. Returns the step (0-based) it reached and the
    /// time since the first step, if it reached one: a step counts once, at its first occurrence
    /// after the step before it, and only within the window.
    pub fn advance(&mut self, funnel: &Funnel, occurrence: &Occurrence) -> Option<(usize, i64)> {
        let next = self.reached as usize;
        let step = funnel.steps.get(next)?;
        if next > 0 && occurrence.at_ms - self.start_ms > funnel.window_ms {
            return None;
        }
        if !step.matches(occurrence) {
            return None;
        }
        if next == 0 {
            self.start_ms = occurrence.at_ms;
        }
        self.reached += 1;
        Some((next, occurrence.at_ms - self.start_ms))
    }
}
