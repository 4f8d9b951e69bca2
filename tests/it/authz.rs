//! The authorization table of DESIGN.md §1, through the REST routes: role × {owner, not owner}
//! × {private, shared} × {server, local executor} × action, plus non-members (404) and
//! anonymous callers (401). The
//! expectations are written out here as the table says, not computed by the code under test.

use axum::http::{Method, StatusCode};
use komander_e2e::{ADMIN_TOKEN, Backend, TestApi};
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Admin,
    DevOps,
    Dev,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Executor {
    Server,
    Local,
}

impl Executor {
    /// The environment of the team's project that uses this executor.
    fn deployments(self) -> &'static str {
        match self {
            Executor::Server => DEPLOYMENTS,
            Executor::Local => LOCAL_DEPLOYMENTS,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum DeploymentAction {
    View,
    List,
    Edit,
    Delete,
    Share,
    Resolve,
    ReadSecret,
}

/// What the table says a member with `role` gets for `action` on a deployment in an
/// environment with `executor`.
fn expected(
    role: Role,
    owned: bool,
    shared: bool,
    executor: Executor,
    action: DeploymentAction,
) -> StatusCode {
    use DeploymentAction::*;
    let visible = owned || shared;
    if !visible {
        return StatusCode::NOT_FOUND;
    }
    let may_change = owned || matches!(role, Role::Admin | Role::DevOps);
    match action {
        // Secret values go to no person in a `server` environment, whatever the role.
        Resolve if executor == Executor::Server => StatusCode::FORBIDDEN,
        View | List | Resolve | ReadSecret => StatusCode::OK,
        Edit if may_change => StatusCode::OK,
        Delete if may_change => StatusCode::NO_CONTENT,
        Share if !may_change => StatusCode::FORBIDDEN,
        Share if shared => StatusCode::CONFLICT,
        Share => StatusCode::OK,
        Edit | Delete => StatusCode::FORBIDDEN,
    }
}

async fn expect(
    api: &TestApi,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
    status: StatusCode,
) -> serde_json::Value {
    let (got, answer) = api.call(method.clone(), path, token, body).await;
    assert_eq!(got, status, "{method} {path}: {answer}");
    answer
}

struct Team {
    api: TestApi,
    tokens: [(Role, String); 3],
    other: String,
    outsider: String,
}

async fn team() -> Team {
    let api = TestApi::new(Backend::Sqlite)
        .await
        .expect("SQLite always works");
    api.install_plugin("komander_compose").await;
    let alice = api.user("alice").await;
    let dora = api.user("dora").await;
    let dave = api.user("dave").await;
    let olga = api.user("olga").await;
    let outsider = api.user("oscar").await;
    expect(
        &api,
        Method::POST,
        "/api/v1/projects",
        Some(&alice),
        Some(json!({"name": "shop"})),
        StatusCode::CREATED,
    )
    .await;
    for (handle, role) in [("dora", "devops"), ("dave", "dev"), ("olga", "dev")] {
        expect(
            &api,
            Method::POST,
            "/api/v1/projects/shop/members",
            Some(&alice),
            Some(json!({"user": handle, "role": role})),
            StatusCode::CREATED,
        )
        .await;
    }
    expect(
        &api,
        Method::POST,
        "/api/v1/projects/shop/environments",
        Some(&alice),
        Some(json!({"name": "dev", "runtime": "compose"})),
        StatusCode::CREATED,
    )
    .await;
    expect(
        &api,
        Method::POST,
        "/api/v1/projects/shop/environments",
        Some(&alice),
        Some(json!({"name": "laptop", "runtime": "compose", "executor": "local"})),
        StatusCode::CREATED,
    )
    .await;
    Team {
        api,
        tokens: [
            (Role::Admin, alice),
            (Role::DevOps, dora),
            (Role::Dev, dave),
        ],
        other: olga,
        outsider,
    }
}

const DEPLOYMENTS: &str = "/api/v1/projects/shop/environments/dev/deployments";
const LOCAL_DEPLOYMENTS: &str = "/api/v1/projects/shop/environments/laptop/deployments";

/// Creates deployment `name` owned by `owner` in the environment listing at `deployments`,
/// with a service holding a secret, shared or not.
async fn deployment(api: &TestApi, deployments: &str, owner: &str, name: &str, shared: bool) {
    expect(
        api,
        Method::POST,
        deployments,
        Some(owner),
        Some(json!({"name": name})),
        StatusCode::CREATED,
    )
    .await;
    let d = format!("{deployments}/{name}");
    expect(
        api,
        Method::POST,
        &format!("{d}/services"),
        Some(owner),
        Some(json!({"name": "web", "image": "busybox:1"})),
        StatusCode::CREATED,
    )
    .await;
    if shared {
        expect(
            api,
            Method::POST,
            &format!("{d}/share"),
            Some(owner),
            None,
            StatusCode::OK,
        )
        .await;
    }
    expect(
        api,
        Method::PUT,
        &format!("{d}/services/web/variables/TOKEN"),
        Some(owner),
        Some(json!({"value": "top-secret-value", "secret": true})),
        StatusCode::OK,
    )
    .await;
}

/// Owner or not × private or shared × executor: every deployment a member may meet.
fn cases() -> impl Iterator<Item = (bool, bool, Executor)> {
    [true, false].into_iter().flat_map(|owned| {
        [false, true].into_iter().flat_map(move |shared| {
            [Executor::Server, Executor::Local]
                .into_iter()
                .map(move |executor| (owned, shared, executor))
        })
    })
}

#[tokio::test]
async fn deployment_table_role_owner_sharing_executor_action() {
    use DeploymentAction::*;
    let team = team().await;
    let api = &team.api;
    let mut n = 0;
    for (role, token) in &team.tokens {
        for (owned, shared, executor) in cases() {
            for action in [View, List, Edit, Delete, Share, Resolve, ReadSecret] {
                n += 1;
                let name = format!("d{n}");
                let owner = if owned { token } else { &team.other };
                let deployments = executor.deployments();
                deployment(api, deployments, owner, &name, shared).await;
                let path = format!("{deployments}/{name}");
                let want = expected(*role, owned, shared, executor, action);
                let case =
                    format!("{role:?} owned={owned} shared={shared} {executor:?} {action:?}");
                let (status, body) = match action {
                    View => api.call(Method::GET, &path, Some(token), None).await,
                    List => {
                        let (status, body) =
                            api.call(Method::GET, deployments, Some(token), None).await;
                        assert_eq!(status, StatusCode::OK, "{case}");
                        let listed = body["items"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|d| d["name"] == name.as_str());
                        assert_eq!(listed, want == StatusCode::OK, "{case}: listed");
                        continue;
                    }
                    Edit => {
                        api.call(
                            Method::PATCH,
                            &path,
                            Some(token),
                            Some(json!({"display_name": "Renamed"})),
                        )
                        .await
                    }
                    Delete => api.call(Method::DELETE, &path, Some(token), None).await,
                    Share => {
                        api.call(Method::POST, &format!("{path}/share"), Some(token), None)
                            .await
                    }
                    Resolve => {
                        api.call(Method::POST, &format!("{path}/resolve"), Some(token), None)
                            .await
                    }
                    ReadSecret => {
                        api.call(
                            Method::GET,
                            &format!("{path}/services/web/variables"),
                            Some(token),
                            None,
                        )
                        .await
                    }
                };
                assert_eq!(status, want, "{case}: {body}");
                if matches!(action, ReadSecret) && status == StatusCode::OK {
                    let variable = &body["items"][0];
                    assert_eq!(variable["name"], "TOKEN", "{case}");
                    assert_eq!(variable["has_value"], true, "{case}");
                    assert!(variable.get("value").is_none(), "{case}: secret read back");
                    assert!(!body.to_string().contains("top-secret-value"), "{case}");
                }
                if matches!(action, Resolve) {
                    let released = body.to_string().contains("top-secret-value");
                    assert_eq!(released, status == StatusCode::OK, "{case}: {body}");
                }
                if status == StatusCode::NOT_FOUND {
                    assert_eq!(body["error"]["code"], "not_found", "{case}");
                    assert!(!body.to_string().contains("olga"), "{case}: owner leaked");
                }
                if status == StatusCode::FORBIDDEN {
                    assert_eq!(body["error"]["code"], "forbidden", "{case}");
                }
            }
        }
    }
    // Someone else's private deployment: its name is taken, but the 409 does not name them.
    deployment(api, DEPLOYMENTS, &team.other, "hidden", false).await;
    let answer = expect(
        api,
        Method::POST,
        DEPLOYMENTS,
        Some(&team.tokens[0].1),
        Some(json!({"name": "hidden"})),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(!answer.to_string().contains("olga"), "{answer}");
    // Non-members see nothing; anonymous callers are asked to authenticate.
    for path in [
        "/api/v1/projects/shop",
        DEPLOYMENTS,
        &format!("{DEPLOYMENTS}/d2"),
    ] {
        let answer = expect(
            api,
            Method::GET,
            path,
            Some(&team.outsider),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(answer["error"]["code"], "not_found");
        let answer = expect(api, Method::GET, path, None, None, StatusCode::UNAUTHORIZED).await;
        assert_eq!(answer["error"]["code"], "unauthenticated");
        expect(
            api,
            Method::GET,
            path,
            Some("kmd_wrong"),
            None,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let (_, projects) = api
        .call(Method::GET, "/api/v1/projects", Some(&team.outsider), None)
        .await;
    assert_eq!(projects["items"], json!([]));
}

#[tokio::test]
async fn project_and_environment_table() {
    let team = team().await;
    let api = &team.api;
    let p = "/api/v1/projects/shop";
    for (i, (role, token)) in team.tokens.iter().enumerate() {
        let admin = *role == Role::Admin;
        let operator = matches!(role, Role::Admin | Role::DevOps);
        let pick =
            |yes: StatusCode, allowed: bool| if allowed { yes } else { StatusCode::FORBIDDEN };
        expect(api, Method::GET, p, Some(token), None, StatusCode::OK).await;
        expect(
            api,
            Method::PATCH,
            p,
            Some(token),
            Some(json!({"description": "x"})),
            pick(StatusCode::OK, admin),
        )
        .await;
        let newcomer = format!("new{i}");
        api.user(&newcomer).await;
        expect(
            api,
            Method::POST,
            &format!("{p}/members"),
            Some(token),
            Some(json!({"user": newcomer, "role": "dev"})),
            pick(StatusCode::CREATED, admin),
        )
        .await;
        expect(
            api,
            Method::POST,
            &format!("{p}/invitations"),
            Some(token),
            Some(json!({"role": "dev"})),
            pick(StatusCode::CREATED, admin),
        )
        .await;
        expect(
            api,
            Method::GET,
            &format!("{p}/audit"),
            Some(token),
            None,
            pick(StatusCode::OK, admin),
        )
        .await;
        let env = format!("env{i}");
        expect(
            api,
            Method::POST,
            &format!("{p}/environments"),
            Some(&team.tokens[0].1),
            Some(json!({"name": env, "runtime": "compose"})),
            StatusCode::CREATED,
        )
        .await;
        expect(
            api,
            Method::POST,
            &format!("{p}/environments"),
            Some(token),
            Some(json!({"name": format!("made{i}"), "runtime": "compose"})),
            pick(StatusCode::CREATED, operator),
        )
        .await;
        expect(
            api,
            Method::PATCH,
            &format!("{p}/environments/{env}"),
            Some(token),
            Some(json!({"display_name": "Renamed"})),
            pick(StatusCode::OK, operator),
        )
        .await;
        // Switching to the local executor releases secret values to people: Admins only.
        expect(
            api,
            Method::PATCH,
            &format!("{p}/environments/{env}"),
            Some(token),
            Some(json!({"executor": "local"})),
            pick(StatusCode::OK, admin),
        )
        .await;
        // Every role may create a deployment; an environment holding one is not deleted
        // without force, and only an Admin may force.
        expect(
            api,
            Method::POST,
            &format!("{p}/environments/{env}/deployments"),
            Some(token),
            Some(json!({"name": "mine"})),
            StatusCode::CREATED,
        )
        .await;
        let held = expect(
            api,
            Method::DELETE,
            &format!("{p}/environments/{env}"),
            Some(token),
            None,
            pick(StatusCode::CONFLICT, operator),
        )
        .await;
        if operator {
            assert!(
                held["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("1 deployment"),
                "{held}"
            );
        }
        expect(
            api,
            Method::DELETE,
            &format!("{p}/environments/{env}?force=true"),
            Some(token),
            None,
            pick(StatusCode::NO_CONTENT, admin),
        )
        .await;
        if !admin {
            expect(
                api,
                Method::DELETE,
                p,
                Some(token),
                None,
                StatusCode::FORBIDDEN,
            )
            .await;
        }
    }
    // Secrets are write-only for every role: no route returns them (checked above for
    // variables); the project's last Admin can neither leave nor be demoted.
    let alice = &team.tokens[0].1;
    expect(
        api,
        Method::DELETE,
        &format!("{p}/members/alice"),
        Some(alice),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    expect(
        api,
        Method::PATCH,
        &format!("{p}/members/alice"),
        Some(alice),
        Some(json!({"role": "dev"})),
        StatusCode::CONFLICT,
    )
    .await;
    expect(
        api,
        Method::DELETE,
        p,
        Some(&team.outsider),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect(
        api,
        Method::DELETE,
        p,
        Some(alice),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect(
        api,
        Method::GET,
        p,
        Some(alice),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Only instance admins create service users.
    expect(
        api,
        Method::POST,
        "/api/v1/users",
        Some(alice),
        Some(json!({"handle": "robot"})),
        StatusCode::FORBIDDEN,
    )
    .await;
    expect(
        api,
        Method::POST,
        "/api/v1/users",
        Some(ADMIN_TOKEN),
        Some(json!({"handle": "robot"})),
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn removing_a_member_deletes_their_private_deployments_after_telling_how_many() {
    let team = team().await;
    let api = &team.api;
    let alice = &team.tokens[0].1;
    deployment(api, DEPLOYMENTS, &team.other, "olga-private", false).await;
    deployment(api, DEPLOYMENTS, &team.other, "olga-shared", true).await;
    let answer = expect(
        api,
        Method::DELETE,
        "/api/v1/projects/shop/members/olga",
        Some(alice),
        None,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 private"),
        "{answer}"
    );
    expect(
        api,
        Method::GET,
        "/api/v1/projects/shop/members",
        Some(&team.other),
        None,
        StatusCode::OK,
    )
    .await;
    expect(
        api,
        Method::DELETE,
        "/api/v1/projects/shop/members/olga?force=true",
        Some(alice),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (_, list) = api.call(Method::GET, DEPLOYMENTS, Some(alice), None).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["olga-shared"]);
    expect(
        api,
        Method::GET,
        "/api/v1/projects/shop",
        Some(&team.other),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn invitations_grant_their_role_once() {
    let team = team().await;
    let api = &team.api;
    let alice = &team.tokens[0].1;
    let invitation = expect(
        api,
        Method::POST,
        "/api/v1/projects/shop/invitations",
        Some(alice),
        Some(json!({"role": "devops"})),
        StatusCode::CREATED,
    )
    .await;
    let token = invitation["token"].as_str().unwrap();
    let accept = format!("/api/v1/invitations/{token}/accept");
    let project = expect(
        api,
        Method::POST,
        &accept,
        Some(&team.outsider),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(project["role"], "devops");
    expect(
        api,
        Method::POST,
        &accept,
        Some(&team.outsider),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let list = expect(
        api,
        Method::GET,
        "/api/v1/projects/shop/invitations",
        Some(alice),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"][0]["accepted_by"], "oscar");
    assert!(list["items"][0].get("token").is_none());
}
