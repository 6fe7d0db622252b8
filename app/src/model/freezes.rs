//! Deploy freeze windows of an environment: once (a date range) or every week (from a
//! weekday and time to another, in a named time zone such as `Europe/Berlin`, UTC by
//! default, so a window keeps its wall-clock hours across daylight saving time). While
//! one covers the present, deployments to the environment are refused unless an admin
//! overrides the freeze with a reason.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FreezeWindow {
    /// From one moment to another.
    Once { from: DateTime<Utc>, to: DateTime<Utc> },
    /// Every week, e.g. from `fri 16:00` to `mon 08:00`; it may wrap the week.
    Weekly {
        from: String,
        to: String,
        /// An IANA time zone (`Europe/Berlin`) the times are in; UTC when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_zone: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FreezeView {
    pub id: i64,
    pub environment: String,
    pub window: FreezeWindow,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Whether it covers the present moment.
    pub active: bool,
}

/// Adds a freeze window to an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFreeze {
    pub environment: String,
    pub window: FreezeWindow,
    pub reason: String,
}

const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const WEEK_MINUTES: u32 = 7 * 24 * 60;

/// Minutes since Monday 00:00 of `ddd HH:MM` (e.g. `fri 16:00`, or `friday 16:00`).
pub fn week_minute(text: &str) -> Result<u32, String> {
    let hint = || format!("`{text}`: expected a weekday and a time, such as `fri 16:00`");
    let (day, time) = text.trim().split_once(' ').ok_or_else(hint)?;
    let day = day.to_ascii_lowercase();
    let day = DAYS.iter().position(|d| *d == day || (day.len() == 3 && d.starts_with(&day))).ok_or_else(hint)? as u32;
    let (hours, minutes) = time.trim().split_once(':').ok_or_else(hint)?;
    let (hours, minutes) = (hours.parse::<u32>().map_err(|_| hint())?, minutes.parse::<u32>().map_err(|_| hint())?);
    if hours > 23 || minutes > 59 {
        return Err(hint());
    }
    Ok(day * 24 * 60 + hours * 60 + minutes)
}

fn minute_of_week(at: &impl WallClock) -> u32 {
    at.weekday().num_days_from_monday() * 24 * 60 + at.hour() * 60 + at.minute()
}

/// Both halves of a wall-clock moment, as `NaiveDateTime` and `DateTime<Tz>` have.
trait WallClock: Datelike + Timelike {}
impl<T: Datelike + Timelike> WallClock for T {}

/// The named time zone, or why the name is not one.
pub fn time_zone(name: Option<&str>) -> Result<Tz, String> {
    match name.map(str::trim) {
        None | Some("") => Ok(Tz::UTC),
        Some(name) => name
            .parse::<Tz>()
            .map_err(|_| format!("window.time_zone: `{name}` is not a time zone such as Europe/Berlin or UTC")),
    }
}

impl FreezeWindow {
    /// Why the window is not a usable one, naming the field.
    pub fn check(&self) -> Result<(), String> {
        match self {
            FreezeWindow::Once { from, to } if to <= from => Err("window.to: must be after window.from".into()),
            FreezeWindow::Once { .. } => Ok(()),
            FreezeWindow::Weekly { from, to, time_zone: zone } => {
                time_zone(zone.as_deref())?;
                let start = week_minute(from).map_err(|e| format!("window.from: {e}"))?;
                let end = week_minute(to).map_err(|e| format!("window.to: {e}"))?;
                if start == end {
                    return Err("window.to: must differ from window.from".into());
                }
                Ok(())
            }
        }
    }

    /// Whether `at` falls inside the window.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        match self {
            FreezeWindow::Once { from, to } => *from <= at && at < *to,
            FreezeWindow::Weekly { from, to, time_zone: zone } => {
                let (Ok(start), Ok(end), Ok(zone)) = (week_minute(from), week_minute(to), time_zone(zone.as_deref()))
                else {
                    return false;
                };
                let now = minute_of_week(&at.with_timezone(&zone));
                if start < end {
                    start <= now && now < end
                } else {
                    now >= start || now < end
                }
            }
        }
    }

    /// When the window covering `at` ends.
    pub fn ends_after(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            FreezeWindow::Once { to, .. } => *to,
            FreezeWindow::Weekly { to, time_zone: zone, .. } => {
                let zone = time_zone(zone.as_deref()).unwrap_or(Tz::UTC);
                let local = at.with_timezone(&zone).naive_local();
                let local = local.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(local);
                let end = week_minute(to).unwrap_or(0);
                let ahead = (end + WEEK_MINUTES - minute_of_week(&local)) % WEEK_MINUTES;
                in_zone(&zone, local + Duration::minutes(ahead as i64))
            }
        }
    }

    /// `fri 16:00 → mon 08:00 (every week, UTC)` or the two dates.
    pub fn describe(&self) -> String {
        match self {
            FreezeWindow::Once { from, to } => {
                format!("{} → {}", from.format("%Y-%m-%d %H:%M UTC"), to.format("%Y-%m-%d %H:%M UTC"))
            }
            FreezeWindow::Weekly { from, to, time_zone } => {
                format!("{from} → {to} (every week, {})", time_zone.as_deref().unwrap_or("UTC"))
            }
        }
    }
}

