//! The database processors against real PostgreSQL (started by scripts/start-postgres.sh, or
//! SLUICE_TEST_POSTGRES_URL) and SQLite files: ExecuteSQL, PutSQL, PutDatabaseRecord,
//! QueryDatabaseTable, including unreachable servers, lost connections, bad credentials,
//! bad SQL, values of the wrong type and incremental fetching across a restart.

mod servers;

use std::time::Duration;

use serde_json::Value;
use sluice_engine::testing::TestRunner;
use sluice_processors::{io::block_on, registry};

use servers::{Postgres, eventually, postgres_url};

fn table_name(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn pg_client(url: &str) -> tokio_postgres::Client {
    block_on(async {
        let (client, conn) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("test connects to PostgreSQL");
        tokio::spawn(conn);
        client
    })
}

fn pg_exec(url: &str, sql: &str) {
    let c = pg_client(url);
    block_on(c.batch_execute(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Rows as text (NULL = None), via the simple query protocol.
fn pg_rows(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let c = pg_client(url);
    let msgs = block_on(c.simple_query(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"));
    msgs.into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(String::from)).collect())
            }
            _ => None,
        })
        .collect()
}

fn json(ff: &sluice_engine::FlowFile) -> Value {
    serde_json::from_str(&TestRunner::content(ff)).expect("output is JSON")
}

fn runner(ty: &str, url: &str) -> TestRunner {
    let mut r = TestRunner::new(registry(), ty);
    r.set_property("Database Connection URL", url);
    r
}

// ---------------------------------------------------------------- ExecuteSQL

#[test]
fn execute_sql_streams_typed_rows_as_json_and_csv() {
    let url = postgres_url();
    let t = table_name("ex");
    pg_exec(
        &url,
        &format!(
            "CREATE TABLE {t} (id int PRIMARY KEY, name text, price numeric(12,3), seen timestamp, meta jsonb, ok boolean, raw bytea, \
             tags text[]);
             INSERT INTO {t} VALUES (1, 'a \"quoted\"', 12.500, '2024-03-01 10:20:30.5', '{{\"k\": [1, 2]}}', true, '\\x0102', '{{x,y}}'),
                                    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"
        ),
    );
    let mut r = runner("ExecuteSQL", &url);
    r.set_property("SQL select query", "SELECT * FROM ${table} ORDER BY id");
    r.enqueue("ignored", &[("table", &t)]);
    r.run(1).unwrap();
    let out = r.output("success");
    assert_eq!(out.len(), 1);
    let ff = &out[0];
    assert_eq!(ff.attr("executesql.row.count"), Some("2"));
    assert_eq!(ff.attr("mime.type"), Some("application/json"));
    assert_eq!(ff.attr("table"), Some(t.as_str()), "results inherit the input's attributes");
    assert!(ff.attr("executesql.query.duration").is_some());
    let v = json(ff);
    assert_eq!(v[0]["id"], 1);
    assert_eq!(v[0]["name"], "a \"quoted\"");
    assert!(TestRunner::content(ff).contains("\"price\":12.500,"), "numeric keeps its exact digits");
    assert_eq!(v[0]["seen"], "2024-03-01 10:20:30.500");
    assert_eq!(v[0]["meta"]["k"][1], 2);
    assert_eq!(v[0]["ok"], true);
    assert_eq!(v[0]["raw"], "\\x0102");
    assert_eq!(v[0]["tags"], serde_json::json!(["x", "y"]));
    assert!(v[1]["name"].is_null() && v[1]["meta"].is_null());
    assert_eq!(r.count("failure"), 0);
    assert!(r.input_queue().is_empty());
    let kinds: Vec<String> = r.events().iter().map(|e| format!("{:?}", e.event_type)).collect();
    assert!(kinds.iter().any(|k| k.contains("Fetch")), "{kinds:?}");

    // CSV, split every row.
    let mut r = runner("ExecuteSQL", &url);
    r.set_property("SQL select query", &format!("SELECT id, name FROM {t} ORDER BY id"));
    r.set_property("Output Format", "CSV");
    r.set_property("Max Rows Per Flow File", "1");
    r.enqueue("", &[]);
    r.run(1).unwrap();
    let out = r.output("success");
    assert_eq!(out.len(), 2);
    assert_eq!(TestRunner::content(&out[0]), "id,name\n1,\"a \"\"quoted\"\"\"\n");
    assert_eq!(TestRunner::content(&out[1]), "id,name\n2,\n");
    assert_eq!(out[1].attr("fragment.index"), Some("1"));
    assert_eq!(out[0].attr("fragment.count"), Some("2"));
    assert_eq!(out[0].attr("fragment.identifier"), out[1].attr("fragment.identifier"));
}

#[test]
fn execute_sql_takes_the_query_and_parameters_from_the_flowfile() {
    let url = postgres_url();
    let t = table_name("exp");
    pg_exec(
        &url,
        &format!(
            "CREATE TABLE {t} (id int, at timestamptz); INSERT INTO {t} SELECT g, '2024-01-01'::timestamptz + g * interval '1 day' FROM generate_series(1, 10) g;"
        ),
    );
    let mut r = runner("ExecuteSQL", &url);
    r.enqueue(
        format!("SELECT id FROM {t} WHERE id > ? AND at < ? ORDER BY id"),
        &[
            ("sql.args.1.type", "4"),
            ("sql.args.1.value", "7"),
            ("sql.args.2.type", "93"),
            ("sql.args.2.value", "2024-01-11T00:00:00Z"),
        ],
    );
    r.run(1).unwrap();
    let out = r.output("success");
    assert_eq!(
        out.len(),
        1,
        "failure: {:?}",
        r.output("failure").first().and_then(|f| f.attr("executesql.error.message").map(String::from))
    );
    assert_eq!(json(&out[0]), serde_json::json!([{"id": 8}, {"id": 9}]));
}

#[test]
fn execute_sql_routes_bad_sql_and_slow_queries_to_failure() {
    let url = postgres_url();
    let mut r = runner("ExecuteSQL", &url);
    r.set_property("SQL select query", "SELEC nonsense");
    r.enqueue("", &[]);
    r.run(1).unwrap();
    let failed = r.output("failure");
    assert_eq!(failed.len(), 1);
    let msg = failed[0].attr("executesql.error.message").unwrap_or_default().to_string();
    assert!(msg.contains("syntax error"), "{msg}");

    let mut r = runner("ExecuteSQL", &url);
    r.set_property("SQL select query", "SELECT pg_sleep(10)");
    r.set_property("Max Wait Time", "300 millis");
    r.enqueue("", &[]);
    let t0 = std::time::Instant::now();
    r.run(1).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "the query was cancelled at the deadline");
    let failed = r.output("failure");
    assert_eq!(failed.len(), 1);
    assert!(failed[0].attr("executesql.error.message").unwrap_or_default().contains("Max Wait Time"));
}

