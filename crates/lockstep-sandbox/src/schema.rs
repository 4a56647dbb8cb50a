//! The User schema the sandbox serves: the RFC 7643 §4.1 core User and the
//! §4.3 enterprise extension, as one static table of [`AttrDef`]s.
//!
//! The same table is published at `/Schemas` (so a checker builds its model of
//! the server from it) and drives every write through [`super::validate`]:
//! incoming attribute names are matched case-insensitively and rewritten to
//! their canonical spelling, values are checked against the declared type, and
//! unknown attributes are refused. Keeping one source means what we advertise
//! is exactly what we accept.

use serde_json::{json, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The data type of an attribute (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    Binary,
    Reference,
    Complex,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::Binary => "binary",
            Kind::Reference => "reference",
            Kind::Complex => "complex",
        }
    }
}

/// One attribute (or sub-attribute) definition.
#[derive(Debug, Clone, Copy)]
pub struct AttrDef {
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: &'static str,
    pub returned: &'static str,
    pub uniqueness: &'static str,
    pub reference_types: &'static [&'static str],
    pub sub: &'static [AttrDef],
    pub description: &'static str,
}

const fn attr(name: &'static str, kind: Kind, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        reference_types: &[],
        sub: &[],
        description,
    }
}

const fn string(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, Kind::String, description)
}

const fn reference(name: &'static str, types: &'static [&'static str], description: &'static str) -> AttrDef {
    AttrDef { reference_types: types, case_exact: true, ..attr(name, Kind::Reference, description) }
}

const fn complex(name: &'static str, sub: &'static [AttrDef], description: &'static str) -> AttrDef {
    AttrDef { sub, ..attr(name, Kind::Complex, description) }
}

const fn multi(name: &'static str, sub: &'static [AttrDef], description: &'static str) -> AttrDef {
    AttrDef { multi: true, ..complex(name, sub, description) }
}

const fn read_only(def: AttrDef) -> AttrDef {
    AttrDef { mutability: "readOnly", ..def }
}

/// The `value`/`display`/`type`/`primary` shape shared by most multi-valued attributes.
const fn plural(value: AttrDef) -> [AttrDef; 4] {
    [
        value,
        string("display", "A human-readable name, primarily used for display purposes."),
        string("type", "A label indicating the attribute's function, e.g. 'work' or 'home'."),
        attr("primary", Kind::Boolean, "Whether this value is the preferred one."),
    ]
}

const EMAIL: [AttrDef; 4] = plural(string("value", "Email address for the User."));
const PHONE: [AttrDef; 4] = plural(string("value", "Phone number of the User."));
const IM: [AttrDef; 4] = plural(string("value", "Instant messaging address for the User."));
const PHOTO: [AttrDef; 4] = plural(reference("value", &["external"], "URL of a photo of the User."));
const ENTITLEMENT: [AttrDef; 4] = plural(string("value", "The value of an entitlement."));
const ROLE: [AttrDef; 4] = plural(string("value", "The value of a role."));
const CERTIFICATE: [AttrDef; 4] =
    plural(AttrDef { case_exact: true, ..attr("value", Kind::Binary, "The value of an X.509 certificate.") });

const NAME: [AttrDef; 6] = [
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name of the User."),
    string("givenName", "The given name of the User."),
    string("middleName", "The middle name(s) of the User."),
    string("honorificPrefix", "The honorific prefix(es) of the User."),
    string("honorificSuffix", "The honorific suffix(es) of the User."),
];

const ADDRESS: [AttrDef; 8] = [
    string("formatted", "The full mailing address, formatted for display."),
    string("streetAddress", "The full street address component."),
    string("locality", "The city or locality component."),
    string("region", "The state or region component."),
    string("postalCode", "The zip code or postal code component."),
    string("country", "The country name component."),
    string("type", "A label indicating the address's function, e.g. 'work' or 'home'."),
    attr("primary", Kind::Boolean, "Whether this address is the preferred one."),
];

const GROUP: [AttrDef; 4] = [
    read_only(string("value", "The identifier of the User's group.")),
    read_only(reference("$ref", &["User", "Group"], "The URI of the group.")),
    read_only(string("display", "A human-readable name of the group.")),
    read_only(string("type", "How the membership was derived: 'direct' or 'indirect'.")),
];

/// The core User attributes (RFC 7643 §4.1), without the common `id`,
/// `externalId` and `meta`.
pub const USER_ATTRIBUTES: &[AttrDef] = &[
    AttrDef {
        required: true,
        uniqueness: "server",
        ..string("userName", "Unique identifier for the User, used to sign in. REQUIRED.")
    },
    complex("name", &NAME, "The components of the user's real name."),
    string("displayName", "The name of the User, suitable for display to end-users."),
    string("nickName", "The casual way to address the user."),
    reference("profileUrl", &["external"], "A fully qualified URL pointing to the User's online profile."),
    string("title", "The user's title, such as \"Vice President\"."),
    string("userType", "The relationship between the organization and the user."),
    string("preferredLanguage", "The User's preferred written or spoken language."),
    string("locale", "The User's default location for localization."),
    string("timezone", "The User's time zone in the 'Olson' format."),
    attr("active", Kind::Boolean, "The User's administrative status."),
    AttrDef {
        case_exact: true,
        mutability: "writeOnly",
        returned: "never",
        ..string("password", "The User's cleartext password.")
    },
    multi("emails", &EMAIL, "Email addresses for the user."),
    multi("phoneNumbers", &PHONE, "Phone numbers for the User."),
    multi("ims", &IM, "Instant messaging addresses for the User."),
    multi("photos", &PHOTO, "URLs of photos of the User."),
    multi("addresses", &ADDRESS, "A physical mailing address for this User."),
    read_only(multi("groups", &GROUP, "The groups the user belongs to.")),
    multi("entitlements", &ENTITLEMENT, "Entitlements of the User."),
    multi("roles", &ROLE, "Roles of the User."),
    multi("x509Certificates", &CERTIFICATE, "X.509 certificates issued to the User."),
];

const MANAGER: [AttrDef; 3] = [
    string("value", "The id of the SCIM resource representing the User's manager."),
    reference("$ref", &["User"], "The URI of the SCIM resource representing the User's manager."),
    read_only(string("displayName", "The displayName of the User's manager.")),
];

/// The enterprise extension attributes (RFC 7643 §4.3).
pub const ENTERPRISE_ATTRIBUTES: &[AttrDef] = &[
    string("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
    string("costCenter", "Identifies the name of a cost center."),
    string("organization", "Identifies the name of an organization."),
    string("division", "Identifies the name of a division."),
    string("department", "Identifies the name of a department."),
    complex("manager", &MANAGER, "The User's manager."),
];

/// Attributes common to every resource (RFC 7643 §3.1); not published in the
/// User schema but known to filters and projections.
pub const COMMON_ATTRIBUTES: &[AttrDef] = &[
    AttrDef { case_exact: true, ..read_only(string("id", "Identifier assigned by the service provider.")) },
    AttrDef { case_exact: true, ..string("externalId", "Identifier assigned by the provisioning client.") },
    read_only(complex("meta", &[], "Resource metadata.")),
];

/// The attribute table of a schema URN (`None` = the core User).
pub fn attributes_of(urn: Option<&str>) -> Option<&'static [AttrDef]> {
    match urn {
        None => Some(USER_ATTRIBUTES),
        Some(urn) if urn.eq_ignore_ascii_case(USER_SCHEMA) => Some(USER_ATTRIBUTES),
        Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) => Some(ENTERPRISE_ATTRIBUTES),
        Some(_) => None,
    }
}

