//! Accounts, teams and roles: validated inputs, the roles and the one permission matrix
//! every server function consults, and what the browser is told about the signed-in user.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The shortest and longest passwords accepted.
pub const PASSWORD_LENGTH: std::ops::RangeInclusive<usize> = 8..=128;
/// The longest team name.
pub const TEAM_NAME_MAX: usize = 80;
/// The longest email address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;

/// An email address as people type it: trimmed, checked for one `@` with something on
/// both sides and a dot in the domain. Compared case-insensitively by the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Email(String);

impl Email {
    /// Parses `input`, or says what is wrong with it.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let email = input.trim();
        if email.is_empty() {
            return Err("Enter your email address.");
        }
        if email.chars().count() > EMAIL_MAX {
            return Err("That email address is too long (254 characters at most).");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("An email address needs an @, like ana@example.com.");
        };
        let valid = !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid {
            return Err("That does not look like an email address, like ana@example.com.");
        }
        Ok(Email(email.to_string()))
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A team's name: trimmed, 1 to 80 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TeamName(String);

impl TeamName {
    /// Parses `input`, or says what is wrong with it.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let name = input.trim();
        if name.is_empty() {
            return Err("Give your team a name.");
        }
        if name.chars().count() > TEAM_NAME_MAX {
            return Err("Team names are 80 characters at most.");
        }
        if name.chars().any(char::is_control) {
            return Err("Team names cannot contain control characters.");
        }
        Ok(TeamName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a new password's length. The server also refuses common passwords.
pub fn check_password_length(password: &str) -> Result<(), &'static str> {
    let length = password.chars().count();
    if length < *PASSWORD_LENGTH.start() {
        Err("Use at least 8 characters.")
    } else if length > *PASSWORD_LENGTH.end() {
        Err("Use at most 128 characters.")
    } else {
        Ok(())
    }
}

/// What a member may do in a team, from most to least powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including billing, admins and deleting the team.
    Owner,
    /// Integrations, clusters, members and API keys.
    Admin,
    /// Acknowledges and resolves incidents, approves remediations.
    Operator,
    /// Reads.
    Viewer,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Operator, Role::Viewer];

    /// The name stored in the database and used in URLs and forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Operator => "Operator",
            Role::Viewer => "Viewer",
        }
    }

    /// Whether this role allows `permission`. This is the permission matrix: every
    /// server function asks it, and the interface hides what it refuses.
    pub fn can(self, permission: Permission) -> bool {
        use Permission::*;
        match permission {
            ReadTeam => true,
            RespondToIncidents | ApproveRemediations => self <= Role::Operator,
            ManageIntegrations | ManageClusters | ManageMembers | ManageApiKeys | ReadAuditLog | ExportTeamData => {
                self <= Role::Admin
            }
            ManageOwners | ManageBilling | DeleteTeam | ManageSso => self == Role::Owner,
        }
    }

    /// Whether a member with this role may give `role` (invite to it, change a member to
    /// or from it): admins give operator and viewer; only owners give admin and owner.
    pub fn gives(self, role: Role) -> bool {
        match role {
            Role::Owner | Role::Admin => self.can(Permission::ManageOwners),
            Role::Operator | Role::Viewer => self.can(Permission::ManageMembers),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|role| role.as_str() == s).ok_or("Choose owner, admin, operator or viewer.")
    }
}

/// Something a member may be allowed to do. See [`Role::can`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Permission {
    /// See the team's incidents, dashboard, members and settings.
    ReadTeam,
    /// Acknowledge, resolve and annotate incidents.
    RespondToIncidents,
    /// Approve a proposed remediation.
    ApproveRemediations,
    /// Connect and configure alert sources.
    ManageIntegrations,
    /// Add, change and remove Kubernetes clusters.
    ManageClusters,
    /// Invite, re-role and remove members (up to admin).
    ManageMembers,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// Read and export the audit log.
    ReadAuditLog,
    /// Download all of the team's data as JSON.
    ExportTeamData,
    /// Configure the team's single sign-on.
    ManageSso,
    /// Make or unmake owners and admins.
    ManageOwners,
    /// Change the plan and payment details.
    ManageBilling,
    /// Delete the team.
    DeleteTeam,
}

/// Where signing in with a password stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum SignInStep {
    /// Signed in.
    SignedIn,
    /// The password was right; a code from the authenticator app (or a recovery code)
    /// is still to come.
    CodeNeeded,
}

/// What enrolling in two-factor sign-in shows: the secret as a QR code for the
/// authenticator app, and as text for typing in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TwoFactorSetup {
    /// The secret in base32.
    pub secret: String,
    /// The `otpauth://` address the QR code holds.
    pub otpauth_url: String,
    /// The QR code, as SVG drawn by the server.
    pub qr_svg: String,
}

/// A team as its members see it in lists and the team switcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TeamMembership {
    /// The team.
    pub team_id: Uuid,
    /// Its name.
    pub team_name: String,
    /// The signed-in user's role in it.
    pub role: Role,
}