/// The URL with its password replaced.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("URL has a scheme");
    let (cred, host) = rest.rsplit_once('@').expect("the test URL has credentials");
    let user = cred.split(':').next().unwrap_or("postgres");
    format!("{scheme}://{user}:{password}@{host}")
}

#[test]
fn wrong_password_is_reported_and_the_flowfile_kept() {
    let url = with_password(&postgres_url(), "definitely-wrong");
    let mut r = runner("ExecuteSQL", &url);
    r.set_property("SQL select query", "SELECT 1");
    r.enqueue("", &[]);
    r.run(1).unwrap();
    assert_eq!(r.count("success") + r.count("failure"), 0);
    assert_eq!(r.input_queue().len(), 1, "the flowfile stays queued");
    let b = r.bulletins().join("\n");
    assert!(b.contains("password authentication failed"), "{b}");
    assert!(!b.contains("definitely-wrong"), "the password never appears in bulletins: {b}");
}

#[test]
fn server_down_at_start_then_up_and_lost_mid_stream() {
    let mut pg = Postgres::prepare();
    let t = table_name("down");
    let mut r = runner("PutSQL", &pg.url);
    r.set_property("SQL Statement", &format!("INSERT INTO {t} (v) VALUES ('${{v}}')"));

    // Down at start: bulletin, the flowfile goes to retry, nothing lost.
    r.enqueue("", &[("v", "a")]);
    r.run(1).unwrap();
    assert_eq!(r.count("retry"), 1);
    let b = r.bulletins().join("\n");
    assert!(b.contains("cannot connect") && b.contains("retrying in"), "{b}");
    // During back-off the processor does not even try.
    r.enqueue("", &[("v", "b")]);
    r.run(1).unwrap();
    assert_eq!(r.input_queue().len(), 1);

    // It comes up: the next try after the back-off works.
    pg.up();
    pg_exec(&pg.url, &format!("CREATE TABLE {t} (v text)"));
    let ok = eventually(Duration::from_secs(30), || {
        r.run(1).unwrap();
        (r.count("success") == 1).then_some(())
    });
    assert!(ok.is_some(), "PutSQL works once the database is up; bulletins: {:?}", r.bulletins());

    // Lost mid-stream: the pool's connection is dead; the batch goes to retry.
    pg.down();
    r.enqueue("", &[("v", "c")]);
    r.run(1).unwrap();
    assert_eq!(r.count("retry"), 2);
    assert_eq!(r.count("success"), 1);
    pg.up();
    r.enqueue("", &[("v", "d")]);
    let ok = eventually(Duration::from_secs(60), || {
        r.run(1).unwrap();
        (r.count("success") == 2).then_some(())
    });
    assert!(ok.is_some(), "PutSQL recovers after the server restarts; bulletins: {:?}", r.bulletins());
    let rows = pg_rows(&pg.url, &format!("SELECT v FROM {t} ORDER BY v"));
    assert_eq!(rows, vec![vec![Some("b".to_string())], vec![Some("d".to_string())]]);
}