/// The definition of `name` under `urn` (core attributes include the common ones).
pub fn find(urn: Option<&str>, name: &str) -> Option<&'static AttrDef> {
    let own = attributes_of(urn)?.iter().find(|d| d.name.eq_ignore_ascii_case(name));
    let is_core = urn.is_none_or(|u| u.eq_ignore_ascii_case(USER_SCHEMA));
    own.or_else(|| is_core.then(|| COMMON_ATTRIBUTES.iter().find(|d| d.name.eq_ignore_ascii_case(name))).flatten())
}

/// The definition of sub-attribute `name` of `parent`.
pub fn find_sub(parent: &AttrDef, name: &str) -> Option<&'static AttrDef> {
    parent.sub.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Whether string comparisons on this attribute path are case-sensitive.
pub fn is_case_exact(urn: Option<&str>, attr: &str, sub: Option<&str>) -> bool {
    match (find(urn, attr), sub) {
        (Some(def), None) => def.case_exact,
        (Some(def), Some(sub)) => find_sub(def, sub).is_some_and(|d| d.case_exact),
        (None, _) => false,
    }
}

/// The canonical spelling of a known schema URN.
pub fn canonical_urn(urn: &str) -> Option<&'static str> {
    [USER_SCHEMA, ENTERPRISE_SCHEMA].into_iter().find(|known| known.eq_ignore_ascii_case(urn))
}

/// A schema attribute definition as published at `/Schemas` (RFC 7643 §7).
pub fn attribute_json(def: &AttrDef) -> Value {
    let mut out = json!({
        "name": def.name,
        "type": def.kind.as_str(),
        "multiValued": def.multi,
        "description": def.description,
        "required": def.required,
        "caseExact": def.case_exact,
        "mutability": def.mutability,
        "returned": def.returned,
        "uniqueness": def.uniqueness,
    });
    if let Some(map) = out.as_object_mut() {
        if def.kind == Kind::Reference {
            map.insert("referenceTypes".into(), json!(def.reference_types));
        }
        if def.kind == Kind::Complex {
            let sub: Vec<Value> = def.sub.iter().map(attribute_json).collect();
            map.insert("subAttributes".into(), Value::Array(sub));
        }
    }
    out
}
