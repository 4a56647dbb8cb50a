//! `lockstep demo`: everything on one machine with no setup. Embedded
//! SQLite, two sandbox third parties (*Directory* and *Payroll*, mapped
//! differently), a sample tenant with 50 employees and a short grace period,
//! a local SMTP sink that writes notification emails to files, and a
//! printed tour of curl lines that show a change going
//! pending → syncing → synced, one failing, and a Sync Overview, a Sync Now
//! and their notifications.
//!
//! Once the first sync has put every employee in Directory, the demo edits
//! a few users there behind Lockstep's back and adds two users that are not
//! Lockstep's, so the tour's Sync Overview has something to show.
//!
//! The demo seeds itself through its own HTTP API, so what it shows is what
//! a platform team's code would do.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use rand::Rng;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::App;
use lockstep_sandbox::{FaultSettings, RejectRule, Sandbox, SandboxHandle, SandboxOptions};

/// Options of `lockstep demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the demo keeps its SQLite database; emptied at every start.
    #[arg(long, default_value = "lockstep-demo")]
    pub data_dir: PathBuf,
    /// The integrations' grace period, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub grace_seconds: f64,
    /// How many employees to seed.
    #[arg(long, default_value_t = 50)]
    pub employees: usize,
}

/// The title Payroll refuses, to show a failing sync.
const REFUSED_TITLE: &str = "Unpaid Intern";

fn secret() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

async fn sandbox(name: &str, token: &str, reject: Vec<RejectRule>) -> anyhow::Result<SandboxHandle> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let options = SandboxOptions {
        name: name.to_owned(),
        bearer_token: Some(token.to_owned()),
        faults: FaultSettings { reject, ..FaultSettings::default() },
    };
    Ok(Sandbox::start(listener, options).await)
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(&args.data_dir);
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;

    let (directory_token, payroll_token) = (secret(), secret());
    let directory = sandbox("Directory", &directory_token, Vec::new()).await?;
    let payroll = sandbox("Payroll", &payroll_token, vec![RejectRule::new("title", REFUSED_TITLE)]).await?;

    let mail = super::smtp_sink::start(args.data_dir.join("mail")).await?;
    let operator_token = secret();
    let mut config = Config::load(None)?;
    config.database_url = format!("sqlite://{}", args.data_dir.join("lockstep.db").display());
    config.listen = args.listen;
    config.operator_token = Some(operator_token.clone());
    config.outbound_allow = vec!["127.0.0.0/8".parse()?, "::1/128".parse()?];
    config.smtp_url = Some(mail.url.clone());
    // The printed console link should still work after the reader has
    // scrolled through the tour: an hour instead of five minutes.
    config.console.link_seconds = 3600;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {} (pass --listen to use another address)", args.listen))?;
    let api = format!("http://{}", listener.local_addr()?);
    config.public_url = api.clone();
    let app = App::build(config).await?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(listener, shutdown.clone()));

    let token = seed(
        &api,
        &operator_token,
        &args,
        (directory.base_url(), &directory_token),
        (payroll.base_url(), &payroll_token),
    )
    .await?;
    drift(&directory, &directory_token, args.employees).await?;
    let console = post(&reqwest::Client::new(), format!("{api}/v1/console/sessions"), &token, json!({})).await?;
    let console_url = console["url"].as_str().unwrap_or_default().to_owned();
    print_tour(&api, &token, &args, directory.base_url(), &directory_token, payroll.base_url(), &payroll_token);
    println!(
        "Admin console: open this link in a browser (it signs in once; for another, run\n  \
         curl -s -X POST $LOCKSTEP/v1/console/sessions -H \"Authorization: Bearer $TOKEN\"):\n\n  {console_url}\n"
    );
    println!("Notification emails go to {} (SMTP sink at {}).\n", mail.dir.display(), mail.url);

    super::serve::stop_on_signal(shutdown.clone()).await;
    server.await??;
    directory.shutdown().await;
    payroll.shutdown().await;
    Ok(())
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> anyhow::Result<Value> {
    let response = client.post(&url).bearer_auth(token).json(&body).send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "seeding {url} failed: {status} {body}");
    Ok(body)
}