// ---------------------------------------------------------------- PutSQL

#[test]
fn put_sql_commits_good_statements_and_fails_bad_ones_alone() {
    let url = postgres_url();
    let t = table_name("put");
    pg_exec(
        &url,
        &format!("CREATE TABLE {t} (id int PRIMARY KEY, name text, amount numeric, at timestamp, flag boolean)"),
    );
    let mut r = runner("PutSQL", &url);
    let insert = format!("INSERT INTO {t} (id, name, amount, at, flag) VALUES (?, ?, ?, ?, ?)");
    let args = |id: &'static str, name: &'static str| {
        vec![
            ("sql.args.1.type", "4"),
            ("sql.args.1.value", id),
            ("sql.args.2.type", "12"),
            ("sql.args.2.value", name),
            ("sql.args.3.type", "3"),
            ("sql.args.3.value", "10.25"),
            ("sql.args.4.type", "93"),
            ("sql.args.4.value", "1700000000000"),
            ("sql.args.5.type", "16"),
            ("sql.args.5.value", "true"),
        ]
    };
    r.enqueue(insert.clone(), &args("1", "one"));
    r.enqueue(insert.clone(), &args("1", "duplicate key"));
    r.enqueue(insert.clone(), &args("x", "not a number"));
    r.enqueue(format!("INSERT INTO {t} (id, name) VALUES (3, 'three'); UPDATE {t} SET name = 'uno' WHERE id = 1"), &[]);
    r.enqueue("INSERT INTO nowhere_at_all VALUES (1)", &[]);
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 2);
    let failed = r.output("failure");
    assert_eq!(failed.len(), 3);
    let msgs: Vec<&str> = failed.iter().map(|f| f.attr("putsql.error.message").unwrap_or("")).collect();
    assert!(msgs.iter().any(|m| m.contains("duplicate key")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("sql.args.1.value")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("nowhere_at_all")), "{msgs:?}");
    let rows = pg_rows(&url, &format!("SELECT id, name, amount, at, flag FROM {t} ORDER BY id"));
    assert_eq!(
        rows,
        vec![
            vec![
                Some("1".into()),
                Some("uno".into()),
                Some("10.25".into()),
                Some("2023-11-14 22:13:20".into()),
                Some("t".into())
            ],
            vec![Some("3".into()), Some("three".into()), None, None, None],
        ]
    );
    let sends = r.events().iter().filter(|e| format!("{:?}", e.event_type).contains("Send")).count();
    assert_eq!(sends, 2);
}

