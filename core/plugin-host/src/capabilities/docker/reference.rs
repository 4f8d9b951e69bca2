//! Image references, read as the Docker daemon reads them and normalized, so that the scope
//! check sees the name the daemon will look up.
//!
//! The daemon resolves a string of hex digits as the prefix of an image id (`3f` can be
//! another deployment's build), and it reads `docker.io/komander/x`, `index.docker.io/komander/x`
//! and `komander/x` as the same local name. [`Reference::parse`] refuses the first kind and
//! drops the Docker Hub registry (under any of its names), `library/` and the default tag, so
//! that `komander/…` is recognised however it is spelled.

use std::fmt;

/// The names of Docker Hub's registry: a reference under one of them names a local image as
/// if it had no registry.
const DOCKER_HUB: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The longest name (registry and path) the daemon accepts.
const NAME_BYTES: usize = 255;

/// The longest tag the daemon accepts.
const TAG_BYTES: usize = 128;

/// Why a string is not an image reference the host accepts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string names an image by its id (`sha256:…`), or is hex digits only without a tag
    /// or digest, which the daemon reads as the prefix of an id.
    #[error(
        "image {reference:?}: name images by reference, not by id (`sha256:…` or hex digits only)"
    )]
    ImageId {
        /// The string given.
        reference: String,
    },
    /// The string is not a valid reference.
    #[error("image reference {reference:?} is not valid: {reason}")]
    Invalid {
        /// The string given.
        reference: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// An image reference, normalized: Docker Hub's registry and `library/` dropped, the tag
/// `latest` added when there is neither a tag nor a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The registry (`ghcr.io`, `localhost:5000`); `None` for Docker Hub and local images.
    pub registry: Option<String>,
    /// The path components, such as `["komander", "d-1", "web"]`.
    pub path: Vec<String>,
    /// The tag; `None` only when a digest is given.
    pub tag: Option<String>,
    /// The digest (`sha256:…`), if any.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalizes `image`.
    ///
    /// # Errors
    /// [`ReferenceError::ImageId`] for an image id or a name of hex digits only without tag
    /// or digest; [`ReferenceError::Invalid`] for anything else the daemon would not read as a
    /// reference (upper case in the path, `..`, an empty component, a bad tag or digest).
    pub fn parse(image: &str) -> Result<Reference, ReferenceError> {
        let is_id = image
            .get(..7)
            .is_some_and(|algorithm| algorithm.eq_ignore_ascii_case("sha256:"))
            || (!image.is_empty() && image.bytes().all(|b| b.is_ascii_hexdigit()));
        if is_id {
            return Err(ReferenceError::ImageId {
                reference: image.to_owned(),
            });
        }
        let invalid = |reason| ReferenceError::Invalid {
            reference: image.to_owned(),
            reason,
        };
        let (rest, digest) = match image.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest).map_err(invalid)?;
                (rest, Some(digest.to_owned()))
            }
            None => (image, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => {
                check_tag(tag).map_err(invalid)?;
                (name, Some(tag.to_owned()))
            }
            _ => (rest, None),
        };
        if name.is_empty() || name.len() > NAME_BYTES {
            return Err(invalid("the name must be 1 to 255 bytes"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                check_registry(first).map_err(invalid)?;
                (Some(first), path)
            }
            _ => (None, name),
        };
        let mut path: Vec<String> = path.split('/').map(str::to_owned).collect();
        if let Some(bad) = path.iter().find(|c| !is_path_component(c)) {
            return Err(invalid(if bad.is_empty() {
                "a path component is empty"
            } else {
                "a path component is not lower-case letters and digits joined by '.', '_', \
                 '__' or dashes"
            }));
        }
        let hub = registry.is_none_or(|registry| {
            let host = registry.split(':').next().unwrap_or(registry);
            DOCKER_HUB.iter().any(|hub| host.eq_ignore_ascii_case(hub))
        });
        if hub {
            // Docker drops `library/` before a single component; any leading `library/` is
            // dropped here, so nothing under `komander/` hides behind it.
            while path.len() > 1 && path[0] == "library" {
                path.remove(0);
            }
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            (tag, _) => tag,
        };
        Ok(Reference {
            registry: (!hub).then(|| registry.unwrap_or_default().to_owned()),
            path,
            tag,
            digest,
        })
    }

    /// Whether this names a local or Docker Hub image whose path starts with `components`.
    pub fn is_local_under(&self, components: &[&str]) -> bool {
        self.registry.is_none()
            && self.path.len() >= components.len()
            && self.path.iter().zip(components).all(|(a, b)| a == b)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(registry) = &self.registry {
            write!(f, "{registry}/")?;
        }
        f.write_str(&self.path.join("/"))?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alphanumeric = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alphanumeric) || !bytes.last().is_some_and(alphanumeric) {
        return false;
    }
    let mut separator = String::new();
    for &b in bytes {
        if alphanumeric(&b) {
            let valid = matches!(separator.as_str(), "" | "." | "_" | "__")
                || separator.bytes().all(|s| s == b'-');
            if !valid {
                return false;
            }
            separator.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            separator.push(char::from(b));
        } else {
            return false;
        }
    }
    true
}

