//! Which kubeconfigs the host trusts: those whose every cluster and user holds its server,
//! certificates and credentials inline.
//!
//! An admin writes the kubeconfig; Komander's server reads it. So whatever in it would act on
//! the server's machine is refused before a client is built, in every entry (kube resolves only
//! the current context's, but a kubeconfig is one trust decision, and a context switch must not
//! bring a refused entry into use): a command to run (`exec`, and an `auth-provider`, whose
//! plugins run commands and read files), a file to read (`certificate-authority`,
//! `client-certificate`, `client-key`, `tokenFile`, and any other key ending in `-file` or
//! `File`) and a proxy to send the cluster's traffic and credentials through (`proxy-url`).

use kube::config::Kubeconfig;

/// A field of a kubeconfig entry that the host refuses.
#[derive(Debug, thiserror::Error)]
#[error("{entry} {name:?}: {field} is not allowed: {reason}")]
pub(super) struct Untrusted {
    /// `cluster` or `user`.
    pub entry: &'static str,
    /// The entry's name.
    pub name: String,
    /// The field, as the kubeconfig spells it.
    pub field: String,
    /// Why it is refused.
    pub reason: &'static str,
}

/// Why a command is refused.
const RUNS_A_COMMAND: &str = "it runs a command on Komander's server";
/// Why a file reference is refused.
const READS_A_FILE: &str = "it reads a file on Komander's server; give the data inline";
/// Why a proxy is refused.
const SENDS_ELSEWHERE: &str = "it sends the cluster's traffic and credentials through another host";

/// Checks every cluster and user of `config`: none may run a command, read a file or name a
/// proxy.
///
/// # Errors
/// The first refused field, naming it and its entry.
pub(super) fn check(config: &Kubeconfig) -> Result<(), Untrusted> {
    for named in &config.clusters {
        let refuse = |field: &str, reason| Untrusted {
            entry: "cluster",
            name: named.name.clone(),
            field: field.to_owned(),
            reason,
        };
        let Some(cluster) = &named.cluster else {
            continue;
        };
        if cluster.certificate_authority.is_some() {
            return Err(refuse("certificate-authority", READS_A_FILE));
        }
        if cluster.proxy_url.is_some() {
            return Err(refuse("proxy-url", SENDS_ELSEWHERE));
        }
        if let Some(key) = cluster.other.keys().find(|key| names_a_file(key)) {
            return Err(refuse(key, READS_A_FILE));
        }
    }
    for named in &config.auth_infos {
        let refuse = |field: &str, reason| Untrusted {
            entry: "user",
            name: named.name.clone(),
            field: field.to_owned(),
            reason,
        };
        let Some(user) = &named.auth_info else {
            continue;
        };
        if user.exec.is_some() {
            return Err(refuse("exec", RUNS_A_COMMAND));
        }
        if user.auth_provider.is_some() {
            return Err(refuse("auth-provider", RUNS_A_COMMAND));
        }
        for (field, set) in [
            ("client-certificate", user.client_certificate.is_some()),
            ("client-key", user.client_key.is_some()),
            ("tokenFile", user.token_file.is_some()),
        ] {
            if set {
                return Err(refuse(field, READS_A_FILE));
            }
        }
        if let Some(key) = user.other.keys().find(|key| names_a_file(key)) {
            return Err(refuse(key, READS_A_FILE));
        }
    }
    Ok(())
}

/// Whether a key kube does not know names a file, as `token-file` or `keyFile` would.
fn names_a_file(key: &str) -> bool {
    key.ends_with("-file") || key.ends_with("File")
}

#[cfg(test)]
mod tests {
    use crate::{PluginError, capabilities::kubernetes::connect};

    /// A kubeconfig whose current context uses the plain cluster `prod` and user `deployer`,
    /// and which also holds the cluster `staging` and the user `ci`, each with `extra` lines
    /// (indented for its entry) when `extra` is for it.
    fn kubeconfig(cluster_extra: &str, user_extra: &str) -> String {
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://127.0.0.1:1
    certificate-authority-data: bm90LWEtcmVhbC1jZXJ0aWZpY2F0ZQ==
- name: staging
  cluster:
    server: https://127.0.0.1:2
    insecure-skip-tls-verify: true
{cluster_extra}
users:
- name: deployer
  user:
    token: not-a-real-token
- name: ci
  user:
    client-certificate-data: bm90LWEtY2VydGlmaWNhdGU=
    client-key-data: bm90LWEta2V5
{user_extra}
contexts:
- name: prod
  context: {{cluster: prod, user: deployer}}
- name: staging
  context: {{cluster: staging, user: ci}}
current-context: prod
"
        )
    }

    /// The kubeconfig parsed and checked, as `connect` does first.
    fn checked(text: &str) -> Result<(), super::Untrusted> {
        super::check(&kube::config::Kubeconfig::from_yaml(text).unwrap())
    }

    #[test]
    fn inline_credentials_pass() {
        checked(&kubeconfig("", "")).unwrap();
    }

    #[tokio::test]
    async fn commands_files_and_proxies_are_refused_in_every_entry_naming_the_field() {
        let cases = [
            (
                "",
                "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [-c, 'cat /etc/komander/secret.key']",
                "user",
                "ci",
                "exec",
            ),
            (
                "",
                "    auth-provider:\n      name: gcp\n      config: {cmd-path: /bin/sh}",
                "user",
                "ci",
                "auth-provider",
            ),
            (
                "",
                "    client-certificate: /etc/komander/tls.crt",
                "user",
                "ci",
                "client-certificate",
            ),
            (
                "",
                "    client-key: /etc/komander/tls.key",
                "user",
                "ci",
                "client-key",
            ),
            (
                "",
                "    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token",
                "user",
                "ci",
                "tokenFile",
            ),
            (
                "",
                "    token-file: /etc/komander/token",
                "user",
                "ci",
                "token-file",
            ),
            (
                "    certificate-authority: /etc/ssl/private/ca.crt",
                "",
                "cluster",
                "staging",
                "certificate-authority",
            ),
            (
                "    proxy-url: http://attacker.example:3128",
                "",
                "cluster",
                "staging",
                "proxy-url",
            ),
        ];
        for (cluster_extra, user_extra, entry, name, field) in cases {
            let text = kubeconfig(cluster_extra, user_extra);
            let refused = checked(&text).unwrap_err();
            assert_eq!(
                (refused.entry, refused.name.as_str(), refused.field.as_str()),
                (entry, name, field),
                "{text}"
            );
            // The entry is not the current context's: connect refuses it all the same.
            match connect(&text).await {
                Err(PluginError::Host(message)) => assert!(
                    message.contains(&format!("{entry} {name:?}: {field} is not allowed")),
                    "{message}"
                ),
                Err(other) => panic!("{field}: {other}"),
                Ok(_) => panic!("{field}: the kubeconfig was trusted"),
            }
        }
        connect(&kubeconfig("", "")).await.unwrap();
    }
}