#[test]
fn put_sql_rollback_on_failure_keeps_the_whole_batch() {
    let url = postgres_url();
    let t = table_name("rb");
    pg_exec(&url, &format!("CREATE TABLE {t} (id int PRIMARY KEY)"));
    let mut r = runner("PutSQL", &url);
    r.set_property("Rollback On Failure", "true");
    r.enqueue(format!("INSERT INTO {t} VALUES (1)"), &[]);
    r.enqueue(format!("INSERT INTO {t} VALUES ('bad')"), &[]);
    assert!(r.run(1).is_err());
    assert_eq!(r.input_queue().len(), 2);
    assert_eq!(r.count("success") + r.count("failure"), 0);
    assert!(pg_rows(&url, &format!("SELECT * FROM {t}")).is_empty(), "nothing committed");
}

// ---------------------------------------------------------------- PutDatabaseRecord

#[test]
fn put_database_record_insert_upsert_update_delete() {
    let url = postgres_url();
    let t = table_name("rec");
    pg_exec(
        &url,
        &format!("CREATE TABLE {t} (id int PRIMARY KEY, \"Name\" text, score numeric(6,2), at timestamptz, doc jsonb)"),
    );
    let mut r = runner("PutDatabaseRecord", &url);
    r.set_property("Table Name", "${t}");
    r.enqueue(
        r#"[{"id": 1, "name": "a", "score": 1.5, "at": "2024-01-01T00:00:00Z", "doc": {"x": 1}, "extra": true},
           {"id": 2, "name": "b", "score": "2.25"}]"#,
        &[("t", &t)],
    );
    r.run(1).unwrap();
    assert_eq!(
        r.count("success"),
        1,
        "failure: {:?}",
        r.output("failure").first().and_then(|f| f.attr("putdatabaserecord.error").map(String::from))
    );
    assert_eq!(r.output("success")[0].attr("putdatabaserecord.record.count"), Some("2"));

    r.set_property("Statement Type", "UPSERT");
    r.set_property("Record Reader", "JSON Lines");
    r.enqueue("{\"id\": 2, \"name\": \"b2\"}\n{\"id\": 3, \"name\": \"c\", \"score\": 3}\n", &[("t", &t)]);
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 2);

    r.set_property("Statement Type", "UPDATE");
    r.set_property("Record Reader", "CSV");
    r.set_property("Update Keys", "id");
    r.enqueue("id,score\n1,9.75\n", &[("t", &t)]);
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 3);

    r.set_property("Statement Type", "DELETE");
    r.set_property("Record Reader", "JSON");
    r.enqueue(r#"{"id": 3}"#, &[("t", &t)]);
    r.run(1).unwrap();
    assert_eq!(r.count("success"), 4);

    let rows = pg_rows(&url, &format!("SELECT id, \"Name\", score, doc->>'x' FROM {t} ORDER BY id"));
    assert_eq!(
        rows,
        vec![
            vec![Some("1".into()), Some("a".into()), Some("9.75".into()), Some("1".into())],
            vec![Some("2".into()), Some("b2".into()), Some("2.25".into()), None],
        ]
    );
}

