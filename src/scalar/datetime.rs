//! The datetime family as Python has it: [`Date`], [`Time`], [`DateTime`]
//! (naive, or aware with a fixed [`UtcOffset`]) and [`TimeDelta`].
//!
//! Small types of our own rather than chrono's: Python's UTC offsets have
//! microseconds, its times carry `fold` and an optional offset, and its
//! timedelta normalises to `days, seconds, microseconds` — none of which
//! chrono's types hold exactly. Each constructor checks Python's ranges, so
//! a value of these types is always one Python can represent.

use std::cmp::Ordering;
use std::fmt;

use crate::Error;

const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

fn out_of_range(what: impl Into<String>) -> Error {
    Error::Convert { what: what.into() }
}

fn is_leap(y: i32) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days in `month` (1..=12) of `year`.
fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// A calendar date (Python's `datetime.date`): year 1..=9999.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// The date `year-month-day`; [`Error::Convert`] outside Python's range
    /// (year 1..=9999, a day that exists in the month).
    pub fn new(year: i32, month: u32, day: u32) -> Result<Date, Error> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(out_of_range(format!(
                "date {year}-{month}-{day} out of range"
            )));
        }
        let month = month as u8;
        if day < 1 || day > days_in_month(year, month) as u32 {
            return Err(out_of_range(format!(
                "day {day} out of range for {year}-{month:02}"
            )));
        }
        Ok(Date {
            year: year as u16,
            month,
            day: day as u8,
        })
    }

    /// The year, 1..=9999.
    pub fn year(&self) -> i32 {
        self.year as i32
    }

    /// The month, 1..=12.
    pub fn month(&self) -> u32 {
        self.month as u32
    }

    /// The day of the month, from 1.
    pub fn day(&self) -> u32 {
        self.day as u32
    }

    /// Python's `toordinal()`: 0001-01-01 is day 1.
    pub fn ordinal(&self) -> i64 {
        let y = self.year as i64 - 1;
        let mut days = y * 365 + y / 4 - y / 100 + y / 400;
        for m in 1..self.month {
            days += days_in_month(self.year as i32, m) as i64;
        }
        days + self.day as i64
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A fixed UTC offset (Python's `datetime.timezone(timedelta(...))`):
/// strictly between −24 h and +24 h, to the microsecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UtcOffset {
    micros: i64,
}

impl UtcOffset {
    /// UTC itself.
    pub const UTC: UtcOffset = UtcOffset { micros: 0 };

    /// An offset of `micros` microseconds east of UTC.
    pub fn from_micros(micros: i64) -> Result<UtcOffset, Error> {
        if micros.unsigned_abs() >= US_PER_DAY as u64 {
            return Err(out_of_range(format!(
                "UTC offset of {micros} µs is not strictly between -24 h and 24 h"
            )));
        }
        Ok(UtcOffset { micros })
    }

    /// An offset of `seconds` east of UTC.
    pub fn from_seconds(seconds: i32) -> Result<UtcOffset, Error> {
        UtcOffset::from_micros(seconds as i64 * US_PER_SEC)
    }

    /// The offset in microseconds east of UTC.
    pub fn as_micros(&self) -> i64 {
        self.micros
    }
}

impl fmt::Display for UtcOffset {
    /// `+HH:MM`, with `:SS` and `.ffffff` when they are not zero (as
    /// Python's `isoformat`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.micros < 0 { '-' } else { '+' };
        let a = self.micros.unsigned_abs();
        let (s, us) = (a / 1_000_000, a % 1_000_000);
        write!(f, "{sign}{:02}:{:02}", s / 3600, s / 60 % 60)?;
        if s % 60 != 0 || us != 0 {
            write!(f, ":{:02}", s % 60)?;
        }
        if us != 0 {
            write!(f, ".{us:06}")?;
        }
        Ok(())
    }
}

/// A time of day (Python's `datetime.time`), to the microsecond, with
/// `fold` and an optional fixed UTC offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Time {
    hour: u8,
    minute: u8,
    second: u8,
    fold: bool,
    microsecond: u32,
    offset: Option<UtcOffset>,
}

