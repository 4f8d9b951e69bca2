//! History and rollback of deployments the server runs, against the test Docker Engine with
//! the Compose runtime: each apply records its target, duration and spec with the images
//! pinned (to a repository digest from the test registry, or to an image id); a rollback
//! writes an earlier spec back and applies it, running the earlier image again even after its
//! tag moved; what cannot be brought back is refused with nothing changed. Also an image
//! that cannot be pulled: the apply fails naming it, and the next apply builds on what it
//! created.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use bollard::{
    Docker,
    query_parameters::{
        BuildImageOptions, ListNetworksOptions, ListVolumesOptions, PushImageOptions,
        RemoveImageOptions, TagImageOptions,
    },
};
use futures_util::StreamExt;
use komander_e2e::{TestApi, docker};
use serde_json::{Value, json};

use crate::runs::{
    call, containers, deployment_id, expect, free_port, lines, run, set_variable, setup,
};

/// The test registry (`KOMANDER_TEST_REGISTRY`, `127.0.0.1:PORT`, which `scripts/test.sh`
/// starts); `None` after a loud message outside CI.
///
/// # Panics
/// Under `CI=true` when it is not set.
fn registry() -> Option<String> {
    let registry = std::env::var("KOMANDER_TEST_REGISTRY").ok();
    if registry.is_none() {
        assert!(
            !docker::ci(),
            "KOMANDER_TEST_REGISTRY is not set: under CI=true the registry tests must run"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPING a registry test: KOMANDER_TEST_REGISTRY is not set. \
             Run `bash scripts/test.sh`, which starts a private docker-registry. !!!!!!!!\n"
        );
    }
    registry
}

/// Builds `tag` from the test image with one more file, `/variant` holding `text`: an
/// image whose id differs from the test image's.
pub(crate) async fn build_variant(engine: &Docker, tag: &str, text: &str) {
    let mut tar = tar::Builder::new(Vec::new());
    let dockerfile = format!("FROM {}\nCOPY variant /variant\n", docker::IMAGE);
    for (name, bytes) in [
        ("Dockerfile", dockerfile.as_bytes()),
        ("variant", text.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes).unwrap();
    }
    let options = BuildImageOptions {
        t: Some(tag.into()),
        rm: true,
        ..Default::default()
    };
    let context = tar.into_inner().unwrap();
    let mut build = engine.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = build.next().await {
        let info = item.unwrap_or_else(|e| panic!("building {tag}: {e}"));
        assert!(info.error_detail.is_none(), "building {tag}: {info:?}");
    }
}

/// Tags `image` as `repository:tag`.
pub(crate) async fn tag(engine: &Docker, image: &str, repository: &str, tag: &str) {
    let options = TagImageOptions {
        repo: Some(repository.into()),
        tag: Some(tag.into()),
    };
    engine.tag_image(image, Some(options)).await.unwrap();
}

/// Pushes `repository:tag` to its registry.
async fn push(engine: &Docker, repository: &str, tag: &str) {
    let options = PushImageOptions {
        tag: Some(tag.into()),
        ..Default::default()
    };
    let mut push = engine.push_image(repository, Some(options), None);
    while let Some(item) = push.next().await {
        let info = item.unwrap_or_else(|e| panic!("pushing {repository}:{tag}: {e}"));
        assert!(
            info.error_detail.is_none(),
            "pushing {repository}:{tag}: {info:?}"
        );
    }
}

/// The id of the image `image` names on the engine.
pub(crate) async fn image_id(engine: &Docker, image: &str) -> String {
    engine
        .inspect_image(image)
        .await
        .unwrap_or_else(|e| panic!("inspecting {image}: {e}"))
        .id
        .unwrap()
}

/// The image id the deployment's only container runs.
pub(crate) async fn running_image(engine: &Docker, deployment: &str) -> String {
    let ids = containers(engine, deployment).await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    engine
        .inspect_container(&ids[0], None)
        .await
        .unwrap()
        .image
        .unwrap()
}

/// The ids of the networks and volumes labelled with the deployment `id`.
async fn networks_and_volumes(engine: &Docker, id: &str) -> (Vec<String>, Vec<String>) {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("dev.komander.deployment={id}")],
    )]);
    let networks = engine
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|n| n.id)
        .collect();
    let volumes = engine
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .unwrap()
        .volumes
        .into_iter()
        .flatten()
        .map(|v| v.name)
        .collect();
    (networks, volumes)
}