/// Creates the tenant, both integrations and the employees; answers the admin token.
async fn seed(
    api: &str,
    operator_token: &str,
    args: &DemoArgs,
    directory: (&str, &str),
    payroll: (&str, &str),
) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let tenant = post(
        &client,
        format!("{api}/v1/tenants"),
        operator_token,
        json!({
            "name": "Acme Corp",
            "admin": {"email": "admin@acme.example", "name": "Avery Admin"}
        }),
    )
    .await?;
    let token = tenant["token"].as_str().context("the tenant answer has a token")?.to_owned();
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    post(
        &client,
        format!("{api}/v1/integrations"),
        &token,
        json!({
            "name": "Directory",
            "record_type": "employee",
            "connector": {"kind": "scim", "base_url": directory.0, "bearer_token": directory.1},
            "field_mapping": {
                "email": "userName",
                "first_name": "name.givenName",
                "last_name": "name.familyName",
                "work_phone": "phoneNumbers[type eq \"work\"].value",
                "department": format!("{enterprise}:department")
            },
            "grace_period_seconds": args.grace_seconds
        }),
    )
    .await?;
    post(
        &client,
        format!("{api}/v1/integrations"),
        &token,
        json!({
            "name": "Payroll",
            "record_type": "employee",
            "connector": {"kind": "scim", "base_url": payroll.0, "bearer_token": payroll.1},
            "field_mapping": {
                "email": "userName",
                "title": "title",
                "employee_number": format!("{enterprise}:employeeNumber"),
                "cost_center": format!("{enterprise}:costCenter")
            },
            "eligibility": [{"field": "employment_type", "op": "eq", "value": "employee"}],
            "grace_period_seconds": args.grace_seconds
        }),
    )
    .await?;
    let mut records: Vec<Value> = (1..=args.employees).map(employee).collect();
    // One employee without an email: no directory can make a user of it,
    // which its sync state and the Sync Overview both say.
    records.push(
        json!({"id": "e900", "fields": {"first_name": "Nemo", "last_name": "Nomail", "employment_type": "contractor"}}),
    );
    post(&client, format!("{api}/v1/records/employee/batch"), &token, json!({"records": records})).await?;
    // Every Overview and Sync Now of the tour goes to the background at
    // once, so its notification (and, unseen for 30 s, its email) shows.
    let response = client
        .patch(format!("{api}/v1/settings"))
        .bearer_auth(&token)
        .json(&json!({"background_after_seconds": 0, "email_delay_seconds": 30}))
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "setting the demo tenant's settings failed: {}", response.status());
    Ok(token)
}

/// Waits for the first sync to put the employees in Directory, then edits
/// three of them there and adds two users Lockstep does not manage: what
/// someone working in the directory itself would do.
async fn drift(directory: &SandboxHandle, token: &str, employees: usize) -> anyhow::Result<()> {
    println!("Waiting for the first sync of {employees} employees to Directory…");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while directory.user_count() < employees {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the first sync to Directory did not finish in 2 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let client = reqwest::Client::new();
    let users = directory.users();
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    for external_id in ["e003", "e004", "e005"] {
        let Some(id) = users.iter().find(|u| u["externalId"] == external_id).and_then(|u| u["id"].as_str()) else {
            continue;
        };
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": format!("{enterprise}:department"), "value": "Moved by hand"}]
        });
        let response = client
            .patch(format!("{}/Users/{id}", directory.base_url()))
            .bearer_auth(token)
            .header("Content-Type", "application/scim+json")
            .body(patch.to_string())
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "editing {external_id} in Directory: {}", response.status());
    }
    for name in ["it-helpdesk", "room-booking"] {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("{name}@acme.example"),
            "active": true
        });
        let response = client
            .post(format!("{}/Users", directory.base_url()))
            .bearer_auth(token)
            .header("Content-Type", "application/scim+json")
            .body(user.to_string())
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "adding {name} to Directory: {}", response.status());
    }
    Ok(())
}

/// A deterministic sample employee.
fn employee(n: usize) -> Value {
    const FIRST: [&str; 10] =
        ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken"];
    const LAST: [&str; 10] =
        ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Hamilton", "Thompson"];
    const DEPARTMENTS: [&str; 4] = ["Engineering", "Finance", "People", "Sales"];
    const TITLES: [&str; 4] = ["Engineer", "Analyst", "Manager", "Account Executive"];
    let (first, last) = (FIRST[n % 10], LAST[(n / 10) % 10]);
    json!({
        "id": format!("e{n:03}"),
        "fields": {
            "email": format!("{}.{}{n}@acme.example", first.to_lowercase(), last.to_lowercase()),
            "first_name": first,
            "last_name": last,
            "work_phone": format!("+31 20 555 {n:04}"),
            "department": DEPARTMENTS[n % 4],
            "title": TITLES[n % 4],
            "employee_number": format!("{:05}", 10_000 + n),
            "cost_center": format!("CC-{}", 100 + n % 7),
            "employment_type": if n.is_multiple_of(10) { "contractor" } else { "employee" },
            "salary": 50_000 + 1_000 * (n % 30)
        }
    })
}