/// A registry: host names of letters, digits and inner dashes joined by dots, or a
/// bracketed IPv6 address, then an optional port.
fn check_registry(registry: &str) -> Result<(), &'static str> {
    let (host, port) = match registry.strip_prefix('[') {
        Some(v6) => {
            let (address, after) = v6.split_once(']').ok_or("the registry's [ is not closed")?;
            address
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| "the registry's IPv6 address is not valid")?;
            let port = match after {
                "" => None,
                after => Some(
                    after
                        .strip_prefix(':')
                        .ok_or("the registry's ] is not followed by a port")?,
                ),
            };
            (None, port)
        }
        None => match registry.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        },
    };
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.is_some_and(|h| !h.split('.').all(label)) {
        return Err("the registry is not a host name");
    }
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err("the registry's port is not a number");
    }
    Ok(())
}

/// A tag: a letter, digit or `_`, then up to 127 of those, `.` and `-`.
fn check_tag(tag: &str) -> Result<(), &'static str> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let valid = tag.len() <= TAG_BYTES
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err("the tag must be a letter, digit or '_' then up to 127 of those, '.' and '-'")
    }
}

/// A digest: an algorithm, `:`, and at least 32 hex digits (64 for `sha256`).
fn check_digest(digest: &str) -> Result<(), &'static str> {
    let reason = "the digest must be an algorithm, ':' and hex digits, such as sha256:<64 hex>";
    let (algorithm, hex) = digest.split_once(':').ok_or(reason)?;
    let algorithm_valid = algorithm
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase())
        && algorithm
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
    let hex_valid = hex.len() >= 32
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && (algorithm != "sha256" || hex.len() == 64);
    if algorithm_valid && hex_valid {
        Ok(())
    } else {
        Err(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(image: &str) -> String {
        Reference::parse(image)
            .unwrap_or_else(|e| panic!("{image}: {e}"))
            .to_string()
    }

    #[test]
    fn docker_hub_names_library_and_the_default_tag_are_normalized() {
        for (given, expected) in [
            ("busybox", "busybox:latest"),
            ("busybox:1.36", "busybox:1.36"),
            ("library/busybox", "busybox:latest"),
            ("docker.io/busybox", "busybox:latest"),
            ("docker.io/library/busybox:1", "busybox:1"),
            (
                "index.docker.io/komander/d-1/web",
                "komander/d-1/web:latest",
            ),
            (
                "registry-1.docker.io/komander/d-1/web:2",
                "komander/d-1/web:2",
            ),
            ("Docker.IO/komander/d-1/web", "komander/d-1/web:latest"),
            ("docker.io:443/komander/d-1/web", "komander/d-1/web:latest"),
            (
                "docker.io/library/komander/d-1/web",
                "komander/d-1/web:latest",
            ),
            ("ghcr.io/acme/api:1.2", "ghcr.io/acme/api:1.2"),
            (
                "localhost:5000/komander/x",
                "localhost:5000/komander/x:latest",
            ),
            ("localhost/app", "localhost/app:latest"),
            ("[::1]:5000/app:v1", "[::1]:5000/app:v1"),
            ("a__b/c-----d/e.f_g:tag", "a__b/c-----d/e.f_g:tag"),
            (
                "api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
            ("3f:latest", "3f:latest"),
            ("komander-test/busybox:1", "komander-test/busybox:1"),
        ] {
            assert_eq!(normalized(given), expected, "{given}");
        }
        let hub = Reference::parse("docker.io/komander/d-1/web").unwrap();
        assert!(hub.is_local_under(&["komander", "d-1"]));
        let elsewhere = Reference::parse("ghcr.io/komander/d-1/web").unwrap();
        assert!(!elsewhere.is_local_under(&["komander", "d-1"]));
    }

    #[test]
    fn ids_and_hex_only_names_are_refused() {
        for id in [
            "3f",
            "3F",
            "a",
            "deadbeef",
            "0123456789ab",
            "sha256:3f",
            "SHA256:3f2a",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(
                matches!(Reference::parse(id), Err(ReferenceError::ImageId { .. })),
                "{id}"
            );
        }
    }

    #[test]
    fn what_the_daemon_would_not_read_as_a_reference_is_invalid() {
        for bad in [
            "",
            "Busybox",
            "komander/../x",
            "docker.io/library/../komander/x",
            "komander//x",
            "komander/x/",
            "/komander/x",
            "komander/x:",
            "komander/x:-tag",
            "x@sha256:abc",
            "x@md5",
            "bad host/x",
            "-host.io/x",
            "host.io:port/x",
            "a--/b",
            "a.-b",
            "bus box",
        ] {
            assert!(
                matches!(Reference::parse(bad), Err(ReferenceError::Invalid { .. })),
                "{bad}: {:?}",
                Reference::parse(bad)
            );
        }
    }
}
