//! The plugins an instance admin installs: the list, installing from a file or a URL, and one
//! plugin's page with its grants, its settings form (generated from its config schema), its
//! connections (credentials write-only), upgrade, disable, enable and uninstall.

use komander_domain::api::{Plugin, PluginStatus};
use leptos::{ev, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map, use_query_map},
};

use crate::{
    api::{
        CSRF_HEADER,
        plugins::{
            DeletePluginConnection, GrantPlugin, InstallPluginUrl, PutPluginConnection,
            SavePluginSettings, SetPluginEnabled, UPLOAD_PATH, UninstallPlugin, load_plugin,
            load_plugins,
        },
        settings_form::{SettingField, SettingGroup, SettingKind, layout, problems_at},
    },
    components::{
        ConfirmDelete, Crumbs, Csrf, Field, FormError, Loaded, NextPage, SessionResource, TextArea,
        action_error,
    },
    error::UiError,
};

/// The installed plugins and the forms that install one.
#[component]
pub fn PluginsPage() -> impl IntoView {
    let query = use_query_map();
    let install = ServerAction::<InstallPluginUrl>::new();
    let list = Resource::new(move || query.read().get("cursor"), load_plugins);
    let error = action_error(install);
    let navigate = use_navigate();
    let installed = Callback::new(move |plugin: Plugin| {
        navigate(&format!("/admin/plugins/{}", plugin.id), Default::default());
    });
    view! {
        <Title text="Plugins · Komander"/>
        <Loaded
            data=list
            view=move |page| {
                let rows = page
                    .items
                    .into_iter()
                    .map(|p| {
                        let kind = match &p.world {
                            Some(world) => format!("{} ({world})", p.kind),
                            None => p.kind.clone(),
                        };
                        view! {
                            <tr>
                                <td>
                                    <A href=format!("/admin/plugins/{}", p.id)>{p.id.clone()}</A>
                                </td>
                                <td>{p.version}</td>
                                <td>{kind}</td>
                                <td>{p.status.as_str()}</td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <Crumbs trail=Vec::new() here="Plugins"/>
                    <h1>"Plugins"</h1>
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Id"</th>
                                <th scope="col">"Version"</th>
                                <th scope="col">"Kind"</th>
                                <th scope="col">"Status"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                    <NextPage cursor=page.next_cursor path="/admin/plugins".to_owned()/>
                    <section aria-labelledby="install-from-file">
                        <h2 id="install-from-file">"Install from a file"</h2>
                        <ComponentUpload upgrade=None done=installed/>
                    </section>
                    <section aria-labelledby="install-from-url">
                        <h2 id="install-from-url">"Install from a URL"</h2>
                        <ActionForm action=install>
                            <Csrf/>
                            <Field
                                name="url"
                                id="plugin-url"
                                label="URL of the .wasm"
                                error=error
                                required=true
                            />
                            <Field
                                name="sha256"
                                id="plugin-url-sha256"
                                label="Its SHA-256 (hex)"
                                error=error
                                required=true
                            />
                            <div class="field check">
                                <input type="checkbox" id="plugin-url-grant-all" name="grant_all" value="true"/>
                                <label for="plugin-url-grant-all">
                                    "Grant every capability it asks for"
                                </label>
                            </div>
                            <FormError error=error fields=&["url", "sha256"]/>
                            <button type="submit" id="install-url-button">"Download and install"</button>
                        </ActionForm>
                    </section>
                }
                    .into_any()
            }
        />
    }
}

/// Posts the chosen component file to [`UPLOAD_PATH`] with the session's CSRF token:
/// installs it, or upgrades the plugin `upgrade`. Needs JavaScript (the body is the file).
#[component]
fn ComponentUpload(
    /// The plugin to upgrade; `None` installs.
    upgrade: Option<String>,
    /// What to do with the plugin once the server took the file.
    done: Callback<Plugin>,
) -> impl IntoView {
    let session = use_context::<SessionResource>();
    let file: NodeRef<leptos::html::Input> = NodeRef::new();
    let sha256: NodeRef<leptos::html::Input> = NodeRef::new();
    let grant_all: NodeRef<leptos::html::Input> = NodeRef::new();
    let (error, set_error) = signal(None::<UiError>);
    let (busy, set_busy) = signal(false);
    let prefix = if upgrade.is_some() {
        "upgrade"
    } else {
        "install"
    };
    let upgrade = StoredValue::new(upgrade);
    let submit = move |ev: ev::SubmitEvent| {
        ev.prevent_default();
        let Some(chosen) = file
            .get()
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
        else {
            set_error.set(Some(UiError::Call("choose a .wasm file first".into())));
            return;
        };
        let csrf = session
            .and_then(|s| s.get_untracked())
            .and_then(Result::ok)
            .map(|s| s.csrf)
            .unwrap_or_default();
        let mut query = vec![];
        if let Some(id) = upgrade.get_value() {
            query.push(format!("upgrade={id}"));
        }
        if let Some(hash) = sha256
            .get()
            .map(|i| i.value())
            .filter(|h| !h.trim().is_empty())
        {
            query.push(format!("sha256={}", hash.trim()));
        }
        if grant_all.get().is_some_and(|i| i.checked()) {
            query.push("grant_all=true".to_owned());
        }
        let url = format!("{UPLOAD_PATH}?{}", query.join("&"));
        set_busy.set(true);
        set_error.set(None);
        leptos::task::spawn_local(async move {
            let answer = post_file(&url, &chosen, &csrf).await;
            set_busy.set(false);
            match answer {
                Ok(plugin) => done.run(plugin),
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let error = Signal::from(error);
    view! {
        <form on:submit=submit>
            <div class="field">
                <label for=format!("{prefix}-file")>"Component (.wasm)"</label>
                <input type="file" id=format!("{prefix}-file") accept=".wasm,application/wasm" node_ref=file/>
            </div>
            <div class="field">
                <label for=format!("{prefix}-sha256")>"Its SHA-256 (hex, optional)"</label>
                <p class="hint" id=format!("{prefix}-sha256-hint")>
                    "Checked before anything is installed; empty: the server computes it."
                </p>
                <input
                    id=format!("{prefix}-sha256")
                    aria-describedby=format!("{prefix}-sha256-hint")
                    node_ref=sha256
                />
            </div>
            {(prefix == "install")
                .then(|| {
                    view! {
                        <div class="field check">
                            <input type="checkbox" id="install-grant-all" node_ref=grant_all/>
                            <label for="install-grant-all">"Grant every capability it asks for"</label>
                        </div>
                    }
                })}
            <FormError error=error/>
            <p class="hint">"Uploading a file needs JavaScript."</p>
            <button type="submit" id=format!("{prefix}-file-button") disabled=move || busy.get()>
                {if prefix == "install" { "Upload and install" } else { "Upload and upgrade" }}
            </button>
        </form>
    }
}

/// Posts `file` as `application/wasm` to `url` with the CSRF token: the plugin, or the
/// server's error.
async fn post_file(url: &str, file: &web_sys::File, csrf: &str) -> Result<Plugin, UiError> {
    use leptos::wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    let failed = |e: JsValue| UiError::Call(format!("the upload failed: {e:?}"));
    let headers = web_sys::Headers::new().map_err(failed)?;
    headers
        .set("content-type", "application/wasm")
        .map_err(failed)?;
    headers.set(CSRF_HEADER, csrf).map_err(failed)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(file.as_ref());
    let window = web_sys::window().ok_or_else(|| UiError::Call("no window".into()))?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    let text = JsFuture::from(response.text().map_err(failed)?)
        .await
        .map_err(failed)?
        .as_string()
        .unwrap_or_default();
    if response.ok() {
        serde_json::from_str(&text).map_err(|e| UiError::Call(format!("the answer: {e}")))
    } else {
        Err(serde_json::from_str(&text)
            .unwrap_or_else(|_| UiError::Call(format!("{}: {text}", response.status()))))
    }
}

/// One plugin: what it asks and what is granted, its settings, connections, and the rest of
/// its life.
#[component]
pub fn PluginPage() -> impl IntoView {
    let params = use_params_map();
    let grant = ServerAction::<GrantPlugin>::new();
    let save = ServerAction::<SavePluginSettings>::new();
    let enable = ServerAction::<SetPluginEnabled>::new();
    let uninstall = ServerAction::<UninstallPlugin>::new();
    let put_connection = ServerAction::<PutPluginConnection>::new();
    let delete_connection = ServerAction::<DeletePluginConnection>::new();
    let (upgraded, set_upgraded) = signal(0u32);
    let upgrade_done = Callback::new(move |_: Plugin| set_upgraded.update(|n| *n += 1));
    let data = Resource::new(
        move || {
            (
                params.read().get("plugin").unwrap_or_default(),
                grant.version().get()
                    + save.version().get()
                    + enable.version().get()
                    + put_connection.version().get()
                    + delete_connection.version().get()
                    + upgraded.get() as usize,
            )
        },
        |(plugin, _)| load_plugin(plugin),
    );
    view! {
        <Loaded
            data=data
            view=move |data| {
                let p = data.plugin;
                let id = StoredValue::new(p.id.clone());
                let grant_error = action_error(grant);
                let enable_error = action_error(enable);
                let capabilities = p
                    .requested
                    .iter()
                    .map(|c| {
                        let granted = p.granted.contains(c);
                        let input = format!("capability-{c}");
                        view! {
                            <div class="field check">
                                <input
                                    type="checkbox"
                                    id=input.clone()
                                    name=format!("granted[{c}]")
                                    value="true"
                                    checked=granted
                                />
                                <label for=input>{c.clone()}</label>
                            </div>
                        }
                    })
                    .collect_view();
                let waiting = (p.status == PluginStatus::PendingGrant)
                    .then(|| {
                        view! {
                            <p class="notice" id="pending-grant">
                                "It waits for a grant: it runs once its capabilities are granted."
                            </p>
                        }
                    });
                let enabled = p.status == PluginStatus::Enabled;
                let kind = match &p.world {
                    Some(world) => format!("{} ({world})", p.kind),
                    None => p.kind.clone(),
                };
                view! {
                    <Title text=format!("{} · Plugins · Komander", p.id)/>
                    <Crumbs trail=vec![("Plugins".to_owned(), "/admin/plugins".to_owned())] here=p.id.clone()/>
                    <h1>{p.id.clone()}</h1>
                    <p class="muted" id="plugin-summary">
                        "Version " {p.version.clone()} ", " {kind} ", " <span id="plugin-status">{p.status.as_str()}</span>
                    </p>
                    <p class="muted">"SHA-256 " <code>{p.sha256.clone()}</code></p>
                    {waiting}
                    <section aria-labelledby="capabilities">
                        <h2 id="capabilities">"Capabilities"</h2>
                        <p>
                            "It asks for " {p.requested.len()} "; granted: "
                            <span id="granted">
                                {if p.granted.is_empty() { "none".to_owned() } else { p.granted.join(", ") }}
                            </span>
                        </p>
                        <ActionForm action=grant>
                            <Csrf/>
                            <input type="hidden" name="plugin" value=id.get_value()/>
                            <fieldset>
                                <legend>"Granted capabilities"</legend>
                                {capabilities}
                            </fieldset>
                            <FormError error=grant_error/>
                            <button type="submit" id="grant-button">"Save the grant"</button>
                        </ActionForm>
                    </section>
                    <SettingsForm plugin=id.get_value() groups=data.settings action=save/>
                    <Connections plugin=id.get_value() connections=data.connections put=put_connection delete=delete_connection/>
                    <section aria-labelledby="upgrade">
                        <h2 id="upgrade">"Upgrade"</h2>
                        <p class="hint">
                            "Another build of the same plugin: grants carry over for what it still asks for."
                        </p>
                        <ComponentUpload upgrade=Some(id.get_value()) done=upgrade_done/>
                    </section>
                    <section aria-labelledby="status">
                        <h2 id="status">{if enabled { "Disable" } else { "Enable" }}</h2>
                        <ActionForm action=enable>
                            <Csrf/>
                            <input type="hidden" name="plugin" value=id.get_value()/>
                            <input type="hidden" name="enabled" value={if enabled { "false" } else { "true" }}/>
                            <FormError error=enable_error/>
                            <button type="submit" id="toggle-plugin">
                                {if enabled { "Disable the plugin" } else { "Enable the plugin" }}
                            </button>
                        </ActionForm>
                    </section>
                    <section aria-labelledby="uninstall" class="danger">
                        <h2 id="uninstall">"Uninstall"</h2>
                        <ActionForm action=uninstall>
                            <Csrf/>
                            <input type="hidden" name="plugin" value=id.get_value()/>
                            <ConfirmDelete
                                what="plugin"
                                name=id.get_value()
                                consequence="Environments that use it stop working until it is installed again."
                                error=action_error(uninstall)
                            />
                        </ActionForm>
                    </section>
                }
                    .into_any()
            }
        />
    }
}

/// The settings form generated from the plugin's config schema. An error about a field shows
/// under it, the schema's refusal under each setting it names and in full under the form.
#[component]
fn SettingsForm(
    plugin: String,
    groups: Vec<SettingGroup>,
    action: ServerAction<SavePluginSettings>,
) -> impl IntoView {
    let error = action_error(action);
    let layout = serde_json::to_string(&layout(&groups)).unwrap_or_default();
    let mut index = 0;
    let groups = groups
        .into_iter()
        .map(|group| {
            let fields = group
                .fields
                .into_iter()
                .map(|field| {
                    let input = view! { <SettingInput field=field index=index error=error/> };
                    index += 1;
                    input
                })
                .collect_view();
            match group.legend {
                Some(legend) => view! {
                    <fieldset>
                        <legend>{legend}</legend>
                        {(!group.hint.is_empty()).then(|| view! { <p class="hint">{group.hint}</p> })}
                        {fields}
                    </fieldset>
                }
                    .into_any(),
                None => fields.into_any(),
            }
        })
        .collect_view();
    let general = move || {
        error
            .get()
            .filter(|e| e.field().is_none_or(|f| !f.starts_with("values[")))
            .map(|e| format!("Error: {e}"))
    };
    view! {
        <section aria-labelledby="settings">
            <h2 id="settings">"Settings"</h2>
            <ActionForm action=action>
                <Csrf/>
                <input type="hidden" name="plugin" value=plugin/>
                <input type="hidden" name="layout" value=layout/>
                {groups}
                <p class="error" id="settings-error" role="alert">{general}</p>
                <button type="submit" id="save-settings">"Save the settings"</button>
            </ActionForm>
        </section>
    }
}

/// One generated field, `values[f<index>]`.
#[component]
fn SettingInput(
    field: SettingField,
    index: usize,
    error: Signal<Option<UiError>>,
) -> impl IntoView {
    let name = format!("values[f{index}]");
    let id = format!("setting-{index}");
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let pointer = field.pointer.clone();
    let own = name.clone();
    let message = move || {
        let e = error.get()?;
        let problems = match e.field() {
            Some(f) if f == own => vec![e.to_string()],
            Some("settings") => problems_at(&e.to_string(), &pointer),
            _ => Vec::new(),
        };
        (!problems.is_empty()).then(|| format!("Error: {}", problems.join("; ")))
    };
    let invalid = {
        let message = message.clone();
        move || if message().is_some() { "true" } else { "false" }
    };
    let described = format!("{hint_id} {error_id}");
    let label = if field.required {
        format!("{} (required)", field.label)
    } else {
        field.label.clone()
    };
    let control = match field.kind {
        SettingKind::Boolean => view! {
            <input
                type="checkbox"
                id=id.clone()
                name=name
                value="true"
                checked={field.value == "true"}
                aria-describedby=described
            />
        }
            .into_any(),
        SettingKind::Enum => {
            let chosen = field.value.clone();
            let blank = (!field.required).then(|| view! { <option value="">"(not set)"</option> });
            let options = field
                .choices
                .into_iter()
                .map(|(value, text)| {
                    let selected = value == chosen;
                    view! { <option value=value selected=selected>{text}</option> }
                })
                .collect_view();
            view! {
                <select id=id.clone() name=name aria-describedby=described aria-invalid=invalid>
                    {blank}
                    {options}
                </select>
            }
                .into_any()
        }
        SettingKind::Json => view! {
            <textarea id=id.clone() name=name rows="5" aria-describedby=described aria-invalid=invalid>
                {field.value.clone()}
            </textarea>
        }
            .into_any(),
        kind => {
            let (kind, step) = match kind {
                SettingKind::Integer => ("number", Some("1")),
                SettingKind::Number => ("number", Some("any")),
                _ => ("text", None),
            };
            view! {
                <input
                    type=kind
                    step=step
                    id=id.clone()
                    name=name
                    value=field.value.clone()
                    aria-describedby=described
                    aria-invalid=invalid
                />
            }
                .into_any()
        }
    };
    let check = field.kind == SettingKind::Boolean;
    view! {
        <div class={if check { "field check" } else { "field" }}>
            <label for=id>{label}</label>
            <p class="hint" id=hint_id>{field.hint}</p>
            {control}
            <p class="error" id=error_id role="alert">{message}</p>
        </div>
    }
}

/// A plugin's connections: each with whether a credential is set (never the credential), the
/// form that sets one, and deleting one.
#[component]
fn Connections(
    plugin: String,
    connections: Vec<komander_domain::api::PluginConnection>,
    put: ServerAction<PutPluginConnection>,
    delete: ServerAction<DeletePluginConnection>,
) -> impl IntoView {
    let error = action_error(put);
    let delete_error = action_error(delete);
    let plugin = StoredValue::new(plugin);
    let rows = connections
        .into_iter()
        .map(|c| {
            let name = c.name.clone();
            view! {
                <tr>
                    <td>{c.name}</td>
                    <td>{c.base_url}</td>
                    <td>{if c.has_credential { "set" } else { "not set" }}</td>
                    <td>{if c.allow_private { "yes" } else { "no" }}</td>
                    <td>{if c.path_prefixes.is_empty() { "every path".to_owned() } else { c.path_prefixes.join(", ") }}</td>
                    <td>{c.requests_per_minute.map_or_else(|| "no limit".to_owned(), |r| r.to_string())}</td>
                    <td>
                        <ActionForm action=delete>
                            <Csrf/>
                            <input type="hidden" name="plugin" value=plugin.get_value()/>
                            <input type="hidden" name="name" value=name.clone()/>
                            <button type="submit" class="link">{format!("Delete {name}")}</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="connections">
            <h2 id="connections">"Connections"</h2>
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Base URL"</th>
                        <th scope="col">"Credential"</th>
                        <th scope="col">"Private addresses"</th>
                        <th scope="col">"Paths"</th>
                        <th scope="col">"Rate"</th>
                        <th scope="col">"Delete"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <FormError error=delete_error/>
            <h3>"Add or change a connection"</h3>
            <ActionForm action=put>
                <Csrf/>
                <input type="hidden" name="plugin" value=plugin.get_value()/>
                <Field name="name" id="connection-name" label="Name" hint="The name the plugin uses." error=error required=true/>
                <Field name="base_url" id="connection-base-url" label="Base URL" error=error required=true/>
                <Field
                    name="credential"
                    id="connection-credential"
                    label="Credential"
                    kind="password"
                    hint="The Authorization value the host adds, such as Bearer …; write-only. Empty keeps the one set, unless the base URL changes."
                    error=error
                />
                <div class="field check">
                    <input type="checkbox" id="connection-clear-credential" name="clear_credential" value="true"/>
                    <label for="connection-clear-credential">"Remove the credential"</label>
                </div>
                <div class="field check">
                    <input type="checkbox" id="connection-allow-private" name="allow_private" value="true"/>
                    <label for="connection-allow-private">"May reach private and loopback addresses"</label>
                </div>
                <TextArea
                    name="path_prefixes"
                    id="connection-path-prefixes"
                    label="Allowed path prefixes"
                    hint="One a line, each starting with /; empty allows every path."
                    value=String::new()
                    error=error
                />
                <Field
                    name="requests_per_minute"
                    id="connection-rate"
                    label="Requests per minute"
                    hint="Empty: no limit."
                    error=error
                />
                <FormError error=error fields=&["name", "base_url", "credential", "path_prefixes", "requests_per_minute"]/>
                <button type="submit" id="save-connection">"Save the connection"</button>
            </ActionForm>
        </section>
    }
}
