//! Index templates against the real OpenSearch node: installed at create, claiming exactly the
//! pipeline's indices, replaced on PUT (new dated indices take the new mapping, old ones keep
//! theirs), removed on DELETE (indices kept), reconciled at start-up; documents the worker writes
//! get the derived types, and a type conflict still dead-letters.

use crate::helpers::{assert_header, spawn_app, spawn_app_with, Options, TestApp};
use crate::replay::{ingest, wait_errors, Worker};
use flow_loadgen::gen::{Generator, Timestamps};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What OpenSearch answers at `path`: status and JSON body (read with a plain HTTP client).
async fn search(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, format!("{}/{path}", app.opensearch));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn template_name(app: &TestApp, pipeline: &str) -> String {
    format!("flow.{}.{pipeline}", app.prefix.to_lowercase())
}

/// The installed template of `pipeline`, or `None` when OpenSearch has none.
async fn template(app: &TestApp, pipeline: &str) -> Option<Value> {
    let path = format!("_index_template/{}", template_name(app, pipeline));
    match search(app, Method::GET, &path, None).await {
        (200, body) => Some(body["index_templates"][0]["index_template"].clone()),
        (404, _) => None,
        (status, body) => panic!("template lookup answered {status}: {body}"),
    }
}

/// The `_meta.pipeline` of the template OpenSearch would apply to a new index `index`.
async fn pipeline_claiming(app: &TestApp, index: &str) -> Value {
    let path = format!("_index_template/_simulate_index/{index}");
    let (status, body) = search(app, Method::POST, &path, None).await;
    assert_eq!(status, 200, "{body}");
    body["template"]["mappings"]["_meta"]["pipeline"].clone()
}

/// The `mappings` of index `index`.
async fn mappings(app: &TestApp, index: &str) -> Value {
    let (status, body) = search(app, Method::GET, &format!("{index}/_mapping"), None).await;
    assert_eq!(status, 200, "{body}");
    body[index]["mappings"].clone()
}

/// The mapping at dotted field `path` of `mappings`.
fn at<'a>(mappings: &'a Value, path: &str) -> &'a Value {
    let mut node = mappings;
    for segment in path.split('.') {
        node = &node["properties"][segment];
    }
    node
}

/// The mapping of index `index` at dotted field `path`.
async fn field_mapping(app: &TestApp, index: &str, path: &str) -> Value {
    at(&mappings(app, index).await, path).clone()
}

fn today(prefix: &str) -> String {
    format!("{prefix}{}", chrono::Utc::now().format("%Y.%m.%d"))
}

fn dated(name: &str, index: &str) -> Value {
    json!({"name": name, "index": index, "topics": {"partitions": 1, "replicationFactor": 1}})
}

/// Also checked to fail: with the dated patterns widened to `<prefix>*`, `web-logs`'s create is
/// a 502 (OpenSearch refuses two same-priority templates that overlap).
#[tokio::test]
async fn create_installs_a_template_claiming_exactly_the_pipelines_indices() {
    let app = spawn_app().await;
    let web = test_support::unique_name("web");
    let web_logs = format!("{web}-logs");
    let created = app
        .create_ok(&dated(&web, &format!("{web}-{{yyyy.MM.dd}}")))
        .await;
    app.create_ok(&dated(&web_logs, &format!("{web_logs}-{{yyyy.MM.dd}}")))
        .await;

    let installed = template(&app, &web).await.expect("web's template");
    let patterns: Vec<String> = (0..10).map(|d| format!("{web}-{d}*")).collect();
    assert_eq!(installed["index_patterns"], json!(patterns));
    assert_eq!(installed["priority"], 500);
    assert_eq!(installed["_meta"]["pipeline_id"], created["id"]);
    assert_eq!(installed["_meta"]["pipeline"], web.as_str());
    assert_eq!(installed["_meta"]["version"], 1);

    // Today's index was created under it; each pattern catches only its own pipeline's days.
    let index = today(&format!("{web}-"));
    assert_eq!(
        field_mapping(&app, &index, "log_message").await,
        json!({"type": "text", "norms": false})
    );
    assert_eq!(pipeline_claiming(&app, &index).await, web.as_str());
    let logs_day = today(&format!("{web_logs}-"));
    assert_eq!(pipeline_claiming(&app, &logs_day).await, web_logs.as_str());
    assert_eq!(
        pipeline_claiming(&app, &format!("{web}-logs")).await,
        Value::Null
    );

    // An index that one of them would also claim is refused, and nothing is kept.
    let greedy = test_support::unique_name("greedy");
    let resp = app.create(&dated(&greedy, &format!("{web}-2fast"))).await;
    assert_eq!(resp.status, StatusCode::CONFLICT, "{}", resp.text);
    assert_eq!(app.row_count(&greedy).await, 0);
    assert!(template(&app, &greedy).await.is_none());
}