/// Asserts that nothing is labelled with the deployment `id` any more.
pub(crate) async fn nothing_labelled(engine: &Docker, id: &str) {
    assert!(containers(engine, id).await.is_empty(), "no container");
    let (networks, volumes) = networks_and_volumes(engine, id).await;
    assert!(networks.is_empty(), "no network: {networks:?}");
    assert!(volumes.is_empty(), "no volume: {volumes:?}");
}

/// Sets service `web`'s image.
async fn set_image(api: &TestApi, d: &str, image: &str) {
    expect(
        api,
        Method::PATCH,
        &format!("{d}/services/web"),
        Some(json!({"image": image})),
        StatusCode::OK,
    )
    .await;
}

/// Starts a rollback to `operation` and waits (like [`run`]) until it ended.
pub(crate) async fn roll_back(api: &TestApi, d: &str, operation: &Value) -> Value {
    let started = expect(
        api,
        Method::POST,
        &format!("{d}/rollback"),
        Some(json!({"operation": operation["id"]})),
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(started["kind"], "rollback", "{started}");
    assert_eq!(started["rollback_of"], operation["id"], "{started}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let path = format!("{d}/operations/{}", started["id"].as_str().unwrap());
        let op = expect(api, Method::GET, &path, None, StatusCode::OK).await;
        if op["state"] != "running" {
            return op;
        }
        assert!(std::time::Instant::now() < deadline, "{op}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Asserts that `op` ended `done`, showing its progress otherwise.
pub(crate) async fn assert_done(api: &TestApi, d: &str, op: &Value) {
    assert_eq!(op["state"], "done", "{op}: {:?}", lines(api, d, op).await);
}

/// The kinds and `rollback_of` of the deployment's history, newest first.
async fn history(api: &TestApi, d: &str) -> Vec<(String, Value)> {
    let page = expect(
        api,
        Method::GET,
        &format!("{d}/operations"),
        None,
        StatusCode::OK,
    )
    .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert!(o.get("spec").is_none(), "lists hold no spec: {o}");
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["rollback_of"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_runs_the_pinned_digest_again_after_its_tag_moved_in_the_registry() {
    let Some(registry) = registry() else {
        return;
    };
    let Some((api, engine, d)) = setup("pinned", free_port()).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;
    let repository = format!("{registry}/rollback/busybox");
    let image = format!("{repository}:1");
    tag(&engine, docker::IMAGE, &repository, "1").await;
    push(&engine, &repository, "1").await;
    let first_image = image_id(&engine, &image).await;
    engine
        .remove_image(&image, None::<RemoveImageOptions>, None)
        .await
        .unwrap();
    set_image(&api, &d, &image).await;

    let first = run(&api, &d, "apply").await;
    assert_done(&api, &d, &first).await;
    assert_eq!(
        image_id(&engine, &image).await,
        first_image,
        "the apply pulled the tag from the registry"
    );
    assert_eq!(first["target"], "local", "{first}");
    assert!(first["duration_ms"].as_u64().is_some(), "{first}");
    let first_pin = first["spec"]["services"][0]["pinned"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        first_pin.starts_with(&format!("{repository}@sha256:")),
        "pinned to the repository digest: {first}"
    );
    assert_eq!(first["spec"]["services"][0]["image"], image.as_str());
    assert_eq!(running_image(&engine, &id).await, first_image);

    // The tag moves in the registry: a different image pushed under it, applied with
    // another variable.
    build_variant(&engine, &image, "second").await;
    push(&engine, &repository, "1").await;
    let second_image = image_id(&engine, &image).await;
    assert_ne!(second_image, first_image);
    set_variable(&api, &d, "MODE", "two").await;
    let second = run(&api, &d, "apply").await;
    assert_done(&api, &d, &second).await;
    assert_eq!(running_image(&engine, &id).await, second_image);
    let second_pin = second["spec"]["services"][0]["pinned"].as_str().unwrap();
    assert_ne!(second_pin, first_pin, "the new digest is pinned");

    let rollback = roll_back(&api, &d, &first).await;
    assert_done(&api, &d, &rollback).await;
    assert_eq!(
        running_image(&engine, &id).await,
        first_image,
        "the first image runs again"
    );
    let progress = lines(&api, &d, &rollback).await;
    assert!(
        !progress[0].starts_with("warning"),
        "a digest needs no warning: {progress:?}"
    );
    let web = expect(
        &api,
        Method::GET,
        &format!("{d}/services/web"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        web["image"],
        first_pin.as_str(),
        "the service names the digest"
    );
    let (_, variables) = web_and_variables(&api, &d).await;
    assert_eq!(
        variables["items"][0]["value"], "one",
        "the plain variable is set back: {variables}"
    );
    assert_eq!(
        history(&api, &d).await,
        [
            ("rollback".to_owned(), first["id"].clone()),
            ("apply".to_owned(), Value::Null),
            ("apply".to_owned(), Value::Null),
        ]
    );

    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_done(&api, &d, &destroyed).await;
    nothing_labelled(&engine, &id).await;
    docker::remove_deployment(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_warns_first_when_the_tag_of_an_image_pinned_by_id_moved() {
    let Some((api, engine, d)) = setup("moving", free_port()).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;
    // A tag of this engine only: no repository digest, so the apply pins the image id.
    let image = format!("komander-test/moving-{}:1", free_port());
    tag(
        &engine,
        docker::IMAGE,
        image.split(':').next().unwrap(),
        "1",
    )
    .await;
    set_image(&api, &d, &image).await;
    let first = run(&api, &d, "apply").await;
    assert_done(&api, &d, &first).await;
    let first_image = image_id(&engine, &image).await;
    assert_eq!(first["spec"]["services"][0]["pinned"], first_image.as_str());

    build_variant(&engine, &image, "moved").await;
    let moved = image_id(&engine, &image).await;
    let rollback = roll_back(&api, &d, &first).await;
    assert_done(&api, &d, &rollback).await;
    let progress = lines(&api, &d, &rollback).await;
    assert!(
        progress[0].starts_with("warning: service web: image")
            && progress[0].contains(&moved)
            && progress[0].contains(&first_image),
        "the first line warns that the tag moved: {progress:?}"
    );
    let web = expect(
        &api,
        Method::GET,
        &format!("{d}/services/web"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(web["image"], image.as_str(), "the service keeps its tag");

    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_done(&api, &d, &destroyed).await;
    nothing_labelled(&engine, &id).await;
    let _ = engine
        .remove_image(&image, None::<RemoveImageOptions>, None)
        .await;
    docker::remove_deployment(&engine, &id).await;
}

/// Service `web` and its variables as the API reads them.
async fn web_and_variables(api: &TestApi, d: &str) -> (Value, Value) {
    let web = expect(
        api,
        Method::GET,
        &format!("{d}/services/web"),
        None,
        StatusCode::OK,
    )
    .await;
    let variables = expect(
        api,
        Method::GET,
        &format!("{d}/services/web/variables"),
        None,
        StatusCode::OK,
    )
    .await;
    (web, variables)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_to_what_cannot_be_brought_back_is_refused_with_nothing_changed() {
    let Some((api, engine, d)) = setup("refusals", free_port()).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;
    let token = format!("{d}/services/web/variables/TOKEN");
    let (status, answer) = call(
        &api,
        Method::PUT,
        &token,
        Some(json!({"secret": true, "value": "s3cret"})),
    )
    .await;
    assert!(status.is_success(), "{answer}");
    let first = run(&api, &d, "apply").await;
    assert_done(&api, &d, &first).await;
    let recorded = serde_json::to_string(&first["spec"]).unwrap();
    assert!(!recorded.contains("s3cret"), "no secret value: {recorded}");

    // The secret lost its value since: the rollback names it and changes nothing.
    let (status, answer) = call(&api, Method::PUT, &token, Some(json!({"secret": true}))).await;
    assert!(status.is_success(), "{answer}");
    set_variable(&api, &d, "MODE", "later").await;
    set_image(&api, &d, "komander-test/other:1").await;
    let before = web_and_variables(&api, &d).await;
    let (status, answer) = call(
        &api,
        Method::POST,
        &format!("{d}/rollback"),
        Some(json!({"operation": first["id"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("web.TOKEN"), "{answer}");
    assert_eq!(web_and_variables(&api, &d).await, before, "nothing changed");
    assert_eq!(history(&api, &d).await.len(), 1, "no operation stored");

    // An operation of another deployment, and a destroy.
    let other = d.replace("/deployments/app", "/deployments/other");
    let e = d.trim_end_matches("/deployments/app");
    expect(
        &api,
        Method::POST,
        &format!("{e}/deployments"),
        Some(json!({"name": "other"})),
        StatusCode::CREATED,
    )
    .await;
    let foreign = run(&api, &other, "destroy").await;
    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_done(&api, &d, &destroyed).await;
    let before = web_and_variables(&api, &d).await;
    for (operation, says) in [
        (&foreign, "is not an operation of deployment \"app\""),
        (&destroyed, "is a destroy"),
    ] {
        let (status, answer) = call(
            &api,
            Method::POST,
            &format!("{d}/rollback"),
            Some(json!({"operation": operation["id"]})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["field"], "operation", "{answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(says),
            "{says}: {answer}"
        );
    }
    assert_eq!(web_and_variables(&api, &d).await, before, "nothing changed");
    assert_eq!(history(&api, &d).await.len(), 2, "no operation stored");

    // A Dev who may not see the admin's private deployment may not roll it back either.
    let dave = api.user("dave").await;
    let members = d.split("/environments").next().unwrap().to_owned() + "/members";
    expect(
        &api,
        Method::POST,
        &members,
        Some(json!({"user": "dave", "role": "dev"})),
        StatusCode::CREATED,
    )
    .await;
    let (status, answer) = api
        .call(
            Method::POST,
            &format!("{d}/rollback"),
            Some(&dave),
            Some(json!({"operation": first["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(web_and_variables(&api, &d).await, before, "nothing changed");
    assert_eq!(history(&api, &d).await.len(), 2, "no operation stored");
    nothing_labelled(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpullable_image_fails_the_apply_naming_it_and_the_next_apply_builds_on_what_it_created()
 {
    let Some((api, engine, d)) = setup("unpullable", free_port()).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;
    set_image(&api, &d, "127.0.0.1:1/missing:1").await;
    let failed = run(&api, &d, "apply").await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("127.0.0.1:1/missing"), "{message}");
    let (networks, _) = networks_and_volumes(&engine, &id).await;
    assert_eq!(networks.len(), 1, "the failed apply's network is kept");

    // A failed apply cannot be brought back.
    let (status, answer) = call(
        &api,
        Method::POST,
        &format!("{d}/rollback"),
        Some(json!({"operation": failed["id"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is failed"),
        "{answer}"
    );

    set_image(&api, &d, docker::IMAGE).await;
    let fixed = run(&api, &d, "apply").await;
    assert_done(&api, &d, &fixed).await;
    assert_eq!(
        networks_and_volumes(&engine, &id).await.0,
        networks,
        "the next apply builds on the network the failed one created"
    );
    assert_eq!(containers(&engine, &id).await.len(), 1);

    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_done(&api, &d, &destroyed).await;
    nothing_labelled(&engine, &id).await;
    docker::remove_deployment(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_always_follows_a_tag_the_registry_moved_and_the_default_does_not() {
    let Some(registry) = registry() else {
        return;
    };
    let Some((api, engine, d)) = setup("always", free_port()).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;
    let repository = format!("{registry}/always/busybox");
    let image = format!("{repository}:1");
    tag(&engine, docker::IMAGE, &repository, "1").await;
    push(&engine, &repository, "1").await;
    let first_image = image_id(&engine, &image).await;
    set_image(&api, &d, &image).await;
    let first = run(&api, &d, "apply").await;
    assert_done(&api, &d, &first).await;
    assert_eq!(running_image(&engine, &id).await, first_image);

    // The registry's tag moves to another image; the engine's copy of the tag stays put.
    build_variant(&engine, &image, "moved in the registry").await;
    push(&engine, &repository, "1").await;
    let moved_image = image_id(&engine, &image).await;
    tag(&engine, docker::IMAGE, &repository, "1").await;
    assert_eq!(image_id(&engine, &image).await, first_image);

    // `pull: missing` (the default): the image is there, nothing is pulled or replaced.
    let plan = expect(
        &api,
        Method::GET,
        &format!("{d}/plan"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(plan["changes"], json!([]), "{plan}");
    let again = run(&api, &d, "apply").await;
    assert_done(&api, &d, &again).await;
    assert_eq!(running_image(&engine, &id).await, first_image);

    // `pull: always`: the apply pulls the moved tag and replaces the container.
    let patch = json!({"pull": "always"});
    expect(
        &api,
        Method::PATCH,
        &format!("{d}/services/web"),
        Some(patch),
        StatusCode::OK,
    )
    .await;
    let pulled = run(&api, &d, "apply").await;
    assert_done(&api, &d, &pulled).await;
    assert_eq!(
        image_id(&engine, &image).await,
        moved_image,
        "the apply pulled the tag"
    );
    assert_eq!(
        running_image(&engine, &id).await,
        moved_image,
        "the container was replaced by one of the pulled image"
    );

    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_done(&api, &d, &destroyed).await;
    nothing_labelled(&engine, &id).await;
    docker::remove_deployment(&engine, &id).await;
}
