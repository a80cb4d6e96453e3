//! `flowctl brokers …`: shared input topics and the pipelines that read each.

use crate::api;
use crate::cli::{BrokerCommand, Format};
use crate::client::{Client, Failure};
use crate::output::{self, table};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

/// What flowctl prints of a broker.
#[derive(Debug, Deserialize)]
struct Broker {
    name: String,
    topic: String,
    pipelines: Vec<String>,
    description: String,
}

/// `GET /api/v1/brokers`.
#[derive(Debug, Deserialize)]
struct BrokerList {
    items: Vec<Value>,
}

/// Runs one `brokers` command.
pub async fn run(client: &Client, format: Format, command: BrokerCommand) -> Result<(), Failure> {
    match command {
        BrokerCommand::List => {
            let body = client.get("/api/v1/brokers").await?.body;
            if output::structured(format, &body)? {
                return Ok(());
            }
            let list: BrokerList = api::read("broker list", body)?;
            let rows = list
                .items
                .into_iter()
                .map(|b| {
                    let b: Broker = api::read("broker", b)?;
                    Ok(vec![b.name, b.topic, b.pipelines.join(","), b.description])
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            print!(
                "{}",
                table(&["NAME", "TOPIC", "PIPELINES", "DESCRIPTION"], &rows)
            );
            Ok(())
        }
        BrokerCommand::Get { broker } => {
            let body = client.get(&format!("/api/v1/brokers/{broker}")).await?.body;
            if !output::structured(format, &body)? {
                output::structured(Format::Yaml, &body)?;
            }
            Ok(())
        }
        BrokerCommand::Create {
            broker,
            partitions,
            replication_factor,
            min_insync_replicas,
            retention_ms,
            description,
        } => {
            let mut body = json!({"name": broker, "description": description.unwrap_or_default()});
            // Only what was given: the server applies its defaults and checks the rest.
            let topics: serde_json::Map<String, Value> = [
                ("partitions", partitions.map(i64::from)),
                ("replicationFactor", replication_factor.map(i64::from)),
                ("minInsyncReplicas", min_insync_replicas.map(i64::from)),
                ("retentionMs", retention_ms),
            ]
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_owned(), json!(value?))))
            .collect();
            if !topics.is_empty() {
                body["topics"] = Value::Object(topics);
            }
            let created = client.post("/api/v1/brokers", &body).await?.body;
            if !output::structured(format, &created)? {
                let b: Broker = api::read("broker", created)?;
                println!("created broker {} (topic {})", b.name, b.topic);
            }
            Ok(())
        }
        BrokerCommand::Delete { broker } => {
            let path = format!("/api/v1/brokers/{broker}");
            client.send(Method::DELETE, &path, None, None).await?;
            if !output::structured(format, &json!({"deleted": broker}))? {
                println!("deleted broker {broker}");
            }
            Ok(())
        }
    }
}