/// The moment a wall-clock time names in `zone`: the earlier one when the clocks go
/// back, and the first minute after the gap when they go forward.
fn in_zone(zone: &Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    (0..=180)
        .find_map(|skip| zone.from_local_datetime(&(wall + Duration::minutes(skip))).earliest())
        .map_or_else(|| wall.and_utc(), |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn weekly_windows_wrap_the_week() {
        // 2026-11-27 is a Friday.
        let weekend = FreezeWindow::Weekly { from: "fri 16:00".into(), to: "mon 08:00".into(), time_zone: None };
        assert!(!weekend.covers(at("2026-11-27T15:59:00Z")));
        assert!(weekend.covers(at("2026-11-27T16:00:00Z")));
        assert!(weekend.covers(at("2026-11-29T23:00:00Z")));
        assert!(weekend.covers(at("2026-11-30T07:59:00Z")));
        assert!(!weekend.covers(at("2026-11-30T08:00:00Z")));
        assert_eq!(weekend.ends_after(at("2026-11-28T10:30:00Z")), at("2026-11-30T08:00:00Z"));
        let lunch = FreezeWindow::Weekly { from: "Wednesday 12:00".into(), to: "wed 13:00".into(), time_zone: None };
        assert!(lunch.covers(at("2026-11-25T12:30:00Z")));
        assert!(!lunch.covers(at("2026-11-26T12:30:00Z")));
    }

    #[test]
    fn windows_are_checked_field_by_field() {
        let bad = FreezeWindow::Weekly { from: "funday 16:00".into(), to: "mon 08:00".into(), time_zone: None };
        assert!(bad.check().unwrap_err().starts_with("window.from: `funday 16:00`"));
        let bad = FreezeWindow::Weekly { from: "fri 16:00".into(), to: "mon 25:00".into(), time_zone: None };
        assert!(bad.check().unwrap_err().starts_with("window.to:"));
        let backwards = FreezeWindow::Once { from: at("2026-12-02T00:00:00Z"), to: at("2026-12-01T00:00:00Z") };
        assert_eq!(backwards.check().unwrap_err(), "window.to: must be after window.from");
        assert!(week_minute("fr 10:00").is_err());
        assert_eq!(week_minute("mon 00:01"), Ok(1));
        let nowhere = FreezeWindow::Weekly {
            from: "fri 16:00".into(),
            to: "mon 08:00".into(),
            time_zone: Some("Mars/Olympus".into()),
        };
        assert!(nowhere.check().unwrap_err().starts_with("window.time_zone: `Mars/Olympus`"));
    }

    #[test]
    fn a_weekly_window_keeps_its_wall_clock_hours_in_its_time_zone() {
        let berlin = |from: &str, to: &str| FreezeWindow::Weekly {
            from: from.into(),
            to: to.into(),
            time_zone: Some("Europe/Berlin".into()),
        };
        let weekend = berlin("fri 16:00", "mon 08:00");
        assert_eq!(weekend.check(), Ok(()));
        // Winter (UTC+1): Friday 16:00 in Berlin is 15:00 UTC.
        assert!(!weekend.covers(at("2026-11-27T14:59:00Z")));
        assert!(weekend.covers(at("2026-11-27T15:00:00Z")));
        assert!(weekend.covers(at("2026-11-30T06:59:00Z")));
        assert!(!weekend.covers(at("2026-11-30T07:00:00Z")));
        assert_eq!(weekend.ends_after(at("2026-11-28T10:30:00Z")), at("2026-11-30T07:00:00Z"));
        // Summer (UTC+2): the same window starts at 14:00 UTC.
        assert!(!weekend.covers(at("2026-07-03T13:59:00Z")));
        assert!(weekend.covers(at("2026-07-03T14:00:00Z")));
        assert_eq!(weekend.ends_after(at("2026-07-04T10:00:00Z")), at("2026-07-06T06:00:00Z"));
        // A window ending in the hour the clocks skip (Sunday 29 March 2026, 02:00 → 03:00)
        // ends at the first minute after it.
        let into_gap = berlin("sun 01:00", "sun 02:30");
        assert_eq!(into_gap.ends_after(at("2026-03-29T00:10:00Z")), at("2026-03-29T01:00:00Z"));
        assert_eq!(weekend.describe(), "fri 16:00 → mon 08:00 (every week, Europe/Berlin)");
        // Without a zone, as before: UTC, and stored as before.
        let utc = FreezeWindow::Weekly { from: "fri 16:00".into(), to: "mon 08:00".into(), time_zone: None };
        assert_eq!(serde_json::to_string(&utc).unwrap(), r#"{"kind":"weekly","from":"fri 16:00","to":"mon 08:00"}"#);
    }
}