#[test]
fn put_database_record_fails_a_wrong_type_or_malformed_content_without_committing() {
    let url = postgres_url();
    let t = table_name("bad");
    pg_exec(&url, &format!("CREATE TABLE {t} (id int PRIMARY KEY, n int)"));
    let mut r = runner("PutDatabaseRecord", &url);
    r.set_property("Table Name", &t);
    r.enqueue(r#"[{"id": 1, "n": 1}, {"id": 2, "n": "two"}]"#, &[]);
    r.enqueue(r#"[{"id": 3, "n": 3}, {"id": 4, "n": "#, &[]);
    r.enqueue(r#"[{"id": 5, "n": 5}, {"id": 5, "n": 6}]"#, &[]);
    r.run(3).unwrap();
    let failed = r.output("failure");
    assert_eq!(failed.len(), 3);
    let msgs: Vec<&str> = failed.iter().map(|f| f.attr("putdatabaserecord.error").unwrap_or("")).collect();
    assert!(msgs[0].contains("record 2") && msgs[0].contains("'n'") && msgs[0].contains("int4"), "{msgs:?}");
    assert!(msgs[1].contains("record 2"), "{msgs:?}");
    assert!(msgs[2].contains("duplicate key"), "{msgs:?}");
    assert!(pg_rows(&url, &format!("SELECT * FROM {t}")).is_empty(), "no partial flowfile was committed");

    r.set_property("Unmatched Field Behavior", "Fail on Unmatched Fields");
    r.enqueue(r#"{"id": 9, "nope": 1}"#, &[]);
    r.set_property("Table Name", "no_such_table_here");
    r.enqueue(r#"{"id": 9}"#, &[]);
    r.run(2).unwrap();
    let failed = r.output("failure");
    assert_eq!(failed.len(), 5);
    let msgs: Vec<&str> = failed.iter().map(|f| f.attr("putdatabaserecord.error").unwrap_or("")).collect();
    assert!(msgs.iter().any(|m| m.contains("no_such_table_here")), "{msgs:?}");
}

// ---------------------------------------------------------------- QueryDatabaseTable

#[test]
fn query_database_table_is_incremental_across_a_restart() {
    let url = postgres_url();
    let t = table_name("qdt");
    pg_exec(
        &url,
        &format!("CREATE TABLE {t} (id serial PRIMARY KEY, v text); INSERT INTO {t} (v) VALUES ('a'), ('b'), ('c');"),
    );
    let dir = tempfile::tempdir().unwrap();
    let configure = |r: &mut TestRunner| {
        r.set_property("Database Connection URL", &url);
        r.set_property("Table Name", &t);
        r.set_property("Maximum-value Columns", "id");
    };
    {
        let mut r = TestRunner::with_data_dir(registry(), "QueryDatabaseTable", dir.path());
        configure(&mut r);
        r.run(1).unwrap();
        let out = r.output("success");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].attr("querydbtable.row.count"), Some("3"));
        assert_eq!(out[0].attr("maxvalue.id"), Some("3"));
        assert_eq!(out[0].attr("tablename"), Some(t.as_str()));
        assert_eq!(json(&out[0]).as_array().map(|a| a.len()), Some(3));
        r.run(1).unwrap();
        assert_eq!(r.count("success"), 1, "nothing new, nothing emitted");
        r.controller.shutdown();
    }
    pg_exec(&url, &format!("INSERT INTO {t} (v) VALUES ('d'), ('e');"));
    let mut r = TestRunner::with_data_dir(registry(), "QueryDatabaseTable", dir.path());
    configure(&mut r);
    r.run(1).unwrap();
    let out: Vec<_> = r.output("success").into_iter().filter(|f| f.attr("maxvalue.id") == Some("5")).collect();
    assert_eq!(out.len(), 1, "the restarted processor continues after id 3");
    assert_eq!(json(&out[0]), serde_json::json!([{"id": 4, "v": "d"}, {"id": 5, "v": "e"}]));
}

#[test]
fn query_database_table_uses_timestamps_where_clause_and_initial_value() {
    let url = postgres_url();
    let t = table_name("qts");
    pg_exec(
        &url,
        &format!(
            "CREATE TABLE {t} (id int, updated timestamp, kind text);
             INSERT INTO {t} VALUES (1, '2024-01-01 00:00:00', 'x'), (2, '2024-01-02 00:00:00.25', 'x'), (3, '2024-01-03 00:00:00', 'y');"
        ),
    );
    let mut r = runner("QueryDatabaseTable", &url);
    r.set_property("Table Name", &t);
    r.set_property("Maximum-value Columns", "updated");
    r.set_property("Additional WHERE clause", "kind = 'x'");
    r.set_property("initial.maxvalue.updated", "2024-01-01 12:00:00");
    r.set_property("Output Format", "CSV");
    r.run(1).unwrap();
    let out = r.output("success");
    assert_eq!(out.len(), 1);
    assert_eq!(TestRunner::content(&out[0]), "id,updated,kind\n2,2024-01-02 00:00:00.250,x\n");
    pg_exec(&url, &format!("INSERT INTO {t} VALUES (4, '2024-01-02 00:00:00.5', 'x')"));
    r.run(1).unwrap();
    let out = r.output("success");
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].attr("maxvalue.updated"), Some("2024-01-02 00:00:00.500"));
}

// ---------------------------------------------------------------- SQLite

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("test.db").display())
}

