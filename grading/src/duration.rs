//! Human durations in data files: `"250ms"`, `"3s"`, `"2m"`.

use std::time::Duration;

/// Parses `"250ms"`, `"3s"`, `"1.5s"` or `"2m"`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => return Err(format!("duration '{text}' has no unit (write e.g. \"500ms\", \"3s\", \"1m\")")),
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("duration '{text}' does not start with a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("duration '{text}' must be a non-negative number"));
    }
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("duration '{text}' has unknown unit '{unit}' (use ms, s or m)")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// Formats a duration the way [`parse`] reads it.
pub fn format(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

pub(crate) mod serde_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| super::parse(&t).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<u64, &str>) {
        let got = parse(text).map(|d| d.as_millis() as u64);
        match (got, expected) {
            (Ok(ms), Ok(want)) => assert_eq!(ms, want, "{text}"),
            (Err(msg), Err(want)) => assert!(msg.contains(want), "{text}: {msg}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn durations() {
        check("250ms", Ok(250));
        check("3s", Ok(3000));
        check("1.5s", Ok(1500));
        check("2m", Ok(120_000));
        check(" 10s ", Ok(10_000));
        check("10", Err("no unit"));
        check("s", Err("does not start with a number"));
        check("5h", Err("unknown unit"));
        check("-1s", Err("non-negative"));
        assert_eq!(format(Duration::from_millis(3000)), "3s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
    }
}
