//! The text notation of a service's settings, as the CLI's flags and the web UI's fields take
//! them: ports (`80:8080`), volumes (`data:/var/lib/x:ro`), command lines, durations (`30s`),
//! sizes (`256m`), dependencies (`db:healthy`) and pull policies. Each `parse_*` refuses a
//! value with a message that names it; each `show_*` writes what its `parse_*` reads back.

use std::net::IpAddr;

use crate::{
    api::{Dependency, DependencyCondition, PortSpec, Protocol, PullPolicy, VolumeSpec},
    names::VolumeName,
};

/// Parses `CONTAINER[:HOST[@ADDRESS]][/tcp|/udp]`, such as `80:8081`, `53/udp` or
/// `80:8080@0.0.0.0`.
pub fn parse_port(text: &str) -> Result<PortSpec, String> {
    let (ports, protocol) = match text.rsplit_once('/') {
        None => (text, Protocol::Tcp),
        Some((ports, "tcp")) => (ports, Protocol::Tcp),
        Some((ports, "udp")) => (ports, Protocol::Udp),
        Some((_, other)) => return Err(format!("unknown protocol {other:?}: use tcp or udp")),
    };
    let number = |port: &str| {
        port.parse::<u16>()
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| format!("{port:?} is not a port number (1 to 65535)"))
    };
    let (container, host) = match ports.split_once(':') {
        Some((container, host)) => (number(container)?, Some(host)),
        None => (number(ports)?, None),
    };
    let (host, host_address) = match host {
        None => (None, PortSpec::LOOPBACK),
        Some(host) => match host.split_once('@') {
            None => (Some(number(host)?), PortSpec::LOOPBACK),
            Some((host, address)) => (
                Some(number(host)?),
                address
                    .parse::<IpAddr>()
                    .map_err(|_| format!("{address:?} is not an IP address"))?,
            ),
        },
    };
    Ok(PortSpec {
        container,
        host,
        protocol,
        host_address,
    })
}

/// Parses a command line: a JSON array of strings, or words split at white space.
pub fn parse_argv(text: &str) -> Result<Vec<String>, String> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text).map_err(|e| format!("not a JSON array of strings: {e}"));
    }
    Ok(text.split_whitespace().map(str::to_owned).collect())
}

/// A command line as the CLI's `--command` takes it: words when that is exact, else a JSON array.
pub fn show_argv(args: &[String]) -> String {
    let plain = !args.is_empty()
        && !args[0].starts_with('[')
        && args
            .iter()
            .all(|a| !a.is_empty() && !a.contains(char::is_whitespace));
    if plain {
        args.join(" ")
    } else {
        serde_json::to_string(args).expect("strings serialize")
    }
}

/// Parses a duration in whole seconds: `90`, `90s`, `2m` or `1h`.
pub fn parse_seconds(text: &str) -> Result<u32, String> {
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?} is not a duration such as 30s, 2m or 1h")),
    };
    number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is not a duration such as 30s, 2m or 1h"))
}

