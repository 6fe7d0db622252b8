//! People who have signed in, and their global role (administrators change it; a
//! project's members can have more on that project).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::{Role, UserView};
use crate::server_fns::{load_users, set_user_role};

#[component]
pub fn UsersPage() -> impl IntoView {
    let users = RwSignal::new(Vec::<UserView>::new());
    let error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    spawn_local(async move {
        match load_users().await {
            Ok(list) => users.set(list),
            Err(e) => error.set(Some(e.message)),
        }
    });
    let change = move |id: i64, role: Role| {
        spawn_local(async move {
            match set_user_role(id, role).await {
                Ok(updated) => {
                    error.set(None);
                    notice.set(Some(format!("{} is now {}", updated.login, updated.role.as_str())));
                    users.update(|list| list.iter_mut().filter(|u| u.id == id).for_each(|u| *u = updated.clone()));
                }
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    view! {
        <h1>"Users"</h1>
        <p class="muted">"Everyone who has signed in. The role applies to every project; a project's members can be given more there."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {move || notice.get().map(|n| view! { <p class="muted" role="status">{n}</p> })}
        <table class="users">
            <thead><tr><th>"Login"</th><th>"Name"</th><th>"Signs in with"</th><th>"Role"</th></tr></thead>
            <tbody>
                {move || users.get().into_iter().map(|u| {
                    let id = u.id;
                    let current = u.role;
                    view! {
                        <tr data-user=u.login.clone()>
                            <td>{u.login.clone()}</td>
                            <td>{u.name.clone()}</td>
                            <td>{u.provider.clone()}</td>
                            <td>
                                <select aria-label=format!("Role of {}", u.login)
                                    on:change=move |ev| if let Some(r) = Role::parse(&event_target_value(&ev)) { change(id, r) }>
                                    {Role::ALL.into_iter().map(|r| view! {
                                        <option value=r.as_str() selected=r == current>{r.as_str()}</option>
                                    }).collect_view()}
                                </select>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