impl Time {
    /// A naive time (no offset, `fold` 0).
    pub fn new(hour: u32, minute: u32, second: u32, microsecond: u32) -> Result<Time, Error> {
        if hour >= 24 || minute >= 60 || second >= 60 || microsecond >= 1_000_000 {
            return Err(out_of_range(format!(
                "time {hour}:{minute}:{second}.{microsecond} out of range"
            )));
        }
        Ok(Time {
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            fold: false,
            microsecond,
            offset: None,
        })
    }

    /// The same time with a UTC offset (aware), or none (naive).
    pub fn with_offset(mut self, offset: Option<UtcOffset>) -> Time {
        self.offset = offset;
        self
    }

    /// The same time with Python's `fold` (which of two repeated wall
    /// times; it takes no part in comparisons).
    pub fn with_fold(mut self, fold: bool) -> Time {
        self.fold = fold;
        self
    }

    /// The hour, 0..=23.
    pub fn hour(&self) -> u32 {
        self.hour as u32
    }
    /// The minute, 0..=59.
    pub fn minute(&self) -> u32 {
        self.minute as u32
    }
    /// The second, 0..=59.
    pub fn second(&self) -> u32 {
        self.second as u32
    }
    /// The microsecond, 0..=999999.
    pub fn microsecond(&self) -> u32 {
        self.microsecond
    }
    /// Python's `fold`.
    pub fn fold(&self) -> bool {
        self.fold
    }
    /// The UTC offset, if the time is aware.
    pub fn offset(&self) -> Option<UtcOffset> {
        self.offset
    }

    /// Microseconds since midnight (wall time, offset not applied).
    pub fn micros_of_day(&self) -> i64 {
        ((self.hour as i64 * 60 + self.minute as i64) * 60 + self.second as i64) * US_PER_SEC
            + self.microsecond as i64
    }

    /// What Python compares: the wall time for a naive time, wall time less
    /// the offset for an aware one (with whether it is aware).
    pub(crate) fn key(&self) -> (bool, i64) {
        match self.offset {
            None => (false, self.micros_of_day()),
            Some(o) => (true, self.micros_of_day() - o.micros),
        }
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}:{:02}", self.hour, self.minute, self.second)?;
        if self.microsecond != 0 {
            write!(f, ".{:06}", self.microsecond)?;
        }
        if let Some(o) = self.offset {
            write!(f, "{o}")?;
        }
        Ok(())
    }
}

/// A date and time (Python's `datetime.datetime`): naive, or aware with a
/// fixed UTC offset (the [`Time`]'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime {
    date: Date,
    time: Time,
}

impl DateTime {
    /// The datetime of `date` at `time` (aware iff `time` has an offset).
    pub fn new(date: Date, time: Time) -> DateTime {
        DateTime { date, time }
    }

    /// The date part.
    pub fn date(&self) -> Date {
        self.date
    }

    /// The time part (with the offset and `fold`).
    pub fn time(&self) -> Time {
        self.time
    }

    /// The UTC offset, if aware.
    pub fn offset(&self) -> Option<UtcOffset> {
        self.time.offset
    }

    /// Microseconds since 0001-01-01T00:00 of the wall time.
    pub fn local_micros(&self) -> i64 {
        (self.date.ordinal() - 1) * US_PER_DAY + self.time.micros_of_day()
    }

    /// What Python compares: the wall time if naive, the UTC instant if
    /// aware (with whether it is aware).
    pub(crate) fn key(&self) -> (bool, i64) {
        match self.time.offset {
            None => (false, self.local_micros()),
            Some(o) => (true, self.local_micros() - o.micros),
        }
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.date, self.time)
    }
}

/// A duration (Python's `datetime.timedelta`), normalised as Python does:
/// `0 <= seconds < 86400`, `0 <= microseconds < 10**6`, `|days| <=
/// 999999999`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeDelta {
    days: i32,
    seconds: u32,
    microseconds: u32,
}

/// Python's `timedelta.max.days`.
pub(crate) const MAX_DELTA_DAYS: i64 = 999_999_999;

impl TimeDelta {
    /// `days + seconds + microseconds`, normalised like Python's
    /// `timedelta(days, seconds, microseconds)`.
    pub fn new(days: i64, seconds: i64, microseconds: i64) -> Result<TimeDelta, Error> {
        let total = days as i128 * US_PER_DAY as i128
            + seconds as i128 * US_PER_SEC as i128
            + microseconds as i128;
        TimeDelta::from_micros(total)
    }

