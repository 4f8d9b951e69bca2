//! Accepting an invitation link while signed in.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    api::members::AcceptInvitation,
    components::{Csrf, FormError, action_error},
};

/// The page an invitation link opens: accepting it makes the signed-in user a member.
#[component]
pub fn InvitationPage() -> impl IntoView {
    let params = use_params_map();
    let accept = ServerAction::<AcceptInvitation>::new();
    let error = action_error(accept);
    let token = move || params.read().get("token").unwrap_or_default();
    view! {
        <Title text="Invitation · Komander"/>
        <h1>"You are invited to a project"</h1>
        <p>"Accept to become a member, with the role the link grants."</p>
        <ActionForm action=accept>
            <Csrf/>
            <input type="hidden" name="token" value=token/>
            <FormError error=error/>
            <button type="submit" id="accept-invitation">"Accept the invitation"</button>
        </ActionForm>
    }
}
