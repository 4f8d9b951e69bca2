//! The root component: the routes of every page.

use leptos::prelude::*;
use leptos_meta::provide_meta_context;
use leptos_router::{
    SsrMode,
    components::{ParentRoute, Route, Router, Routes},
    path,
};

use crate::{
    components::Layout,
    pages::{
        admin::{
            plugins::{PluginPage, PluginsPage},
            targets::{TargetPage, TargetsPage},
            users::{UserTokensPage, UsersPage},
        },
        audit::AuditPage,
        deployment::DeploymentPage,
        environment::EnvironmentPage,
        invitation::InvitationPage,
        members::MembersPage,
        not_found::NotFound,
        project::ProjectPage,
        projects::ProjectsPage,
        service::ServicePage,
        sign_in::SignInPage,
    },
};

/// The UI: every page, by its path. Pages render completely on the server before they are
/// sent (`SsrMode::Async`), so they work without JavaScript; the hydrate bundle then makes
/// them interactive.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/sign-in") view=SignInPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=Layout ssr=SsrMode::Async>
                    <Route path=path!("/") view=ProjectsPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:project") view=ProjectPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:project/members") view=MembersPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:project/audit") view=AuditPage ssr=SsrMode::Async/>
                    <Route path=path!("/invitations/:token") view=InvitationPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/plugins") view=PluginsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/plugins/:plugin") view=PluginPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/targets") view=TargetsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/targets/:target") view=TargetPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/users") view=UsersPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/users/:user") view=UserTokensPage ssr=SsrMode::Async/>
                    <Route
                        path=path!("/projects/:project/environments/:environment")
                        view=EnvironmentPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!(
                            "/projects/:project/environments/:environment/deployments/:deployment"
                        )
                        view=DeploymentPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!(
                            "/projects/:project/environments/:environment/deployments/:deployment/services/:service"
                        )
                        view=ServicePage
                        ssr=SsrMode::Async
                    />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