fn sqlite_exec(url: &str, sql: &str) {
    let c = rusqlite::Connection::open(url.trim_start_matches("sqlite:")).unwrap();
    c.execute_batch(sql).unwrap();
}

#[test]
fn sqlite_put_sql_execute_sql_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    sqlite_exec(&url, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, n INTEGER)");

    let mut put = runner("PutSQL", &url);
    put.enqueue(
        "INSERT INTO items (id, name, price) VALUES (?, ?, ?)",
        &[
            ("sql.args.1.type", "4"),
            ("sql.args.1.value", "1"),
            ("sql.args.2.type", "12"),
            ("sql.args.2.value", "first"),
            ("sql.args.3.type", "8"),
            ("sql.args.3.value", "2.5"),
        ],
    );
    put.enqueue("INSERT INTO items (id) VALUES (1)", &[]);
    put.enqueue("INSERT INTO itemz VALUES (1)", &[]);
    put.run(1).unwrap();
    assert_eq!(put.count("success"), 1);
    let failed = put.output("failure");
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().any(|f| { f.attr("putsql.error.message").is_some_and(|m| m.contains("UNIQUE")) }));
    assert!(failed.iter().any(|f| { f.attr("putsql.error.message").is_some_and(|m| m.contains("itemz")) }));

    let mut rec = runner("PutDatabaseRecord", &url);
    rec.set_property("Table Name", "items");
    rec.set_property("Statement Type", "UPSERT");
    rec.enqueue(r#"[{"id": 1, "name": "first!", "n": "7"}, {"id": 2, "name": "second", "price": 4}]"#, &[]);
    rec.enqueue(r#"[{"id": 3, "n": 1}, {"id": 4, "n": "four"}]"#, &[]);
    rec.run(2).unwrap();
    assert_eq!(rec.count("success"), 1);
    let failed = rec.output("failure");
    assert_eq!(failed.len(), 1);
    let msg = failed[0].attr("putdatabaserecord.error").unwrap_or_default();
    assert!(msg.contains("record 2") && msg.contains("'n'"), "{msg}");

    let mut ex = runner("ExecuteSQL", &url);
    ex.set_property("SQL select query", "SELECT id, name, price, n FROM items ORDER BY id");
    ex.enqueue("", &[]);
    ex.run(1).unwrap();
    let out = ex.output("success");
    assert_eq!(out.len(), 1);
    assert_eq!(
        json(&out[0]),
        serde_json::json!([{"id": 1, "name": "first!", "price": 2.5, "n": 7}, {"id": 2, "name": "second", "price": 4.0, "n": null}])
    );

    let mut bad = runner("ExecuteSQL", &url);
    bad.set_property("SQL select query", "SELECT * FROM missing_table");
    bad.enqueue("", &[]);
    bad.run(1).unwrap();
    assert!(bad.output("failure")[0].attr("executesql.error.message").unwrap_or_default().contains("missing_table"));
}

#[test]
fn sqlite_unopenable_file_is_a_connection_failure() {
    let mut r = runner("ExecuteSQL", "sqlite:/nonexistent-dir-for-sluice/x.db");
    r.set_property("SQL select query", "SELECT 1");
    r.enqueue("", &[]);
    r.run(1).unwrap();
    assert_eq!(r.input_queue().len(), 1);
    assert!(r.bulletins().join("\n").contains("cannot open"), "{:?}", r.bulletins());
}

#[test]
fn sqlite_query_database_table_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    let url = sqlite_url(&db);
    sqlite_exec(&url, "CREATE TABLE ev (seq INTEGER, body TEXT); INSERT INTO ev VALUES (1, 'a'), (2, 'b'), (3, 'c');");
    let make = || {
        let mut r = TestRunner::with_data_dir(registry(), "QueryDatabaseTable", data.path());
        r.set_property("Database Connection URL", &url);
        r.set_property("Table Name", "ev");
        r.set_property("Maximum-value Columns", "seq");
        r.set_property("Max Rows Per Flow File", "2");
        r
    };
    {
        let mut r = make();
        r.run(1).unwrap();
        let out = r.output("success");
        assert_eq!(out.len(), 2, "3 rows split by 2");
        assert_eq!(out[0].attr("querydbtable.row.count"), Some("2"));
        assert_eq!(out[1].attr("querydbtable.row.count"), Some("1"));
        assert_eq!(out[1].attr("maxvalue.seq"), Some("3"));
        r.controller.shutdown();
    }
    sqlite_exec(&url, "INSERT INTO ev VALUES (4, 'd');");
    let mut r = make();
    r.run(1).unwrap();
    let fresh: Vec<_> = r.output("success").into_iter().filter(|f| f.attr("maxvalue.seq") == Some("4")).collect();
    assert_eq!(fresh.len(), 1);
    assert_eq!(json(&fresh[0]), serde_json::json!([{"seq": 4, "body": "d"}]));
}

