//! The simulator over real HTTP on loopback.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::*;

const NOW: &str = "2024-05-20T12:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A fixed clock and no rate limit, unless a test says otherwise.
fn config() -> SimConfig {
    SimConfig { now: Some(at(NOW)), max_rps: 0, ..SimConfig::default() }
}

async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn correlation_id(response: &reqwest::Response) -> String {
    response.headers().get("correlationId").expect("correlationId header").to_str().unwrap().to_owned()
}

/// An authenticated client, going through discovery, login and SSO like the connector, and
/// sending its queries encoded as RFC 3986 has it (`%20` for a space).
struct Session {
    http: reqwest::Client,
    base: url::Url,
    key: String,
    /// The login's bearer, for SSO.
    bearer: String,
    token: String,
    /// The `authorization` value of data calls, in the simulator's dialect.
    authorization: String,
    org: String,
    account: String,
}

/// `value` with every byte but RFC 3986's unreserved ones percent-encoded.
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

impl Session {
    async fn new(sim: &Simulator) -> Session {
        let http = reqwest::Client::new();
        let config = sim.config();
        let base = sim.base_url();
        let discovery: serde_json::Value = http
            .get(
                base.join(&format!("api/account/{}/service/agentVep/baseURI.json?version=1.0", config.account))
                    .unwrap(),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let agent_vep = match discovery.get("baseURIs") {
            Some(list) => list.as_array().unwrap().iter().find(|entry| entry["service"] == "agentVep").unwrap().clone(),
            None => discovery,
        };
        assert_eq!(agent_vep["baseURI"], format!("127.0.0.1:{}", sim.addr().port()));
        assert_eq!(agent_vep["service"], "agentVep");
        assert_eq!(agent_vep["account"], config.account.as_str());
        let login: serde_json::Value = http
            .post(base.join(&format!("api/account/{}/login?v=1.3", config.account)).unwrap())
            .json(&serde_json::json!({ "username": config.username, "password": config.password }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let bearer = login["bearer"].as_str().unwrap();
        assert_eq!(login["sessionTTl"], "3600");
        assert!(login["config"].is_object() && login["accountData"].is_object() && login["csrf"].is_string());
        let sso: serde_json::Value = http
            .get(base.join("cb/auth/v1/sso/authenticate").unwrap())
            .header("x-api-key", &config.api_key)
            .header("Authorization", format!("Bearer {bearer}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(sso["success"], true);
        assert_eq!(sso["message"], "Success");
        let token = sso["successResult"]["apiAccessToken"].as_str().unwrap().to_owned();
        let authorization = match config.dialect.data_auth {
            DataAuth::Token => token.clone(),
            DataAuth::Bearer => format!("Bearer {token}"),
        };
        Session {
            http,
            base,
            key: config.api_key.clone(),
            bearer: bearer.to_owned(),
            token,
            authorization,
            org: sso["successResult"]["sessionOrganizationId"].as_str().unwrap().to_owned(),
            account: config.account.clone(),
        }
    }

    fn url(&self, path: &str, params: &[(&str, &str)]) -> url::Url {
        let mut url = self.base.join(path).unwrap();
        if !params.is_empty() {
            let query: Vec<String> =
                params.iter().map(|(name, value)| format!("{}={}", encode(name), encode(value))).collect();
            url.set_query(Some(&query.join("&")));
        }
        url
    }

    fn detail_url(&self, bot: &str, params: &[(&str, &str)]) -> url::Url {
        self.url(&format!("cb/aiworkbench/v1/chatbots/{bot}/download/customEventDetail"), params)
    }

    fn total_url(&self, bot: &str, params: &[(&str, &str)]) -> url::Url {
        self.url(&format!("cb/aiworkbench/v1/chatbots/{bot}/download/customEventTotal"), params)
    }

    fn catalog_url(&self, bot: &str, params: &[(&str, &str)]) -> url::Url {
        self.url(&format!("cb/analytics/v1/accounts/{}/customEvents/{bot}", self.account), params)
    }

    fn histogram_url(&self, bot: &str, params: &[(&str, &str)]) -> url::Url {
        self.url(&format!("cb/analytics/v1/accounts/{}/customEvents/{bot}/histogram", self.account), params)
    }

    fn get(&self, url: url::Url) -> reqwest::RequestBuilder {
        self.http
            .get(url)
            .header("x-api-key", &self.key)
            .header("authorization", &self.authorization)
            .header("organizationId", &self.org)
    }

    /// SSO with the login's bearer.
    async fn sso(&self) -> reqwest::Response {
        self.http
            .get(self.base.join("cb/auth/v1/sso/authenticate").unwrap())
            .header("x-api-key", &self.key)
            .header("Authorization", format!("Bearer {}", self.bearer))
            .send()
            .await
            .unwrap()
    }

    /// A login with the simulator's credentials.
    async fn login(&self, config: &SimConfig) -> reqwest::Response {
        self.http
            .post(self.base.join(&format!("api/account/{}/login?v=1.3", config.account)).unwrap())
            .json(&serde_json::json!({ "username": config.username, "password": config.password }))
            .send()
            .await
            .unwrap()
    }

    async fn text(&self, url: url::Url) -> String {
        let response = self.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

fn window<'a>(start: &'a str, end: &'a str) -> [(&'static str, &'a str); 2] {
    [("startDate", start), ("endDate", end)]
}

/// A strict RFC 4180 reader that skips blank lines and rejects stray quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                    assert!(matches!(chars.peek(), None | Some(',') | Some('\n')), "text after a closing quote");
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                assert!(field.is_empty() && !quoted, "stray quote in {field:?}");
                in_quotes = true;
                quoted = true;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                quoted = false;
            }
            '\n' => {
                let blank = record.is_empty() && field.is_empty() && !quoted;
                record.push(std::mem::take(&mut field));
                if !blank {
                    records.push(std::mem::take(&mut record));
                }
                record.clear();
                quoted = false;
            }
            '\r' => panic!("bare CR outside quotes"),
            _ => field.push(c),
        }
    }
    assert!(!in_quotes, "unterminated quote");
    assert!(field.is_empty() && record.is_empty(), "last line without a line end");
    records
}

fn events_from_csv(text: &str) -> Vec<SimEvent> {
    let mut records = parse_csv(text).into_iter();
    assert_eq!(records.next().unwrap().join(","), csv::DETAIL_HEADER);
    records
        .map(|r| {
            assert_eq!(r.len(), 7, "{r:?}");
            SimEvent {
                event_name: r[0].clone(),
                platform: r[1].clone(),
                event_details: r[2].clone(),
                user_text: r[3].clone(),
                event_time: at(&r[4]),
                conversation_id: r[5].clone(),
                matched_title: r[6].clone(),
            }
        })
        .collect()
}

/// The ground truth of `[start, end]` (inclusive), newest first, from the generator.
fn expected(config: &SimConfig, bot: &str, start: &str, end: &str) -> Vec<SimEvent> {
    let (start, end) = (at(start), at(end));
    let mut days = Vec::new();
    let mut d = end.date_naive();
    while d >= start.date_naive() {
        days.push(d);
        d = d.pred_opt().unwrap();
    }
    days.into_iter()
        .flat_map(|d| detail_events(config, bot, d))
        .filter(|e| start <= e.event_time && e.event_time <= end)
        .collect()
}

#[test]
fn the_csv_round_trips_through_a_strict_reader() {
    let config = config();
    let events = detail_events(&config, "bot-busy", day("2024-05-14"));
    let mut body = Vec::new();
    csv::detail_header(&mut body);
    for event in &events {
        csv::detail_record(&mut body, event);
    }
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("\"\"\r\n") || text.contains("\r\n"));
    assert_eq!(events_from_csv(&text), events);
}

#[tokio::test]
async fn details_over_http_are_the_ground_truth_newest_first() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let (start, end) = ("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z");
    let response = session.get(session.detail_url("bot-support", &window(start, end))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv");
    let text = response.text().await.unwrap();
    assert!(text.starts_with(&format!("{}\n\n\"", csv::DETAIL_HEADER)));
    let events = events_from_csv(&text);
    let truth = expected(sim.config(), "bot-support", start, end);
    // The inclusive end brings the next day's midnight rows, first (newest).
    assert_eq!(events[0].event_time, at(end));
    assert_eq!(events, truth);
    assert!(events.windows(2).all(|w| w[0].event_time >= w[1].event_time));
    // Same request, same bytes; an offset form of the same instants, same bytes.
    assert_eq!(session.text(session.detail_url("bot-support", &window(start, end))).await, text);
    let offset = window("2024-05-17T20:00:00-04:00", "2024-05-18T20:00:00-04:00");
    assert_eq!(session.text(session.detail_url("bot-support", &offset)).await, text);
    // Filters.
    let filtered = session
        .text(session.detail_url(
            "bot-support",
            &[("startDate", start), ("endDate", end), ("eventName", "Réponse, \"oui\""), ("platform", "htmlclient")],
        ))
        .await;
    let filtered = events_from_csv(&filtered);
    assert!(!filtered.is_empty());
    let want: Vec<SimEvent> =
        truth.into_iter().filter(|e| e.event_name == "Réponse, \"oui\"" && e.platform == "HTMLCLIENT").collect();
    assert_eq!(filtered, want);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_row_cap_keeps_the_newest_rows() {
    let sim = start(SimConfig { row_cap: 500, ..config() }).await;
    let session = Session::new(&sim).await;
    let (start, end) = ("2024-05-16T00:00:00Z", "2024-05-18T00:00:00Z");
    let events = events_from_csv(&session.text(session.detail_url("bot-support", &window(start, end))).await);
    let truth = expected(sim.config(), "bot-support", start, end);
    assert!(truth.len() > 1_000);
    assert_eq!(events.len(), 500);
    assert_eq!(events, truth[..500]);
    sim.shutdown().await;
}

/// (date, event name, event detail, platform) → count.
type TotalCounts = BTreeMap<(String, String, String, String), u64>;

/// The platform columns and counts of a totals CSV; a `Time` column after `Date` is joined to
/// the date with a space.
fn count_totals(text: &str) -> (Vec<String>, TotalCounts) {
    let mut records = parse_csv(text).into_iter();
    let header = records.next().unwrap();
    assert_eq!(header[..3], ["Event Name", "Event Detail", "Event total"]);
    let dates = if header[header.len() - 1] == "Time" { 2 } else { 1 };
    assert_eq!(header[header.len() - dates], "Date");
    let platforms = header[3..header.len() - dates].to_vec();
    let mut counts = BTreeMap::new();
    let mut previous: Option<(String, u64)> = None;
    for r in records {
        assert_eq!(r.len(), header.len(), "{r:?}");
        let total: u64 = r[2].parse().unwrap();
        let cells: Vec<u64> = r[3..r.len() - dates].iter().map(|c| c.parse().unwrap()).collect();
        assert_eq!(cells.iter().sum::<u64>(), total);
        let date = r[r.len() - dates..].join(" ");
        if let Some((prev_date, prev_total)) = &previous {
            assert!(*prev_date > date || (*prev_date == date && *prev_total >= total), "sorted");
        }
        previous = Some((date.clone(), total));
        for (platform, count) in platforms.iter().zip(cells) {
            if count > 0 {
                counts.insert((date.clone(), r[0].clone(), r[1].clone(), platform.clone()), count);
            }
        }
    }
    (platforms, counts)
}

#[tokio::test]
async fn totals_agree_with_details() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let (start, end) = ("2024-05-12T00:00:00Z", "2024-05-19T00:00:00Z");
    let details = events_from_csv(&session.text(session.detail_url("bot-sales", &window(start, end))).await);
    // The client's job: drop the rows at the inclusive end.
    let details: Vec<SimEvent> = details.into_iter().filter(|e| e.event_time < at(end)).collect();
    for (interval, format) in [("Daily", "%Y-%m-%d"), ("Hourly", "%Y-%m-%d %H:00")] {
        let text = session
            .text(session.total_url("bot-sales", &[("startDate", start), ("endDate", end), ("interval", interval)]))
            .await;
        let (platforms, totals) = count_totals(&text);
        let mut want = BTreeMap::new();
        for e in &details {
            let detail = if data::has_children(&e.event_name) { e.event_details.clone() } else { String::new() };
            let key = (e.event_time.format(format).to_string(), e.event_name.clone(), detail, e.platform.clone());
            *want.entry(key).or_insert(0) += 1;
        }
        assert_eq!(totals, want, "{interval}");
        let order: Vec<usize> = platforms.iter().map(|p| data::platform_index(p).unwrap()).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "vendor order: {platforms:?}");
    }
    // Quiet days exist and simply have no rows.
    let dates: HashSet<String> = details.iter().map(|e| e.event_time.format("%F").to_string()).collect();
    assert!(dates.len() < 7, "bot-sales has a quiet day in every 6");
    // A platform filter leaves one column.
    let text = session
        .text(session.total_url("bot-sales", &[("startDate", start), ("endDate", end), ("platform", "HTMLCLIENT")]))
        .await;
    assert!(text.starts_with("Event Name,Event Detail,Event total,HTMLCLIENT,Date\n\n"));
    sim.shutdown().await;
}