fn print_tour(
    api: &str,
    token: &str,
    args: &DemoArgs,
    directory: &str,
    directory_token: &str,
    payroll: &str,
    payroll_token: &str,
) {
    let grace = args.grace_seconds;
    println!(
        r#"
Lockstep demo is running.

  API           {api}   (OpenAPI: {api}/openapi.json, metrics: {api}/metrics)
  Admin token   {token}
  Tenant        Acme Corp, {employees} employees (e001 … e{employees:03})
  Directory     {directory}   (SCIM; token {directory_token})
  Payroll       {payroll}   (SCIM; token {payroll_token}; contractors are not eligible;
                refuses the title "{REFUSED_TITLE}")
  Database      {db}  (SQLite; emptied at every start)

Every employee is "sync_pending" now and syncs {grace} s after it was written.
Try it (copy the lines into a shell):

  export LOCKSTEP={api} TOKEN={token}

  # An employee and its sync state per integration, the badge, and which
  # integrations sync each field:
  curl -s $LOCKSTEP/v1/records/employee/e001 -H "Authorization: Bearer $TOKEN"

  # A change to a field only Directory maps: Directory goes sync_pending (with
  # the time it will start), Payroll stays synced. Watch it go syncing, then synced:
  curl -s -X PATCH $LOCKSTEP/v1/records/employee/e001 -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/merge-patch+json' -d '{{"department": "Research"}}'
  watch -n1 "curl -s $LOCKSTEP/v1/records/employee/e001 -H 'Authorization: Bearer $TOKEN' | grep -o '\"status\":\"[a-z_]*\"'"

  # An unmapped change (salary) touches no integration:
  curl -s -X PATCH $LOCKSTEP/v1/records/employee/e001 -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/merge-patch+json' -d '{{"salary": 99000}}'

  # A value Payroll refuses: after the grace period Payroll shows sync_failed
  # with its error on the title field; fix the title and it syncs again:
  curl -s -X PATCH $LOCKSTEP/v1/records/employee/e002 -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/merge-patch+json' -d '{{"title": "{REFUSED_TITLE}"}}'

  # What the third party holds:
  curl -s "{directory}/Users?filter=externalId%20eq%20%22e001%22" -H "Authorization: Bearer {directory_token}"

  # Someone edited e003–e005 in Directory by hand and added two users of its
  # own. A Sync Overview previews what a full sync would change there
  # (creates, updates attribute by attribute, deactivations, errors). This
  # tenant sends every overview to the background (background_after_seconds
  # is 0), so the answer is 202 and a notification follows:
  DIRECTORY=$(curl -s $LOCKSTEP/v1/integrations -H "Authorization: Bearer $TOKEN" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
  OVERVIEW=$(curl -s -X POST $LOCKSTEP/v1/integrations/$DIRECTORY/overviews -H "Authorization: Bearer $TOKEN" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
  curl -s $LOCKSTEP/v1/overviews/$OVERVIEW -H "Authorization: Bearer $TOKEN"
  curl -s "$LOCKSTEP/v1/overviews/$OVERVIEW/changes?action=update" -H "Authorization: Bearer $TOKEN"

  # Your notifications (newest first, with the unseen count). Leave the
  # overview's unseen for 30 s and it is emailed too (see the mail folder below):
  curl -s $LOCKSTEP/v1/notifications -H "Authorization: Bearer $TOKEN"

  # Sync Now applies exactly that overview's changes (409 once a newer
  # overview superseded it), then its Sync Log lists every operation:
  RUN=$(curl -s -X POST $LOCKSTEP/v1/integrations/$DIRECTORY/sync-runs -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/json' -d "{{\"overview_id\": $OVERVIEW}}" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
  curl -s $LOCKSTEP/v1/sync-runs/$RUN -H "Authorization: Bearer $TOKEN"
  curl -s "$LOCKSTEP/v1/sync-runs/$RUN/log" -H "Authorization: Bearer $TOKEN"

  # The tenant's settings: channels, email delay, background threshold, validity:
  curl -s $LOCKSTEP/v1/settings -H "Authorization: Bearer $TOKEN"

Press Ctrl-C to stop.
"#,
        employees = args.employees,
        db = args.data_dir.join("lockstep.db").display(),
    );
}