/// A duration as the CLI's `--health-interval` takes it: `2m`, `1h` or `45s`.
pub fn show_seconds(seconds: u32) -> String {
    match seconds {
        0 => "0s".to_owned(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Parses a size in bytes: `1048576`, `512k`, `256m` or `1g` (powers of 1024).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let lower = text.to_ascii_lowercase();
    let (number, scale) = match lower.strip_suffix(['k', 'm', 'g']) {
        Some(number) => {
            let scale = match lower.as_bytes()[lower.len() - 1] {
                b'k' => 1 << 10,
                b'm' => 1 << 20,
                _ => 1 << 30,
            };
            (number, scale)
        }
        None => (lower.strip_suffix('b').unwrap_or(&lower), 1),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is not a size such as 256m or 1g"))
}

/// A size as the CLI's `--memory` takes it: the largest suffix that is exact.
pub fn show_bytes(bytes: u64) -> String {
    for (suffix, scale) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes != 0 && bytes.is_multiple_of(scale) {
            return format!("{}{suffix}", bytes / scale);
        }
    }
    bytes.to_string()
}

/// Parses `SERVICE[:CONDITION]`, such as `db:healthy`.
pub fn parse_dependency(text: &str) -> Result<Dependency, String> {
    let (service, condition) = text.split_once(':').unwrap_or((text, "started"));
    let condition = match condition {
        "started" => DependencyCondition::Started,
        "healthy" => DependencyCondition::Healthy,
        "completed_successfully" => DependencyCondition::CompletedSuccessfully,
        other => {
            return Err(format!(
                "unknown condition {other:?}: use started, healthy or completed_successfully"
            ));
        }
    };
    Ok(Dependency {
        service: service
            .parse()
            .map_err(|e: crate::names::NameError| e.to_string())?,
        condition,
    })
}

/// A dependency as the CLI's `--depends-on` takes it.
pub fn show_dependency(dependency: &Dependency) -> String {
    format!("{}:{}", dependency.service, dependency.condition.as_str())
}

/// Parses `missing` or `always`.
pub fn parse_pull(text: &str) -> Result<PullPolicy, String> {
    match text {
        "missing" => Ok(PullPolicy::Missing),
        "always" => Ok(PullPolicy::Always),
        other => Err(format!(
            "unknown pull policy {other:?}: use missing or always"
        )),
    }
}

/// Parses `NAME:/PATH[:ro|:rw]`, such as `data:/var/lib/postgresql/data`.
pub fn parse_volume(text: &str) -> Result<VolumeSpec, String> {
    let (source, rest) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not NAME:/PATH[:ro]"))?;
    let (target, read_only) = match rest.rsplit_once(':') {
        Some((target, "ro")) => (target, true),
        Some((target, "rw")) => (target, false),
        _ => (rest, false),
    };
    if !target.starts_with('/') {
        return Err(format!("the mount path {target:?} is not absolute"));
    }
    Ok(VolumeSpec {
        source: source
            .parse::<VolumeName>()
            .map_err(|err| err.to_string())?,
        target: target.to_owned(),
        read_only,
    })
}

/// A port as the CLI's `--port` takes it.
pub fn show_port(port: &PortSpec) -> String {
    let host = match port.host {
        None => String::new(),
        Some(host) if port.host_address == PortSpec::LOOPBACK => format!(":{host}"),
        Some(host) => format!(":{host}@{}", port.host_address),
    };
    let protocol = if port.protocol == Protocol::Udp {
        "/udp"
    } else {
        ""
    };
    format!("{}{host}{protocol}", port.container)
}

/// A volume as the CLI's `--volume` takes it.
pub fn show_volume(volume: &VolumeSpec) -> String {
    let mode = if volume.read_only { ":ro" } else { "" };
    format!("{}:{}{mode}", volume.source, volume.target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_and_show_alike() {
        for text in ["80", "80:8081", "53/udp", "53:5353/udp"] {
            assert_eq!(show_port(&parse_port(text).unwrap()), text);
        }
        assert_eq!(parse_port("80/tcp").unwrap(), parse_port("80").unwrap());
        for bad in ["", "0", "80:", "x:80", "70000", "80/sctp"] {
            assert!(parse_port(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_of_ports_parse_and_show_alike() {
        for text in ["80:8080@0.0.0.0", "53:53@::1/udp"] {
            assert_eq!(show_port(&parse_port(text).unwrap()), text);
        }
        assert_eq!(
            parse_port("80:8080@127.0.0.1").unwrap(),
            parse_port("80:8080").unwrap()
        );
        for bad in ["80:8080@", "80:8080@localhost", "80@1.2.3.4"] {
            assert!(parse_port(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_durations_and_argv_parse_and_show_alike() {
        for text in ["256m", "1g", "512k", "1000"] {
            assert_eq!(show_bytes(parse_bytes(text).unwrap()), text);
        }
        for text in ["0s", "45s", "2m", "1h"] {
            assert_eq!(show_seconds(parse_seconds(text).unwrap()), text);
        }
        assert_eq!(parse_seconds("90"), Ok(90));
        for args in [
            vec!["a", "b"],
            vec!["sh", "-c", "echo hi"],
            vec![""],
            vec!["[x"],
        ] {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            assert_eq!(parse_argv(&show_argv(&args)).unwrap(), args);
        }
    }

    #[test]
    fn volumes_parse_and_show_alike() {
        for text in ["data:/var/lib/data", "cache:/cache:ro"] {
            assert_eq!(show_volume(&parse_volume(text).unwrap()), text);
        }
        assert!(!parse_volume("data:/d:rw").unwrap().read_only);
        for bad in ["data", "data:relative", "Data:/d"] {
            assert!(parse_volume(bad).is_err(), "{bad:?}");
        }
    }
}