#[tokio::test]
async fn catalog_and_histogram() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let (start, end) = ("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z");
    let catalog: serde_json::Value = session
        .get(session.catalog_url("bot-support", &window(start, end)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = catalog["customEventList"].as_array().unwrap();
    let names: HashSet<&str> = list.iter().map(|e| e["name"].as_str().unwrap()).collect();
    let truth = expected(sim.config(), "bot-support", start, end);
    assert_eq!(names, truth.iter().map(|e| e.event_name.as_str()).collect());
    assert!(list.iter().any(|e| e["name"] == "Was this helpful?" && e["hasChildrens"] == true));
    assert!(list.iter().any(|e| e["name"] == "UserInput" && e["hasChildrens"] == false));

    let url = session.histogram_url(
        "bot-support",
        &[("startDate", start), ("endDate", end), ("eventName", "UserInput"), ("interval", "Hourly")],
    );
    let histogram: serde_json::Value = session.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(histogram["customEventName"], "UserInput");
    let want = truth.iter().filter(|e| e.event_name == "UserInput" && e.event_time < at(end)).count() as u64;
    assert_eq!(histogram["total"].as_u64().unwrap(), want);
    let histories = histogram["histories"].as_array().unwrap();
    assert!(histories.len() > 12);
    let first: i64 = histories[0]["dateTime"].as_str().unwrap().parse().unwrap();
    assert_eq!(first % 3_600_000, 0);
    assert!(first >= at(start).timestamp_millis());
    let summed: u64 = histories.iter().map(|h| h["platformTotal"].as_u64().unwrap()).sum();
    assert_eq!(summed, want);
    assert!(histogram["channelTotal"]["TWITTER"].as_u64().is_some());
    // eventName is required.
    let response = session.get(session.histogram_url("bot-support", &window(start, end))).send().await.unwrap();
    assert_eq!(response.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_bots_are_empty_and_unknown_paths_404() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let w = window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z");
    // The page's "success response with an empty list", for every endpoint.
    assert_eq!(session.text(session.detail_url("no-such-bot", &w)).await, "[]");
    assert_eq!(session.text(session.total_url("no-such-bot", &w)).await, "[]");
    assert_eq!(session.text(session.catalog_url("no-such-bot", &w)).await, "[]");
    let histogram = session.histogram_url("no-such-bot", &[w[0], w[1], ("eventName", "x")]);
    assert_eq!(session.text(histogram).await, "[]");
    let response =
        session.get(session.url("cb/aiworkbench/v1/chatbots/bot-support/download/other", &w)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers().contains_key("correlationid"));
    assert_eq!(response.bytes().await.unwrap().len(), 0);
    // A known bot with nothing yet (today is never ready): the empty list too.
    let today = window("2024-05-20T00:00:00Z", "2024-05-20T12:00:00Z");
    assert_eq!(session.text(session.detail_url("bot-support", &today)).await, "[]");
    assert_eq!(sim.stats().empty_answers, 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn credentials_and_tokens_are_checked() {
    let sim = start(config()).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let login = |account: &str, password: &str| {
        http.post(base.join(&format!("api/account/{account}/login?v=1.3")).unwrap())
            .json(&serde_json::json!({ "username": "sim-user", "password": password }))
            .send()
    };
    for response in [login("12345678", "wrong").await.unwrap(), login("87654321", "sim-password").await.unwrap()] {
        assert_eq!(response.status(), 401);
        assert_eq!(response.bytes().await.unwrap().len(), 0);
    }
    let sso = |key: &str, authorization: &str| {
        http.get(base.join("cb/auth/v1/sso/authenticate").unwrap())
            .header("x-api-key", key)
            .header("authorization", authorization)
            .send()
    };
    assert_eq!(sso("sim-api-key", "Bearer forged").await.unwrap().status(), 401);

    let session = Session::new(&sim).await;
    let bearer_less = sso("wrong-key", "Bearer x").await.unwrap();
    assert_eq!(bearer_less.status(), 401);

    let url = session.detail_url("bot-support", &window("2024-05-18T00:00:00Z", "2024-05-18T01:00:00Z"));
    let send = |key: &str, authorization: &str, org: &str| {
        http.get(url.clone())
            .header("X-API-KEY", key)
            .header("Authorization", authorization)
            .header("ORGANIZATIONID", org)
            .send()
    };
    let (key, token, org) = (session.key.as_str(), session.token.as_str(), session.org.as_str());
    assert_eq!(send(key, token, org).await.unwrap().status(), 200, "header names are case-insensitive");
    assert_eq!(send(key, &format!("Bearer {token}"), org).await.unwrap().status(), 401);
    assert_eq!(send("other-key", token, org).await.unwrap().status(), 401);
    assert_eq!(send(key, token, "other-org").await.unwrap().status(), 401);
    let missing = http.get(url.clone()).header("x-api-key", key).header("authorization", token).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.bytes().await.unwrap().len(), 0);
    // Another account in the path.
    let other = session.url(
        "cb/analytics/v1/accounts/999/customEvents/bot-support",
        &window("2024-05-18T00:00:00Z", "2024-05-18T01:00:00Z"),
    );
    assert_eq!(session.get(other).send().await.unwrap().status(), 401);
    // An expired session.
    sim.revoke_tokens();
    assert_eq!(send(key, token, org).await.unwrap().status(), 401);
    let again = Session::new(&sim).await;
    assert_eq!(again.org, session.org, "the organization id is static");
    assert_eq!(again.get(url.clone()).send().await.unwrap().status(), 200);

    let stats = sim.stats();
    assert_eq!(stats.rejected_401, 10);
    assert_eq!(stats.by_endpoint["login"], 4);
    assert_eq!(stats.by_endpoint["sso"], 4);
    assert_eq!(stats.data_requests, 8);
    sim.shutdown().await;
}

#[tokio::test]
async fn parameters_are_validated() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let bad: &[&[(&str, &str)]] = &[
        &[("endDate", "2024-05-19T00:00:00Z")],
        &[("startDate", "2024-05-18T00:00:00Z")],
        &[("startDate", "2024-05-18"), ("endDate", "2024-05-19T00:00:00Z")],
        &[("startDate", "yesterday"), ("endDate", "2024-05-19T00:00:00Z")],
        &[("startDate", "2024-05-19T00:00:00Z"), ("endDate", "2024-05-18T00:00:00Z")],
        &[("startDate", "2024-05-11T23:59:59Z"), ("endDate", "2024-05-19T00:00:00Z")],
        &[("startDate", "2024-04-20T11:59:59Z"), ("endDate", "2024-04-21T00:00:00Z")],
        &[("startDate", "2024-05-18T00:00:00Z"), ("endDate", "2024-05-19T00:00:00Z"), ("platform", "APPLE")],
    ];
    for params in bad {
        let response = session.get(session.detail_url("bot-support", params)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{params:?}");
        assert!(response.headers().contains_key("correlationid"));
        assert_eq!(response.bytes().await.unwrap().len(), 0);
    }
    let weekly = [("startDate", "2024-05-18T00:00:00Z"), ("endDate", "2024-05-19T00:00:00Z"), ("interval", "weekly")];
    assert_eq!(session.get(session.total_url("bot-support", &weekly)).send().await.unwrap().status(), 400);
    // Exactly 7 days, fractional seconds and offsets are fine; so is the oldest allowed start.
    let good: &[&[(&str, &str)]] = &[
        &[("startDate", "2024-05-12T00:00:00Z"), ("endDate", "2024-05-19T00:00:00Z")],
        &[("startDate", "2024-05-12T00:00:00.000Z"), ("endDate", "2024-05-18T20:00:00-04:00")],
        &[("startDate", "2024-04-20T12:00:00Z"), ("endDate", "2024-04-21T00:00:00Z")],
    ];
    for params in good {
        let response = session.get(session.total_url("bot-support", params)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{params:?}");
    }
    assert_eq!(sim.stats().rejected_400, 9);
    sim.shutdown().await;
}

#[tokio::test]
async fn every_response_has_a_unique_correlation_id() {
    let sim = start(SimConfig { max_rps: 3, ..config() }).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let mut ids = HashSet::new();
    let mut statuses = HashSet::new();
    let requests = [
        http.get(base.join("api/account/12345678/service/agentVep/baseURI.json?version=1.0").unwrap()),
        http.get(base.join("nowhere").unwrap()),
        http.get(base.join("api/account/12345678/login").unwrap()),
        http.post(base.join("api/account/12345678/login").unwrap()).body("not json"),
        http.get(base.join("cb/auth/v1/sso/authenticate").unwrap()).header("x-api-key", "k"),
        http.get(base.join("cb/auth/v1/sso/authenticate").unwrap()).header("x-api-key", "k"),
        http.get(base.join("cb/auth/v1/sso/authenticate").unwrap()).header("x-api-key", "k"),
        http.get(base.join("cb/auth/v1/sso/authenticate").unwrap()).header("x-api-key", "k"),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        statuses.insert(response.status().as_u16());
        assert!(ids.insert(correlation_id(&response)));
    }
    assert_eq!(statuses, HashSet::from([200, 404, 405, 400, 401, 429]));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_burst_over_the_rate_limit_gets_429() {
    let sim = start(SimConfig { max_rps: 5, ..config() }).await;
    let http = reqwest::Client::new();
    let url = sim.base_url().join("cb/auth/v1/sso/authenticate").unwrap();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let response = http.get(url.clone()).header("x-api-key", "burst-key").send().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert_eq!(response.bytes().await.unwrap().len(), 0);
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    // Other keys, and requests without a key, have their own budget.
    let other = http.get(url.clone()).header("x-api-key", "other-key").send().await.unwrap();
    assert_eq!(other.status(), 401);
    assert_eq!(sim.stats().rejected_429, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn evenly_spaced_requests_are_never_rejected() {
    // 12 requests at 10/s: spans 1.1 s, so the sliding window rolls over.
    let sim = start(SimConfig { max_rps: 10, ..config() }).await;
    let http = reqwest::Client::new();
    let url = sim.base_url().join("cb/auth/v1/sso/authenticate").unwrap();
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..12 {
        ticks.tick().await;
        let response = http.get(url.clone()).header("x-api-key", "steady").send().await.unwrap();
        assert_eq!(response.status(), 401, "request {i}");
    }
    assert_eq!(sim.stats().rejected_429, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_faults() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let url = session.detail_url("bot-support", &window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z"));
    let full = session.text(url.clone()).await;

    sim.inject(Fault::Status(503), 1);
    sim.inject(Fault::Status(429), 1);
    sim.inject(Fault::Truncate { after_bytes: 70_000 }, 1);
    sim.inject(Fault::Slow { chunk_delay: Duration::from_millis(5) }, 1);
    let response = session.get(url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.bytes().await.unwrap().len(), 0);
    let response = session.get(url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let response = session.get(url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut received = 0;
    let mut stream = response.bytes_stream();
    let mut failed = false;
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        match chunk {
            Ok(chunk) => received += chunk.len(),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "a truncated body must fail, not end");
    assert_eq!(received, 70_000);
    assert_eq!(session.text(url.clone()).await, full, "slow, but whole");
    assert_eq!(session.text(url).await, full, "faults are used up");
    assert_eq!(sim.stats().rejected_429, 1);
    sim.shutdown().await;
}

/// Reads a body to its end: `Ok(bytes)` if it completed, `Err(bytes received)` if it broke.
async fn drain(response: reqwest::Response) -> Result<usize, usize> {
    let mut received = 0;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        match chunk {
            Ok(chunk) => received += chunk.len(),
            Err(_) => return Err(received),
        }
    }
    Ok(received)
}

#[tokio::test]
async fn connection_faults_drop_short_stall_and_hang() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let url = session.detail_url("bot-support", &window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z"));
    let full = session.text(url.clone()).await;

    sim.inject(Fault::Drop, 1);
    let err = session.get(url.clone()).send().await.expect_err("dropped before the response head");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");

    sim.inject(Fault::ShortBody { after_bytes: 5_000 }, 1);
    let response = session.get(url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(5_001), "promises more than it sends");
    assert_eq!(drain(response).await, Err(5_000));

    sim.inject(Fault::RateLimited { retry_after_secs: None }, 1);
    let response = session.get(url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_none());

    // A stalled body and a hanging request: the client's read timeout ends them.
    let impatient = reqwest::Client::builder().read_timeout(Duration::from_millis(300)).build().unwrap();
    let with_auth = |url: url::Url| {
        impatient
            .get(url)
            .header("x-api-key", &session.key)
            .header("Authorization", &session.token)
            .header("organizationId", &session.org)
    };
    sim.inject(Fault::Stall { after_bytes: 3_000 }, 1);
    let response = with_auth(url.clone()).send().await.unwrap();
    assert_eq!(drain(response).await, Err(3_000));
    sim.inject(Fault::Hang, 1);
    let err = with_auth(url.clone()).send().await.expect_err("no answer");
    assert!(err.is_timeout(), "{err:?}");

    assert_eq!(session.text(url.clone()).await, full, "faults are used up");
    let faults = sim.stats().faults;
    assert_eq!(
        faults.into_iter().collect::<Vec<_>>(),
        [("429-bare", 1), ("drop", 1), ("hang", 1), ("short", 1), ("stall", 1)].map(|(k, n)| (k.to_owned(), n))
    );

    // A request still hanging when the simulator stops does not hold up its shutdown.
    sim.inject(Fault::Hang, 1);
    let hanging = tokio::spawn(session.get(url).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(3), sim.shutdown()).await.expect("shutdown ends a hang");
    assert!(hanging.await.unwrap().is_err());
}

#[tokio::test]
async fn auth_faults_and_expiring_tokens() {
    let sim = start(SimConfig { token_calls: Some(2), ..config() }).await;
    let session = Session::new(&sim).await;
    let url = session.detail_url("bot-sales", &window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z"));
    assert_eq!(session.get(url.clone()).send().await.unwrap().status(), 200);
    assert_eq!(session.get(url.clone()).send().await.unwrap().status(), 200);
    assert_eq!(session.get(url.clone()).send().await.unwrap().status(), 401, "the token's two calls are used");
    assert_eq!(sim.stats().expired_tokens, 1);

    sim.inject_into(Scope::Auth, Fault::Status(429), 2);
    let login = session.url(&format!("api/account/{}/login", session.account), &[]);
    let credentials = serde_json::json!({ "username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD });
    for _ in 0..2 {
        let response = session.http.post(login.clone()).json(&credentials).send().await.unwrap();
        assert_eq!(response.status(), 429);
    }
    assert_eq!(session.http.post(login).json(&credentials).send().await.unwrap().status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn chaos_fails_a_seeded_share_of_requests() {
    let chaos = Chaos { seed: 3, percent: 40, mix: vec![Fault::Status(503), Fault::Drop], auth: false };
    let sim = start(SimConfig { chaos: Some(chaos), ..config() }).await;
    let session = Session::new(&sim).await;
    let url = session.detail_url("bot-sales", &window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z"));
    let mut failed = 0;
    for _ in 0..50 {
        match session.get(url.clone()).send().await {
            Ok(response) if response.status() == 200 => {}
            _ => failed += 1,
        }
    }
    let faults = sim.stats().faults;
    assert_eq!(faults.values().sum::<u64>(), failed);
    assert!((10..=35).contains(&failed), "about 40% of 50: {failed}");
    assert_eq!(faults.len(), 2, "both kinds drawn: {faults:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_count_every_endpoint() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let w = window("2024-05-18T00:00:00Z", "2024-05-18T06:00:00Z");
    session.text(session.detail_url("bot-sales", &w)).await;
    session.text(session.total_url("bot-sales", &w)).await;
    session.text(session.catalog_url("bot-sales", &w)).await;
    let stats = sim.stats();
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.data_requests, 3);
    let names: Vec<&str> = stats.by_endpoint.keys().map(String::as_str).collect();
    assert_eq!(names, ["baseURI", "customEventDetail", "customEventTotal", "customEvents", "login", "sso"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_vanished_client_does_not_stop_the_server() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let url = session.detail_url("bot-busy", &window("2024-05-12T00:00:00Z", "2024-05-13T00:00:00Z"));
    let response = session.get(url.clone()).send().await.unwrap();
    let mut stream = response.bytes_stream();
    let first = futures::StreamExt::next(&mut stream).await.unwrap().unwrap();
    assert!(first.starts_with(csv::DETAIL_HEADER.as_bytes()));
    drop(stream);
    let catalog = session.catalog_url("bot-sales", &window("2024-05-18T00:00:00Z", "2024-05-18T06:00:00Z"));
    assert_eq!(session.get(catalog).send().await.unwrap().status(), 200);
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn more_concurrent_bodies_than_generators_all_complete() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let url = session.detail_url("bot-sales", &window("2024-05-14T00:00:00Z", "2024-05-18T00:00:00Z"));
    let bodies = futures::future::join_all((0..24).map(|_| session.text(url.clone()))).await;
    assert!(bodies.iter().all(|body| *body == bodies[0]));
    assert!(bodies[0].len() > 10_000);
    sim.shutdown().await;
}

/// The default configuration with this dialect.
fn with_dialect(dialect: SimDialect) -> SimConfig {
    SimConfig { dialect, ..config() }
}

/// Status, content type and body of a data request.
async fn answer(session: &Session, url: url::Url) -> (u16, String, String) {
    let response = session.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|value| value.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn interval_spellings() {
    let cases: [(IntervalSpelling, &[&str], &[&str]); 4] = [
        (IntervalSpelling::Strict, &["Daily", "Hourly"], &["daily", "DAILY", "hourly", "HOURLY", "dAILY", "Daily%20"]),
        (IntervalSpelling::Lenient, &["daily", "DAILY", "Daily", "hOURLY"], &["weekly", "Dai ly"]),
        (IntervalSpelling::Upper, &["DAILY", "HOURLY"], &["Daily", "daily", "Hourly"]),
        (IntervalSpelling::Lower, &["daily", "hourly"], &["Daily", "DAILY", "HOURLY"]),
    ];
    for (spelling, good, bad) in cases {
        let sim = start(with_dialect(SimDialect { interval: spelling, ..SimDialect::default() })).await;
        let session = Session::new(&sim).await;
        let w = window("2024-05-18T00:00:00Z", "2024-05-18T06:00:00Z");
        let with = |interval: &str| {
            let total = session.total_url("bot-support", &[w[0], w[1], ("interval", interval)]);
            let histogram =
                session.histogram_url("bot-support", &[w[0], w[1], ("eventName", "UserInput"), ("interval", interval)]);
            [total, histogram]
        };
        for interval in good {
            for url in with(interval) {
                assert_eq!(session.get(url).send().await.unwrap().status(), 200, "{spelling} {interval}");
            }
        }
        for interval in bad {
            for url in with(interval) {
                let response = session.get(url).send().await.unwrap();
                assert_eq!(response.status(), 400, "{spelling} {interval}");
                assert_eq!(response.bytes().await.unwrap().len(), 0);
            }
        }
        // No interval is daily, in every spelling.
        let daily = session.text(session.total_url("bot-support", &w)).await;
        assert!(daily.ends_with(",2024-05-18\n"), "{daily}");
        let stats = sim.stats();
        assert_eq!(stats.rejected_400, 2 * bad.len() as u64);
        assert_eq!(stats.bad_params, BTreeMap::from([("interval".to_owned(), 2 * bad.len() as u64)]));
        assert_eq!(stats.by_interval_spelling[good[0]], 2);
        assert_eq!(stats.by_interval_spelling["(absent)"], 1);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn a_plus_in_the_query_is_a_plus() {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let (start, end) = ("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z");
    let truth = expected(sim.config(), "bot-support", start, end);
    let path = "/cb/aiworkbench/v1/chatbots/bot-support/download/customEventDetail";
    let dates = "startDate=2024-05-18T00%3A00%3A00Z&endDate=2024-05-19T00%3A00%3A00Z";
    for name in ["Réponse, \"oui\"", "Coupon applied %20OFF"] {
        let want: Vec<SimEvent> = truth.iter().filter(|e| e.event_name == name).cloned().collect();
        assert!(!want.is_empty(), "{name}");
        // RFC 3986: a space is %20.
        let rfc = session.detail_url("bot-support", &[("startDate", start), ("endDate", end), ("eventName", name)]);
        assert_eq!(events_from_csv(&session.text(rfc.clone()).await), want);
        // HTML form encoding: a space is '+', which the server reads as a plus.
        let form: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        assert!(form.contains('+'));
        let mut plus = rfc.clone();
        plus.set_query(Some(&format!("{dates}&eventName={form}")));
        assert_eq!(session.text(plus).await, "[]", "{form} names another event");
        let seen = sim.requests_seen();
        assert_eq!(seen[seen.len() - 2], format!("{path}?{}", rfc.query().unwrap()));
        assert_eq!(seen[seen.len() - 1], format!("{path}?{dates}&eventName={form}"));
    }
    assert_eq!(
        sim.requests_seen()[2],
        format!("{path}?{dates}&eventName=Coupon%20applied%20%2520OFF"),
        "path and query as sent"
    );
    assert_eq!(sim.requests_seen().len(), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn empty_answers_in_every_form() {
    let header_histogram = r#"{"customEventName":"UserInput","channelTotal":{"ABC":0,"FACEBOOK":0,"HTMLCLIENT":0,"INAPP":0,"LINE":0,"RCS":0,"SMS":0,"TWITTER":0,"VIBER":0,"VOICE":0},"histories":[],"total":0}"#;
    let json = "application/json";
    let csv = "text/csv";
    // Per form: (content type, body) of detail, totals, catalog, histogram.
    let forms: [(EmptyAnswer, [(&str, &str); 4]); 6] = [
        (EmptyAnswer::Brackets, [(json, "[]"), (json, "[]"), (json, "[]"), (json, "[]")]),
        (EmptyAnswer::Spaced, [(json, "[ ]\n"), (json, "[ ]\n"), (json, "[ ]\n"), (json, "[ ]\n")]),
        (EmptyAnswer::Empty, [(csv, ""), (csv, ""), (json, ""), (json, "")]),
        (
            EmptyAnswer::Header,
            [
                (csv, "eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\n"),
                (csv, "Event Name,Event Detail,Event total,Date\n"),
                (json, r#"{"customEventList":[]}"#),
                (json, header_histogram),
            ],
        ),
        (EmptyAnswer::Object, [(json, "{}"), (json, "{}"), (json, "{}"), (json, "{}")]),
        (EmptyAnswer::Null, [(json, "null"), (json, "null"), (json, "null"), (json, "null")]),
    ];
    for (form, want) in forms {
        let sim = start(with_dialect(SimDialect { empty: form, ..SimDialect::default() })).await;
        let session = Session::new(&sim).await;
        // A known bot on a day that is not ready yet, and a bot the simulator does not have.
        let today = window("2024-05-20T00:00:00Z", "2024-05-20T12:00:00Z");
        for bot in ["bot-support", "no-such-bot"] {
            let histogram = [today[0], today[1], ("eventName", "UserInput")];
            let urls = [
                session.detail_url(bot, &today),
                session.total_url(bot, &today),
                session.catalog_url(bot, &today),
                session.histogram_url(bot, &histogram),
            ];
            for (url, (content_type, body)) in urls.into_iter().zip(want) {
                let path = url.path().to_owned();
                assert_eq!(
                    answer(&session, url).await,
                    (200, content_type.to_owned(), body.to_owned()),
                    "{form} {path}"
                );
            }
        }
        // A filter that matches nothing is empty too; rows are CSV as ever.
        let day = window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z");
        let nothing = session.detail_url("bot-support", &[day[0], day[1], ("eventName", "no such event")]);
        assert_eq!(answer(&session, nothing).await.2, want[0].1);
        let (status, content_type, body) = answer(&session, session.total_url("bot-support", &day)).await;
        assert_eq!((status, content_type.as_str()), (200, csv));
        assert!(body.starts_with("Event Name,"));
        assert_eq!(sim.stats().empty_answers, 9);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn hourly_date_forms() {
    let (from, to) = ("2024-05-18T00:00:00Z", "2024-05-18T04:00:00Z");
    let hourly = [("startDate", from), ("endDate", to), ("interval", "Hourly")];
    let (_, default) = start_default_totals(&hourly).await;
    assert!(default.keys().all(|(date, ..)| date.len() == "2024-05-18 00:00".len()));
    let hours: HashSet<&str> = default.keys().map(|(date, ..)| date.as_str()).collect();
    assert_eq!(hours.len(), 4);
    type Format = fn(DateTime<Utc>) -> String;
    let forms: [(HourlyDate, Format, &str); 7] = [
        (HourlyDate::SpaceMinutes, |t| t.format("%Y-%m-%d %H:%M").to_string(), "2024-05-18 03:00"),
        (HourlyDate::SpaceHour, |t| t.format("%Y-%m-%d %H").to_string(), "2024-05-18 03"),
        (HourlyDate::TMinutes, |t| t.format("%Y-%m-%dT%H:%M").to_string(), "2024-05-18T03:00"),
        (HourlyDate::Rfc3339Z, |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "2024-05-18T03:00:00Z"),
        (HourlyDate::Rfc3339Offset, |t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(), "2024-05-18T03:00:00+00:00"),
        (HourlyDate::EpochMs, |t| t.timestamp_millis().to_string(), "1716001200000"),
        // The time column, joined to the date with a space by `count_totals`.
        (HourlyDate::TimeColumn, |t| t.format("%Y-%m-%d %H:%M").to_string(), "2024-05-18 03:00"),
    ];
    for (form, format, newest) in forms {
        let sim = start(with_dialect(SimDialect { hourly_date: form, ..SimDialect::default() })).await;
        let session = Session::new(&sim).await;
        let text = session.text(session.total_url("bot-support", &hourly)).await;
        assert_eq!(text.lines().next().unwrap().ends_with(",Date,Time"), form == HourlyDate::TimeColumn, "{form}");
        let (_, counts) = count_totals(&text);
        let want: TotalCounts = default
            .iter()
            .map(|((date, name, detail, platform), n)| {
                let hour = chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M").unwrap().and_utc();
                ((format(hour), name.clone(), detail.clone(), platform.clone()), *n)
            })
            .collect();
        assert_eq!(counts, want, "{form}");
        assert_eq!(counts.keys().map(|(date, ..)| date.as_str()).max(), Some(newest), "{form}");
        // Daily totals keep their plain date.
        let daily = session.text(session.total_url("bot-support", &window(from, to))).await;
        assert!(daily.starts_with("Event Name,") && daily.lines().next().unwrap().ends_with(",Date"));
        assert!(daily.ends_with(",2024-05-18\n"), "{form}");
        sim.shutdown().await;
    }
}

/// Starts a default simulator and returns it with the counts of one totals request.
async fn start_default_totals(params: &[(&str, &str)]) -> (Vec<String>, TotalCounts) {
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let totals = count_totals(&session.text(session.total_url("bot-support", params)).await);
    sim.shutdown().await;
    totals
}

#[tokio::test]
async fn buckets_of_a_server_clock_east_of_utc() {
    let sim = start(with_dialect(SimDialect { bucket_offset_hours: 2, ..SimDialect::default() })).await;
    let session = Session::new(&sim).await;
    let (from, to) = ("2024-05-17T00:00:00Z", "2024-05-18T00:00:00Z");
    // The two server days that overlap the UTC day, each whole: [16th 22:00Z, 18th 22:00Z).
    let (first, second, last) = (at("2024-05-16T22:00:00Z"), at("2024-05-17T22:00:00Z"), at("2024-05-18T22:00:00Z"));
    let events: Vec<SimEvent> = expected(sim.config(), "bot-support", "2024-05-16T00:00:00Z", "2024-05-18T23:59:59Z")
        .into_iter()
        .filter(|e| first <= e.event_time && e.event_time < last)
        .collect();
    let bucket = |e: &SimEvent| if e.event_time < second { first } else { second };
    assert!(events.iter().any(|e| e.event_time < at(from)) && events.iter().any(|e| e.event_time >= at(to)));

    let text = session.text(session.total_url("bot-support", &window(from, to))).await;
    let (_, totals) = count_totals(&text);
    let mut want = BTreeMap::new();
    for e in &events {
        let detail = if data::has_children(&e.event_name) { e.event_details.clone() } else { String::new() };
        let date = bucket(e).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        *want.entry((date, e.event_name.clone(), detail, e.platform.clone())).or_insert(0) += 1;
    }
    assert_eq!(totals, want);
    let dates: HashSet<&str> = totals.keys().map(|(date, ..)| date.as_str()).collect();
    assert_eq!(dates, HashSet::from(["2024-05-16T22:00:00Z", "2024-05-17T22:00:00Z"]));

    let url = session.histogram_url(
        "bot-support",
        &[("startDate", from), ("endDate", to), ("eventName", "UserInput"), ("interval", "Daily")],
    );
    let histogram: serde_json::Value = serde_json::from_str(&session.text(url).await).unwrap();
    let histories: Vec<(String, u64)> = histogram["histories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["dateTime"].as_str().unwrap().to_owned(), h["platformTotal"].as_u64().unwrap()))
        .collect();
    let count = |b: DateTime<Utc>| events.iter().filter(|e| e.event_name == "UserInput" && bucket(e) == b).count();
    assert_eq!(
        histories,
        [first, second].map(|b| (b.timestamp_millis().to_string(), count(b) as u64)),
        "epoch milliseconds of 22:00Z"
    );
    assert_eq!(histogram["total"].as_u64().unwrap(), (count(first) + count(second)) as u64);

    // Hours: every hour that overlaps the window, whole.
    let url = session.histogram_url(
        "bot-support",
        &[
            ("startDate", "2024-05-17T10:30:00Z"),
            ("endDate", "2024-05-17T12:00:00Z"),
            ("eventName", "UserInput"),
            ("interval", "Hourly"),
        ],
    );
    let histogram: serde_json::Value = serde_json::from_str(&session.text(url).await).unwrap();
    let hours: Vec<&str> =
        histogram["histories"].as_array().unwrap().iter().map(|h| h["dateTime"].as_str().unwrap()).collect();
    let ten = at("2024-05-17T10:00:00Z");
    assert_eq!(hours, [ten, ten + chrono::Duration::hours(1)].map(|t| t.timestamp_millis().to_string()));
    sim.shutdown().await;

    // West of UTC: server days start at 05:00Z.
    let sim = start(with_dialect(SimDialect { bucket_offset_hours: -5, ..SimDialect::default() })).await;
    let session = Session::new(&sim).await;
    let (_, totals) = count_totals(&session.text(session.total_url("bot-support", &window(from, to))).await);
    let dates: HashSet<&str> = totals.keys().map(|(date, ..)| date.as_str()).collect();
    assert_eq!(dates, HashSet::from(["2024-05-16T05:00:00Z", "2024-05-17T05:00:00Z"]));
    sim.shutdown().await;

    let beyond = SimDialect { bucket_offset_hours: 24, ..SimDialect::default() };
    let err = Simulator::start(with_dialect(beyond), "127.0.0.1:0".parse().unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn platform_column_case() {
    let w = window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z");
    let (upper, upper_counts) = start_default_totals(&w).await;
    assert!(upper.contains(&"HTMLCLIENT".to_owned()) && upper.contains(&"WHATSAPP".to_owned()));
    for case in [PlatformCase::Mixed, PlatformCase::Lower] {
        let sim = start(with_dialect(SimDialect { platform_case: case, ..SimDialect::default() })).await;
        let session = Session::new(&sim).await;
        let (columns, counts) = count_totals(&session.text(session.total_url("bot-support", &w)).await);
        match case {
            PlatformCase::Mixed => {
                assert!(columns.contains(&"HtmlClient".to_owned()) && columns.contains(&"WhatsApp".to_owned()));
            }
            _ => assert!(columns.iter().all(|c| *c == c.to_lowercase())),
        }
        let as_upper: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
        assert_eq!(as_upper, upper, "{case}: the same letters, in the same order");
        let counts: TotalCounts =
            counts.into_iter().map(|((d, n, x, platform), c)| ((d, n, x, platform.to_uppercase()), c)).collect();
        assert_eq!(counts, upper_counts);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn discovery_in_collection_form() {
    let sim = start(with_dialect(SimDialect { discovery: Discovery::Collection, ..SimDialect::default() })).await;
    let url = sim.base_url().join("api/account/12345678/service/agentVep/baseURI.json?version=1.0").unwrap();
    let discovery: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let list = discovery["baseURIs"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_ne!(list[0]["service"], "agentVep", "another service comes first");
    assert_ne!(list[0]["baseURI"], format!("127.0.0.1:{}", sim.addr().port()));
    assert_eq!(
        list[1],
        serde_json::json!({ "service": "agentVep", "account": "12345678", "baseURI": format!("127.0.0.1:{}", sim.addr().port()) })
    );
    assert!(discovery.get("baseURI").is_none());
    // Selecting by service logs in as ever.
    let session = Session::new(&sim).await;
    session.text(session.catalog_url("bot-sales", &window("2024-05-18T00:00:00Z", "2024-05-18T06:00:00Z"))).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn histogram_counts_as_strings() {
    let params = [
        ("startDate", "2024-05-18T00:00:00Z"),
        ("endDate", "2024-05-19T00:00:00Z"),
        ("eventName", "UserInput"),
        ("interval", "Hourly"),
    ];
    let numbers = start(config()).await;
    let session = Session::new(&numbers).await;
    let want: serde_json::Value =
        serde_json::from_str(&session.text(session.histogram_url("bot-support", &params)).await).unwrap();
    numbers.shutdown().await;
    let dialect = SimDialect { string_counts: true, empty: EmptyAnswer::Header, ..SimDialect::default() };
    let sim = start(with_dialect(dialect)).await;
    let session = Session::new(&sim).await;
    let got: serde_json::Value =
        serde_json::from_str(&session.text(session.histogram_url("bot-support", &params)).await).unwrap();
    // A number n is the string "n", and 0 is null.
    let as_number = |count: &serde_json::Value| match count {
        serde_json::Value::Null => serde_json::json!(0),
        serde_json::Value::String(text) => {
            assert_ne!(text, "0");
            serde_json::json!(text.parse::<u64>().unwrap())
        }
        other => panic!("not a string count: {other}"),
    };
    let numbers_of = |map: &serde_json::Value| -> serde_json::Value {
        map.as_object().unwrap().iter().map(|(k, v)| (k.clone(), as_number(v))).collect()
    };
    assert!(got["total"].is_string());
    assert_eq!(as_number(&got["total"]), want["total"]);
    assert_eq!(numbers_of(&got["channelTotal"]), want["channelTotal"]);
    assert!(got["channelTotal"]["TWITTER"].is_null() || got["channelTotal"]["TWITTER"].is_string());
    let (got, want) = (got["histories"].as_array().unwrap(), want["histories"].as_array().unwrap());
    assert_eq!(got.len(), want.len());
    assert!(got.iter().any(|h| h["platformCount"].as_object().unwrap().values().any(serde_json::Value::is_null)));
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g["dateTime"], w["dateTime"]);
        assert!(g["platformTotal"].is_string());
        assert_eq!(as_number(&g["platformTotal"]), w["platformTotal"]);
        assert_eq!(numbers_of(&g["platformCount"]), w["platformCount"]);
    }
    // The empty histogram's zero total is null too.
    let nothing = session.histogram_url("no-such-bot", &params);
    let empty: serde_json::Value = serde_json::from_str(&session.text(nothing).await).unwrap();
    assert_eq!((&empty["total"], &empty["histories"]), (&serde_json::Value::Null, &serde_json::json!([])));
    sim.shutdown().await;
}

#[tokio::test]
async fn bearer_tokens_on_data_calls() {
    let sim = start(with_dialect(SimDialect { data_auth: DataAuth::Bearer, ..SimDialect::default() })).await;
    let session = Session::new(&sim).await;
    let url = session.detail_url("bot-sales", &window("2024-05-18T00:00:00Z", "2024-05-18T06:00:00Z"));
    assert!(session.authorization.starts_with("Bearer "));
    assert_eq!(session.get(url.clone()).send().await.unwrap().status(), 200);
    let send = |authorization: String| {
        session
            .http
            .get(url.clone())
            .header("x-api-key", &session.key)
            .header("authorization", authorization)
            .header("organizationId", &session.org)
            .send()
    };
    assert_eq!(send(format!("bearer {}", session.token)).await.unwrap().status(), 200, "the scheme in any case");
    let raw = send(session.token.clone()).await.unwrap();
    assert_eq!(raw.status(), 401, "the token alone");
    assert_eq!(raw.bytes().await.unwrap().len(), 0);
    assert_eq!(send(format!("Bearer {}x", session.token)).await.unwrap().status(), 401);
    assert_eq!(sim.stats().rejected_401, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn dates_with_an_offset_only() {
    let sim = start(with_dialect(SimDialect { dates: DateForm::Offset, ..SimDialect::default() })).await;
    let session = Session::new(&sim).await;
    let zulu = session.detail_url("bot-sales", &window("2024-05-18T00:00:00Z", "2024-05-18T06:00:00+00:00"));
    let response = session.get(zulu).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.bytes().await.unwrap().len(), 0);
    // `+` escaped as %2B, or left as it is (RFC 3986: a plus), or a negative offset: all fine.
    let encoded = session.detail_url("bot-sales", &window("2024-05-18T00:00:00+00:00", "2024-05-18T06:00:00+00:00"));
    assert!(encoded.query().unwrap().contains("%2B00%3A00"));
    let body = session.text(encoded.clone()).await;
    let mut literal = encoded.clone();
    literal.set_query(Some("startDate=2024-05-18T00:00:00+00:00&endDate=2024-05-18T06:00:00+00:00"));
    assert_eq!(session.text(literal).await, body);
    let west = session.detail_url("bot-sales", &window("2024-05-17T20:00:00-04:00", "2024-05-18T02:00:00-04:00"));
    assert_eq!(session.text(west).await, body);
    let truth = expected(sim.config(), "bot-sales", "2024-05-18T00:00:00Z", "2024-05-18T06:00:00Z");
    assert_eq!(events_from_csv(&body), truth);
    let stats = sim.stats();
    assert_eq!(stats.bad_params, BTreeMap::from([("date-form".to_owned(), 1)]));
    sim.shutdown().await;

    // The lenient dialect takes any case and any date, as the simulator once did.
    let sim = start(with_dialect(SimDialect::lenient())).await;
    let session = Session::new(&sim).await;
    let params =
        [("startDate", "2024-05-18T00:00:00Z"), ("endDate", "2024-05-18T06:00:00-00:00"), ("interval", "daily")];
    assert_eq!(session.get(session.total_url("bot-sales", &params)).send().await.unwrap().status(), 200);
    sim.shutdown().await;
}

/// Access tokens that expire by age, a bearer that SSO accepts for a while, and logins spaced
/// per account (429 with Retry-After).
#[tokio::test]
async fn tokens_expire_by_age_and_logins_are_spaced() {
    let config = SimConfig {
        token_ttl: Some(Duration::from_millis(1_000)),
        bearer_ttl: Some(Duration::from_millis(2_500)),
        login_interval: Some(VENDOR_LOGIN_INTERVAL),
        ..config()
    };
    let sim = start(config.clone()).await;
    let session = Session::new(&sim).await;
    let url = session.detail_url("bot-sales", &window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z"));
    assert_eq!(session.get(url.clone()).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for _ in 0..2 {
        assert_eq!(session.get(url.clone()).send().await.unwrap().status(), 401, "the token is over 1 s old");
    }
    assert_eq!(sim.stats().expired_tokens, 2, "every request with the expired token is refused as expired");
    // SSO with the login's bearer mints a new token: no login needed.
    let sso: serde_json::Value = session.sso().await.json().await.unwrap();
    let token = sso["successResult"]["apiAccessToken"].as_str().unwrap();
    let renewed = session.http.get(url.clone()).header("x-api-key", &session.key).header("authorization", token);
    assert_eq!(renewed.header("organizationId", &session.org).send().await.unwrap().status(), 200);
    // Once the bearer is 2.5 s old, SSO refuses it; a login this soon is refused with Retry-After.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(session.sso().await.status(), 401);
    let refused = session.login(&config).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "5", "the vendor's 5 seconds");
    assert!(correlation_id(&refused).len() > 10);
    assert_eq!(refused.bytes().await.unwrap().len(), 0);
    let stats = sim.stats();
    assert_eq!((stats.sso_refused, stats.logins_refused, stats.expired_tokens), (1, 1, 2), "{stats:?}");
    assert_eq!((stats.by_endpoint["login"], stats.by_endpoint["sso"]), (2, 3), "{stats:?}");
    sim.shutdown().await;
}

/// Gzip bodies for requests that accept gzip, plain ones for the rest; the compressed stream
/// inflates to the plain body byte for byte, and a body fault cuts the compressed stream.
#[tokio::test]
async fn gzip_bodies_when_asked() {
    use std::io::Read;
    let sim = start(config()).await;
    let session = Session::new(&sim).await;
    let url = session.detail_url("bot-busy", &window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z"));
    let gunzip = |bytes: &[u8]| {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).map(|_| out)
    };
    let plain = session.get(url.clone()).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    assert!(plain.len() > 1_000_000, "{}", plain.len());
    for accept in ["gzip", "br;q=1.0, gzip;q=0.8", "x-gzip", "identity, GZIP"] {
        let zipped = session.get(url.clone()).header("accept-encoding", accept).send().await.unwrap();
        assert_eq!(zipped.headers()["content-encoding"], "gzip", "{accept}");
        assert_eq!(zipped.headers()["content-type"], "text/csv");
        let wire = zipped.bytes().await.unwrap();
        assert!(wire.len() * 3 < plain.len(), "{accept}: {} of {}", wire.len(), plain.len());
        assert!(gunzip(&wire).unwrap() == plain, "{accept}");
    }
    for accept in ["gzip;q=0", "br", "deflate, identity"] {
        let response = session.get(url.clone()).header("accept-encoding", accept).send().await.unwrap();
        assert!(response.headers().get("content-encoding").is_none(), "{accept}");
    }
    // An empty answer is a gzip stream too.
    let empty = session.detail_url("no-such-bot", &window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z"));
    let zipped = session.get(empty).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(gunzip(&zipped.bytes().await.unwrap()).unwrap(), b"[]");
    // A truncated body: the first 500 compressed bytes arrive, then the connection breaks, and
    // what came does not inflate to a whole stream.
    sim.inject(Fault::Truncate { after_bytes: 500 }, 1);
    let broken = session.get(url.clone()).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(broken.headers()["content-encoding"], "gzip");
    let mut got = Vec::new();
    let mut broken = broken;
    let end = loop {
        match broken.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(end.is_err(), "the connection breaks");
    assert_eq!(got.len(), 500);
    assert!(gunzip(&got).is_err(), "half a gzip stream does not inflate");
    assert_eq!(sim.stats().gzip_bodies, 6);
    sim.shutdown().await;

    let off = start(SimConfig { gzip: false, ..config() }).await;
    let session = Session::new(&off).await;
    let response = session.get(url_on(&session, &url)).header("accept-encoding", "gzip").send().await.unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    assert!(response.bytes().await.unwrap() == plain, "gzip off: the plain body");
    assert_eq!(off.stats().gzip_bodies, 0);
    off.shutdown().await;
}

/// `url` with the host and port of `session`'s simulator.
fn url_on(session: &Session, url: &url::Url) -> url::Url {
    let mut moved = session.base.join(url.path()).unwrap();
    moved.set_query(url.query());
    moved
}

/// The response-time knob: every data answer (status line and body) comes `latency` after its
/// request, and is the same answer as without it.
#[tokio::test]
async fn the_latency_knob_delays_every_data_answer() {
    let latency = Duration::from_millis(400);
    let slow = start(SimConfig { latency, ..config() }).await;
    let fast = start(config()).await;
    let (slow_session, fast_session) = (Session::new(&slow).await, Session::new(&fast).await);
    let params = window("2024-05-18T00:00:00Z", "2024-05-19T00:00:00Z");
    for bot in ["bot-sales", "bot-support"] {
        let url = slow_session.detail_url(bot, &params);
        let sent = std::time::Instant::now();
        let response = slow_session.get(url.clone()).send().await.unwrap();
        let first_byte = sent.elapsed();
        assert_eq!(response.status(), 200);
        assert!(first_byte >= latency, "{bot}: the status line came after {first_byte:?}");
        let body = response.bytes().await.unwrap();
        assert!(body == fast_session.text(url_on(&fast_session, &url)).await.as_bytes(), "{bot}: the same answer");
    }
    let total = slow_session.total_url("bot-sales", &[("interval", "Daily"), params[0], params[1]]);
    let sent = std::time::Instant::now();
    assert_eq!(slow_session.get(total).send().await.unwrap().status(), 200);
    assert!(sent.elapsed() >= latency);
    slow.shutdown().await;
    fast.shutdown().await;
}
