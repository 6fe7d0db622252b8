//! Which events a caller may see: those about projects they can view. Step and log
//! events name only their deployment, so its project is looked up once and cached.

use std::collections::HashMap;

use ferry_app::error::AppError;
use ferry_app::model::EventPayload;

use super::Handles;
use crate::auth::Caller;
use crate::error::OrInternal;

pub struct Visibility {
    caller: Caller,
    project_of: HashMap<i64, i64>,
}

impl Visibility {
    pub fn new(caller: Caller) -> Self {
        Self { caller, project_of: HashMap::new() }
    }

    pub fn sees_everything(&self) -> bool {
        self.caller.sees_everything()
    }

    pub async fn allows(&mut self, s: &Handles, payload: &EventPayload) -> Result<bool, AppError> {
        // Read marks are each person's own.
        if let EventPayload::NotificationsRead { user_id, .. } = payload {
            return Ok(*user_id == self.caller.user_id);
        }
        if self.caller.sees_everything() {
            return Ok(true);
        }
        let deployment_id = match payload {
            EventPayload::Deployment(d) => {
                self.project_of.insert(d.id, d.project_id);
                return Ok(self.caller.can_view(d.project_id));
            }
            EventPayload::Step(step) => step.deployment_id,
            EventPayload::Target(target) => target.deployment_id,
            EventPayload::Log(line) => line.deployment_id,
            EventPayload::Notification(n) => match n.deployment_id {
                Some(id) => id,
                None => return Ok(true),
            },
            EventPayload::NotificationsRead { .. } => return Ok(false),
        };
        let project_id = match self.project_of.get(&deployment_id) {
            Some(p) => *p,
            None => {
                let d = s.store.deployment(deployment_id).await.or_internal("loading a deployment")?;
                let Some(d) = d else { return Ok(false) };
                self.project_of.insert(deployment_id, d.project_id);
                d.project_id
            }
        };
        Ok(self.caller.can_view(project_id))
    }
}