/// The signed-in user, the team they are working in, and the other teams they can
/// switch to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Viewer {
    /// The user.
    pub user_id: Uuid,
    /// Their email address.
    pub email: String,
    /// Whether a link mailed to it was used (until then: no invitations to accept, no
    /// notifications, no upgrade).
    pub email_verified: bool,
    /// Whether they sign in with a second factor.
    pub two_factor: bool,
    /// The active team requires a second factor they have not set up: until they do,
    /// only their account page works.
    pub two_factor_required: bool,
    /// The active team and the role in it; none when they belong to no team (they may
    /// create one, or accept an invitation).
    pub team: Option<TeamMembership>,
    /// Every team the user belongs to, the active one included, by name.
    pub teams: Vec<TeamMembership>,
}

impl Viewer {
    /// Whether the user's role in the active team allows `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        self.team.as_ref().is_some_and(|team| team.role.can(permission))
    }

    /// The active team's name (empty without one).
    pub fn team_name(&self) -> &str {
        self.team.as_ref().map_or("", |team| team.team_name.as_str())
    }
}

/// A member of a team, as the members page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Member {
    /// The user.
    pub user_id: Uuid,
    /// Their email address.
    pub email: String,
    /// Their role in this team.
    pub role: Role,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
}

/// An invitation that has not been accepted, revoked or let expire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PendingInvitation {
    /// The invitation.
    pub id: Uuid,
    /// Who it is for.
    pub email: String,
    /// The role it grants.
    pub role: Role,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A newly created invitation: the link is shown to the admin once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedInvitation {
    /// The invitation.
    pub invitation: PendingInvitation,
    /// The path of the single-use link (`/invitations/<token>`).
    pub link: String,
}

/// What the invitation page shows before the invitee accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InvitationPreview {
    /// The team to join.
    pub team_name: String,
    /// Who it is for.
    pub email: String,
    /// The role it grants.
    pub role: Role,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// An API key as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiKeySummary {
    /// The key.
    pub id: Uuid,
    /// The name given when it was created.
    pub name: String,
    /// The visible start of the key, to recognise it by.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// What it may do.
    pub scopes: Vec<ApiScope>,
}

/// What an API key may do. Each scope is a set of [`Permission`]s ([`ApiScope::grants`]);
/// every scope but `alerts` includes reading the team's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    /// Send alerts (`POST /api/v1/alerts`): what keys were first made for.
    Alerts,
    /// Read incidents, analyses, actions, the dashboard, clusters and usage.
    Read,
    /// Acknowledge, resolve, reopen and annotate incidents; give feedback on analyses.
    Respond,
    /// Approve proposed remediations.
    Approve,
    /// Read the audit log, list alert sources, send test alerts.
    Admin,
}

impl ApiScope {
    /// Every scope, in the order the key form lists them.
    pub const ALL: [ApiScope; 5] =
        [ApiScope::Alerts, ApiScope::Read, ApiScope::Respond, ApiScope::Approve, ApiScope::Admin];

    /// The name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Alerts => "alerts",
            ApiScope::Read => "read",
            ApiScope::Respond => "respond",
            ApiScope::Approve => "approve",
            ApiScope::Admin => "admin",
        }
    }

    /// What it allows, in a few words for the key form.
    pub fn description(self) -> &'static str {
        match self {
            ApiScope::Alerts => "send alerts",
            ApiScope::Read => "read incidents, figures and settings",
            ApiScope::Respond => "acknowledge, resolve and annotate incidents",
            ApiScope::Approve => "approve remediations",
            ApiScope::Admin => "audit log, alert sources and test alerts",
        }
    }

    /// Whether a key with `scopes` holds `permission`. A key never manages members,
    /// keys, billing, single sign-on or the team itself: those stay with people.
    pub fn grants(scopes: &[ApiScope], permission: Permission) -> bool {
        use Permission::*;
        let has = |scope| scopes.contains(&scope);
        match permission {
            ReadTeam => scopes.iter().any(|scope| *scope != ApiScope::Alerts),
            RespondToIncidents => has(ApiScope::Respond),
            ApproveRemediations => has(ApiScope::Approve),
            ManageIntegrations | ManageClusters | ReadAuditLog => has(ApiScope::Admin),
            ManageMembers | ManageApiKeys | ExportTeamData | ManageSso | ManageOwners | ManageBilling | DeleteTeam => {
                false
            }
        }
    }
}

impl fmt::Display for ApiScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApiScope {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or("Choose alerts, read, respond, approve or admin.")
    }
}