/// A template OpenSearch refuses (here: an operator's template with the same priority on the
/// same index, so the answer is 409 naming it) undoes the create like a topic failure: no row,
/// no topics, no template.
#[tokio::test]
async fn a_refused_template_undoes_the_create() {
    let app = spawn_app().await;
    let name = test_support::unique_name("refused");
    let blocker = format!("blocker-{name}");
    let (status, body) = search(
        &app,
        Method::PUT,
        &format!("_index_template/{blocker}"),
        Some(json!({"index_patterns": [name], "priority": 500})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let resp = app.create(&crate::helpers::definition(&name, 1)).await;
    assert_eq!(resp.status, StatusCode::CONFLICT, "{}", resp.text);
    assert!(
        resp.body["detail"].as_str().unwrap().contains(&blocker),
        "{}",
        resp.text
    );
    assert_eq!(app.row_count(&name).await, 0);
    assert!(template(&app, &name).await.is_none());
    let topics: Vec<String> = TestApp::topics_on(&app.brokers)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for topic in app.topic_names(&name) {
        assert!(!topics.contains(&topic), "{topic} left behind");
    }
    search(
        &app,
        Method::DELETE,
        &format!("_index_template/{blocker}"),
        None,
    )
    .await;
}

/// Also checked to fail: with `replace` not installing the template, the template stays at
/// version 1.
#[tokio::test]
async fn put_changes_the_template_and_the_next_dated_index_only() {
    let app = spawn_app().await;
    let name = test_support::unique_name("put");
    let mut def = dated(&name, &format!("{name}-{{yyyy.MM.dd}}"));
    def["indexing"] = json!({"fields": {"service": "keyword"}});
    let created = app.create_ok(&def).await;
    let old_day = today(&format!("{name}-"));

    def["indexing"] = json!({"fields": {"service": "text"}, "replicas": 0});
    let path = format!("/api/v1/pipelines/{}", created["id"].as_str().unwrap());
    let put = app
        .send(
            app.request(Method::PUT, &path, Some(&app.tokens.editor))
                .header("If-Match", "\"1\"")
                .json(&def),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(put.body["indexing"]["fields"]["service"], "text");
    let installed = template(&app, &name).await.unwrap();
    assert_eq!(installed["_meta"]["version"], 2);
    assert_eq!(
        installed["template"]["settings"]["index"]["number_of_replicas"],
        "0"
    );

    // A later day's index, created by its first write as a worker's bulk request does.
    let new_day = format!("{name}-2031.01.01");
    let (status, body) = search(
        &app,
        Method::POST,
        &format!("{new_day}/_doc?refresh=true"),
        Some(json!({"service": "checkout", "@timestamp": "2031-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        field_mapping(&app, &new_day, "service").await["type"],
        "text"
    );
    assert_eq!(
        field_mapping(&app, &old_day, "service").await["type"],
        "keyword"
    );
    search(&app, Method::DELETE, &new_day, None).await;
}

/// Also checked to fail: with the template removal left out of the delete flow, the first
/// assertion fails.
#[tokio::test]
async fn delete_removes_the_template_and_keeps_the_index() {
    let app = spawn_app().await;
    let name = test_support::unique_name("del");
    let created = app.create_ok(&crate::helpers::definition(&name, 1)).await;
    assert!(template(&app, &name).await.is_some());
    let path = format!(
        "/api/v1/pipelines/{}?force=true",
        created["id"].as_str().unwrap()
    );
    let deleted = app
        .send(app.request(Method::DELETE, &path, Some(&app.tokens.editor)))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert!(template(&app, &name).await.is_none());
    assert_eq!(search(&app, Method::HEAD, &name, None).await.0, 200);
}

/// A pipeline whose template is missing (made before templates, or removed by hand) gets it
/// back when mgmt starts.
#[tokio::test]
async fn start_up_reinstalls_missing_templates() {
    let app = spawn_app().await;
    let name = test_support::unique_name("boot");
    app.create_ok(&crate::helpers::definition(&name, 1)).await;
    let path = format!("_index_template/{}", template_name(&app, &name));
    assert_eq!(search(&app, Method::DELETE, &path, None).await.0, 200);

    let restarted = spawn_app_with(Options {
        database_url: Some(app.db_url.clone()),
        prefix: Some(app.prefix.clone()),
        ..Options::default()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while template(&app, &name).await.is_none() {
        assert!(Instant::now() < deadline, "template not reinstalled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    restarted.stop().await;
}

async fn wait_count(app: &TestApp, index: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        search(app, Method::POST, &format!("{index}/_refresh"), None).await;
        let (_, body) = search(app, Method::GET, &format!("{index}/_count"), None).await;
        let count = body["count"].as_u64().unwrap_or(0);
        if count >= n {
            assert_eq!(count, n, "more documents than events in {index}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{count} of {n} documents in {index}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The load generator's events as one CloudEvents batch.
fn loadgen_batch(n: usize) -> String {
    let mut generator = Generator::new(28, 0.0, Timestamps::Random);
    let events: Vec<Value> = (0..n)
        .map(|_| serde_json::from_slice(&generator.next_event().to_bytes()).unwrap())
        .collect();
    Value::Array(events).to_string()
}

async fn ingest_batch(app: &TestApp, id: &str, body: String) {
    let resp = app
        .send(
            app.request(
                Method::POST,
                &format!("/api/v1/pipelines/{id}/events"),
                Some(&app.tokens.ingest),
            )
            .header("Content-Type", "application/cloudevents-batch+json")
            .body(body),
        )
        .await;
    assert_eq!(resp.status, StatusCode::ACCEPTED, "{}", resp.text);
}

/// Also checked to fail: with the mask rule left out of the IP decision, `parsed.client_ip` of
/// the default chain is `ip` and the first assertion on it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_the_worker_writes_get_the_derived_types() {
    const EVENTS: usize = 60;
    let app = spawn_app().await;
    let masked = test_support::unique_name("dflt");
    let unmasked = test_support::unique_name("raw");
    let topics = json!({"partitions": 1, "replicationFactor": 1});
    let a = app
        .create_ok(&json!({"name": masked, "topics": topics}))
        .await;
    let b = app
        .create_ok(&json!({"name": unmasked, "topics": topics, "stages": [
            {"type": "parse"}, {"type": "rename"}, {"type": "hash"}]}))
        .await;
    let worker = Worker::start(&app).await;
    for id in [&a["id"], &b["id"]] {
        ingest_batch(&app, id.as_str().unwrap(), loadgen_batch(EVENTS)).await;
    }
    wait_count(&app, &masked, EVENTS as u64).await;
    wait_count(&app, &unmasked, EVENTS as u64).await;
    worker.shutdown().await;

    let masked = mappings(&app, &masked).await;
    let unmasked = mappings(&app, &unmasked).await;
    assert_eq!(
        at(&masked, "event_hash"),
        &json!({"type": "keyword", "index": false, "doc_values": false})
    );
    assert_eq!(at(&masked, "@timestamp"), &json!({"type": "date"}));
    assert_eq!(
        at(&masked, "log_message"),
        &json!({"type": "text", "norms": false}),
        "free text without a keyword sub-field"
    );
    assert_eq!(at(&masked, "parsed.client_ip")["type"], "keyword");
    assert_eq!(at(&unmasked, "parsed.client_ip")["type"], "ip");
    assert_eq!(at(&masked, "parsed.status")["type"], "short");
    assert_eq!(at(&masked, "parsed.bytes")["type"], "long");
    assert_eq!(at(&masked, "parsed.priority")["type"], "short");
    assert_eq!(at(&masked, "parsed.event_timestamp")["type"], "date");
    assert_eq!(at(&masked, "parsed.message")["type"], "text");
    assert_eq!(at(&masked, "pipeline.ingestedAt")["type"], "date");
    assert_eq!(at(&masked, "cloudevent.time")["type"], "date");
    // Strings the chain does not know: one keyword, no text twin.
    assert_eq!(
        at(&masked, "service"),
        &json!({"type": "keyword", "ignore_above": 1024})
    );
    assert_eq!(
        at(&masked, "metadata.region"),
        &json!({"type": "keyword", "ignore_above": 1024})
    );
}

/// A value of the wrong JSON type for its mapping is still a dead letter with OpenSearch's
/// status and reason, and the rest is indexed. Also checked to fail: with
/// `index.mapping.ignore_malformed` in the template's settings the bad event is indexed and no
/// dead letter comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_conflict_still_dead_letters() {
    let app = spawn_app().await;
    let name = test_support::unique_name("clash");
    let mut def = crate::helpers::definition(&name, 1);
    def["indexing"] = json!({"fields": {"parsed.code": "long"}});
    let created = app.create_ok(&def).await;
    let id = created["id"].as_str().unwrap();
    let worker = Worker::start(&app).await;
    let lines = [r#"{"code": 7}"#, r#"{"code": "seven"}"#, r#"{"code": 8}"#];
    let body: String = lines
        .iter()
        .map(|line| json!({"log_message": line}).to_string() + "\n")
        .collect();
    ingest(&app, id, body).await;
    let letters = wait_errors(&app, id, 1).await;
    wait_count(&app, &name, 2).await;
    worker.shutdown().await;
    let header = |name: &str| assert_header(&letters[0], name);
    assert_eq!(header("error.stage"), "index");
    assert_eq!(header("error.status"), "400");
    assert!(
        header("error.reason").contains("mapper_parsing_exception"),
        "{}",
        header("error.reason")
    );
}

/// The indices endpoint lists what the template claims, with counts, dates and the template
/// version each index was created under; another pipeline's (`<name>-eu-…`) are not listed.
#[tokio::test]
async fn indices_lists_the_pipelines_indices() {
    let app = spawn_app().await;
    let name = test_support::unique_name("idx");
    let created = app
        .create_ok(&dated(&name, &format!("{name}-{{yyyy.MM.dd}}")))
        .await;
    let neighbour = format!("{name}-eu");
    app.create_ok(&dated(&neighbour, &format!("{neighbour}-{{yyyy.MM.dd}}")))
        .await;
    let day = format!("{name}-2031.01.01");
    for i in 0..2 {
        let (status, body) = search(
            &app,
            Method::POST,
            &format!("{day}/_doc?refresh=true"),
            Some(json!({"n": i})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let odd = format!("{name}-0old");
    assert_eq!(search(&app, Method::PUT, &odd, None).await.0, 200);

    let id = created["id"].as_str().unwrap();
    let resp = app
        .get(
            &format!("/api/v1/pipelines/{id}/indices"),
            &app.tokens.viewer,
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let items = resp.body["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    let today_index = today(&format!("{name}-"));
    assert_eq!(names, [today_index.as_str(), day.as_str(), odd.as_str()]);
    assert_eq!(items[1]["documents"], 2);
    assert!(items[1]["storeBytes"].as_u64().unwrap() > 0);
    assert_eq!(items[1]["date"], "2031-01-01T00:00:00Z");
    assert_eq!(items[1]["templateVersion"], 1);
    assert_eq!(
        items[2]["date"],
        Value::Null,
        "a name that does not parse back"
    );
    for index in [day, odd] {
        search(&app, Method::DELETE, &index, None).await;
    }
}

/// A City database of one network, written by the test.
fn geoip_database(dir: &std::path::Path) -> String {
    #[derive(serde::Serialize)]
    struct Names {
        iso_code: Option<&'static str>,
        names: std::collections::BTreeMap<&'static str, &'static str>,
    }
    #[derive(serde::Serialize)]
    struct Location {
        latitude: f64,
        longitude: f64,
    }
    #[derive(serde::Serialize)]
    struct Record {
        country: Names,
        location: Location,
    }
    let mut writer = mmdb_writer::Writer::new("Test-City");
    writer
        .insert(
            "81.2.69.0/24".parse::<mmdb_writer::ipnet::IpNet>().unwrap(),
            &Record {
                country: Names {
                    iso_code: Some("GB"),
                    names: [("en", "United Kingdom")].into(),
                },
                location: Location {
                    latitude: 51.5142,
                    longitude: -0.0931,
                },
            },
        )
        .unwrap();
    let path = dir.join("test-city.mmdb");
    std::fs::write(&path, writer.to_bytes().unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The default chain with a geoip database: `geo.location` is a `geo_point`, so a
/// `geo_distance` query finds the document, and the country code is a `keyword`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_geoip_pipeline_gets_a_geo_point_that_geo_distance_finds() {
    let dir = tempfile::tempdir().unwrap();
    let database = geoip_database(dir.path());
    let app = spawn_app_with(Options {
        vars: vec![("FLOW__GEOIP__DATABASE".into(), database.clone())],
        ..Options::default()
    })
    .await;
    let name = test_support::unique_name("geo");
    let created = app
        .create_ok(&json!({"name": name, "topics": {"partitions": 1, "replicationFactor": 1}}))
        .await;
    let worker = Worker::start_with(&app, &[("FLOW__GEOIP__DATABASE", database.as_str())]).await;
    let line =
        "81.2.69.160 - - [04/Dec/2026:10:00:00 +0000] \"GET /a HTTP/1.1\" 200 512 \"-\" \"curl\"";
    ingest(
        &app,
        created["id"].as_str().unwrap(),
        json!({"log_message": line}).to_string() + "\n",
    )
    .await;
    wait_count(&app, &name, 1).await;
    worker.shutdown().await;

    let mapping = mappings(&app, &name).await;
    assert_eq!(at(&mapping, "geo.location"), &json!({"type": "geo_point"}));
    assert_eq!(at(&mapping, "geo.country_code")["type"], "keyword");
    let query = json!({"query": {"geo_distance": {
        "distance": "10km", "geo.location": {"lat": 51.5, "lon": -0.1}}}});
    let (status, found) = search(&app, Method::POST, &format!("{name}/_search"), Some(query)).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hits"]["total"]["value"], 1, "{found}");
    assert_eq!(
        found["hits"]["hits"][0]["_source"]["geo"]["country_code"],
        "GB"
    );
}
