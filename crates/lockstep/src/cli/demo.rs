//! `lockstep demo`: everything on one machine with no setup. Embedded
//! SQLite, two sandbox third parties (*Directory* and *Payroll*, mapped
//! differently), a sample tenant with 50 employees and a short grace period,
//! and a printed tour of curl lines that show a change going
//! pending → syncing → synced, and one failing.
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

    let operator_token = secret();
    let mut config = Config::load(None)?;
    config.database_url = format!("sqlite://{}", args.data_dir.join("lockstep.db").display());
    config.listen = args.listen;
    config.operator_token = Some(operator_token.clone());
    config.outbound_allow = vec!["127.0.0.0/8".parse()?, "::1/128".parse()?];
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {} (pass --listen to use another address)", args.listen))?;
    let api = format!("http://{}", listener.local_addr()?);
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
    print_tour(&api, &token, &args, directory.base_url(), &directory_token, payroll.base_url(), &payroll_token);

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
    let records: Vec<Value> = (1..=args.employees).map(employee).collect();
    post(&client, format!("{api}/v1/records/employee/batch"), &token, json!({"records": records})).await?;
    Ok(token)
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

Press Ctrl-C to stop.
"#,
        employees = args.employees,
        db = args.data_dir.join("lockstep.db").display(),
    );
}