/// A newly created API key: the only time its secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    /// The key as listed from now on.
    pub key: ApiKeySummary,
    /// The whole key, to copy now.
    pub secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_grant_only_their_permissions_and_never_a_persons() {
        use Permission::*;
        let people_only =
            [ManageMembers, ManageApiKeys, ExportTeamData, ManageSso, ManageOwners, ManageBilling, DeleteTeam];
        for permission in people_only {
            assert!(!ApiScope::grants(&ApiScope::ALL, permission), "{permission:?}");
        }
        assert!(!ApiScope::grants(&[ApiScope::Alerts], ReadTeam));
        for scope in [ApiScope::Read, ApiScope::Respond, ApiScope::Approve, ApiScope::Admin] {
            assert!(ApiScope::grants(&[scope], ReadTeam), "{scope} reads");
        }
        assert!(ApiScope::grants(&[ApiScope::Respond], RespondToIncidents));
        assert!(!ApiScope::grants(&[ApiScope::Respond], ApproveRemediations));
        assert!(ApiScope::grants(&[ApiScope::Approve], ApproveRemediations));
        assert!(!ApiScope::grants(&[ApiScope::Read, ApiScope::Respond, ApiScope::Approve], ReadAuditLog));
        assert!(ApiScope::grants(&[ApiScope::Admin], ReadAuditLog));
        for scope in ApiScope::ALL {
            assert_eq!(scope.as_str().parse::<ApiScope>(), Ok(scope));
        }
    }

    #[test]
    fn emails_are_trimmed_and_checked() {
        assert_eq!(Email::parse("  Ana@Example.com ").unwrap().as_str(), "Ana@Example.com");
        for bad in ["", "   ", "ana", "ana@", "@example.com", "ana@example", "ana@@example.com", "a na@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn team_names_are_trimmed_and_bounded() {
        assert_eq!(TeamName::parse("  Payments  ").unwrap().as_str(), "Payments");
        assert!(TeamName::parse(" ").is_err());
        assert!(TeamName::parse(&"x".repeat(81)).is_err());
        assert!(TeamName::parse(&"x".repeat(80)).is_ok());
    }

    #[test]
    fn password_length_is_8_to_128_characters() {
        assert!(check_password_length("1234567").is_err());
        assert!(check_password_length("12345678").is_ok());
        assert!(check_password_length(&"é".repeat(128)).is_ok());
        assert!(check_password_length(&"x".repeat(129)).is_err());
    }

    #[test]
    fn the_permission_matrix() {
        use Permission::*;
        let expected: [(Permission, [bool; 4]); 11] = [
            // owner, admin, operator, viewer
            (ReadTeam, [true, true, true, true]),
            (RespondToIncidents, [true, true, true, false]),
            (ApproveRemediations, [true, true, true, false]),
            (ManageIntegrations, [true, true, false, false]),
            (ManageClusters, [true, true, false, false]),
            (ManageMembers, [true, true, false, false]),
            (ManageApiKeys, [true, true, false, false]),
            (ReadAuditLog, [true, true, false, false]),
            (ManageOwners, [true, false, false, false]),
            (ManageBilling, [true, false, false, false]),
            (DeleteTeam, [true, false, false, false]),
        ];
        for (permission, allowed) in expected {
            for (role, allowed) in Role::ALL.into_iter().zip(allowed) {
                assert_eq!(role.can(permission), allowed, "{role} / {permission:?}");
            }
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("superuser".parse::<Role>().is_err());
    }
}

/// What deleting the signed-in user's account takes with it, shown before they confirm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDeletion {
    /// The teams they alone own: deleted with the account, with all their data.
    pub deleted_teams: Vec<TeamToDelete>,
    /// The teams they leave (another owner stays).
    pub left_teams: Vec<String>,
}

/// A team deleted with its only owner's account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamToDelete {
    /// Its name.
    pub name: String,
    /// How many other members lose it.
    pub other_members: i64,
}

/// Which mails a member gets about their team's incidents (only once their address is
/// confirmed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationPreferences {
    /// New incidents at this severity or worse; none when `None`.
    pub new_incident_severity: Option<crate::domain::incident::Severity>,
    /// An action the agent proposes waits for an operator's approval.
    pub awaiting_approval: bool,
    /// An incident was resolved.
    pub resolved: bool,
    /// A summary of the week, on Mondays.
    pub weekly_digest: bool,
}

/// A team's single sign-on, as its owners see it (never the client secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoSettings {
    /// The OpenID provider's issuer URL.
    pub issuer: String,
    /// The client id DreamOps has at the provider.
    pub client_id: String,
    /// The email domains it signs in.
    pub allowed_domains: Vec<String>,
    /// The role of people it brings into the team.
    pub default_role: Role,
    /// Where the provider sends people back (to register at the provider).
    pub redirect_uri: String,
}

/// A team's single-sign-on page: whether the plan allows it, and the settings if saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoPage {
    /// Single sign-on is for Enterprise teams.
    pub available: bool,
    /// Where the provider sends people back (to register at the provider).
    pub redirect_uri: String,
    /// The saved settings, if any.
    pub settings: Option<SsoSettings>,
}