// ---------------------------------------------------------------- DBCPConnectionPool

/// The pool configured once as a DBCPConnectionPool controller service serves PutSQL and
/// ExecuteSQL against the real PostgreSQL; a processor naming both a service and its own URL,
/// or a service that does not exist, is invalid with a message saying so; a pool service
/// with a wrong password is enabled (nothing connects yet) and the processor using it keeps
/// the flowfile and reports the database, as with its own pool.
#[test]
fn sql_processors_use_a_dbcp_connection_pool_service() {
    let url = postgres_url();
    let t = table_name("pool");
    pg_exec(&url, &format!("CREATE TABLE {t} (id int PRIMARY KEY, name text)"));
    const SERVICE: &str = "Database Connection Pooling Service";

    let mut put = TestRunner::new(registry(), "PutSQL");
    put.add_service("pool", "DBCPConnectionPool", &[("Database Connection URL", &url), ("Max Total Connections", "2")]);
    put.set_property(SERVICE, "pool");
    assert!(put.validation_errors().is_empty(), "{:?}", put.validation_errors());
    put.enqueue(format!("INSERT INTO {t} VALUES (1, 'through the pool')"), &[]);
    put.run(1).unwrap();
    assert_eq!(put.count("success"), 1);

    let mut exec = TestRunner::new(registry(), "ExecuteSQL");
    exec.add_service("pool", "DBCPConnectionPool", &[("Database Connection URL", &url)]);
    exec.set_property(SERVICE, "pool").set_property("SQL select query", &format!("SELECT name FROM {t}"));
    exec.enqueue("", &[]);
    exec.run(1).unwrap();
    let out = exec.output("success");
    assert_eq!(out.len(), 1);
    assert!(TestRunner::content(&out[0]).contains("through the pool"));

    exec.set_property("Database Connection URL", &url);
    let errs = exec.validation_errors();
    assert!(errs.iter().any(|e| e.contains("not both")), "{errs:?}");
    exec.remove_property("Database Connection URL").set_property(SERVICE, "nope");
    let errs = exec.validation_errors();
    assert!(errs.iter().any(|e| e.contains("controller service 'nope', which does not exist")), "{errs:?}");
    exec.remove_property(SERVICE);
    let errs = exec.validation_errors();
    assert!(errs.iter().any(|e| e.contains("set 'Database Connection Pooling Service' or")), "{errs:?}");

    let mut bad = TestRunner::new(registry(), "PutSQL");
    bad.add_service("pool", "DBCPConnectionPool", &[("Database Connection URL", &with_password(&url, "wrong"))]);
    bad.set_property(SERVICE, "pool");
    bad.enqueue(format!("INSERT INTO {t} VALUES (2, 'never')"), &[]);
    bad.run(1).unwrap();
    assert_eq!(bad.count("success") + bad.count("failure"), 0, "a connection failure loses nothing");
    assert_eq!(bad.input_queue().len() + bad.count("retry"), 1);
    assert_eq!(pg_rows(&url, &format!("SELECT count(*) FROM {t}")), vec![vec![Some("1".into())]]);
}