    /// The duration of `micros` microseconds.
    pub fn from_micros(micros: i128) -> Result<TimeDelta, Error> {
        let days = micros.div_euclid(US_PER_DAY as i128);
        if days.abs() > MAX_DELTA_DAYS as i128 {
            return Err(out_of_range(format!(
                "timedelta of {micros} µs: |days| > {MAX_DELTA_DAYS}"
            )));
        }
        let rest = micros.rem_euclid(US_PER_DAY as i128) as i64;
        Ok(TimeDelta {
            days: days as i32,
            seconds: (rest / US_PER_SEC) as u32,
            microseconds: (rest % US_PER_SEC) as u32,
        })
    }

    /// Days, `-999999999..=999999999`.
    pub fn days(&self) -> i32 {
        self.days
    }
    /// Seconds, `0..86400`.
    pub fn seconds(&self) -> u32 {
        self.seconds
    }
    /// Microseconds, `0..10**6`.
    pub fn microseconds(&self) -> u32 {
        self.microseconds
    }

    /// The whole duration in microseconds.
    pub fn total_micros(&self) -> i128 {
        self.days as i128 * US_PER_DAY as i128
            + self.seconds as i128 * US_PER_SEC as i128
            + self.microseconds as i128
    }
}

impl fmt::Display for TimeDelta {
    /// As Python's `str(timedelta)`: `-1 day, 23:59:59.000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days != 0 {
            let s = if self.days.abs() == 1 { "" } else { "s" };
            write!(f, "{} day{s}, ", self.days)?;
        }
        let s = self.seconds;
        write!(f, "{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)?;
        if self.microseconds != 0 {
            write!(f, ".{:06}", self.microseconds)?;
        }
        Ok(())
    }
}

/// Python's ordering of two aware-or-naive keys: `None` (a `TypeError` in
/// Python) between a naive and an aware value.
pub(crate) fn cmp_keys(a: (bool, i64), b: (bool, i64)) -> Option<Ordering> {
    (a.0 == b.0).then(|| a.1.cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_python() {
        assert!(Date::new(2024, 2, 29).is_ok());
        assert!(Date::new(2023, 2, 29).is_err());
        assert!(Date::new(0, 1, 1).is_err());
        assert!(Date::new(10000, 1, 1).is_err());
        assert!(Date::new(9999, 12, 31).is_ok());
        assert!(Time::new(24, 0, 0, 0).is_err());
        assert!(Time::new(23, 59, 59, 999_999).is_ok());
        assert!(UtcOffset::from_micros(US_PER_DAY).is_err());
        assert!(UtcOffset::from_micros(US_PER_DAY - 1).is_ok());
        assert_eq!(Date::new(1, 1, 1).unwrap().ordinal(), 1);
        // Python: date(2024, 3, 1).toordinal() == 738946
        assert_eq!(Date::new(2024, 3, 1).unwrap().ordinal(), 738_946);
    }

    #[test]
    fn timedelta_normalises_like_python() {
        // timedelta(microseconds=-1) == timedelta(-1, 86399, 999999)
        let d = TimeDelta::new(0, 0, -1).unwrap();
        assert_eq!(
            (d.days(), d.seconds(), d.microseconds()),
            (-1, 86399, 999_999)
        );
        assert_eq!(d.to_string(), "-1 day, 23:59:59.999999");
        assert!(TimeDelta::new(1_000_000_000, 0, 0).is_err());
        assert!(TimeDelta::new(-999_999_999, 0, 0).is_ok());
        assert_eq!(
            TimeDelta::new(3, 0, 0).unwrap().to_string(),
            "3 days, 0:00:00"
        );
    }

    #[test]
    fn display_matches_python_str() {
        let t = Time::new(1, 2, 3, 4)
            .unwrap()
            .with_offset(Some(UtcOffset::from_seconds(-5 * 3600 - 30).unwrap()));
        assert_eq!(t.to_string(), "01:02:03.000004-05:00:30");
        let dt = DateTime::new(
            Date::new(2020, 1, 2).unwrap(),
            Time::new(0, 0, 0, 0).unwrap(),
        );
        assert_eq!(dt.to_string(), "2020-01-02 00:00:00");
    }
}
