//! An in-process fake AWS endpoint that speaks the real wire formats: STS
//! and IAM query-protocol XML and SESv2 rest-json with `X-Amzn-Errortype`. Each
//! request is answered by a test-supplied function; every request is
//! recorded. The server runs on its own thread and runtime, so sync tests
//! (that run the binary) and async tests can both use it, and stops on Drop.

use super::ServerThread;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    /// The AWS operation: `GetCallerIdentity`, `GetAccessKeyInfo`,
    /// `SimulatePrincipalPolicy`, `GetAccessKeyLastUsed`, `GetAccount`,
    /// `GetEmailIdentity`, `ListEmailIdentities`, `SendEmail`, or `other`.
    pub fn op(&self) -> &'static str {
        const QUERY_OPS: [&str; 4] = [
            "GetCallerIdentity",
            "GetAccessKeyInfo",
            "SimulatePrincipalPolicy",
            "GetAccessKeyLastUsed",
        ];
        match (self.method.as_str(), self.path.as_str()) {
            ("POST", "/") => {
                let action = self.form("Action");
                QUERY_OPS
                    .into_iter()
                    .find(|op| action.as_deref() == Some(*op))
                    .unwrap_or("other")
            }
            ("GET", "/v2/email/account") => "GetAccount",
            ("POST", "/v2/email/list-identities") => "ListEmailIdentities",
            ("GET", p) if p.starts_with("/v2/email/identities/") => "GetEmailIdentity",
            ("POST", "/v2/email/outbound-emails") => "SendEmail",
            _ => "other",
        }
    }

    /// Every value of the form field `key` (query-protocol bodies), decoded.
    pub fn form_all(&self, key: &str) -> Vec<String> {
        self.body
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| percent_decode(k) == key)
            .map(|(_, v)| percent_decode(v))
            .collect()
    }

    /// The form field `key`, decoded.
    pub fn form(&self, key: &str) -> Option<String> {
        self.form_all(key).into_iter().next()
    }

    /// The values of a query-protocol list (`Key.member.1`, `.2`, ...).
    pub fn form_list(&self, key: &str) -> Vec<String> {
        (1..)
            .map_while(|i| self.form(&format!("{key}.member.{i}")))
            .collect()
    }

    /// The identity a `GetEmailIdentity` request names.
    pub fn email_identity(&self) -> Option<String> {
        self.path
            .strip_prefix("/v2/email/identities/")
            .map(percent_decode)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// `%XX` and `+` decoding of a form or path component.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One simulated (action, resource) answer of the fake IAM simulator.
#[derive(Clone, Debug)]
pub struct Sim {
    /// `allowed`, `explicitDeny` or `implicitDeny`, as IAM spells them.
    pub decision: &'static str,
    /// `SourcePolicyId`s of the matched statements.
    pub matched: Vec<&'static str>,
    /// `Some(false)`: the permissions boundary does not allow it.
    pub boundary_allows: Option<bool>,
    /// `Some(false)`: an SCP denies it.
    pub organizations_allow: Option<bool>,
}

impl Sim {
    pub fn allowed(policy: &'static str) -> Sim {
        Sim {
            decision: "allowed",
            matched: vec![policy],
            boundary_allows: None,
            organizations_allow: None,
        }
    }

    pub fn implicit() -> Sim {
        Sim {
            decision: "implicitDeny",
            matched: vec![],
            boundary_allows: None,
            organizations_allow: None,
        }
    }

    pub fn explicit(policy: &'static str) -> Sim {
        Sim {
            decision: "explicitDeny",
            matched: vec![policy],
            boundary_allows: None,
            organizations_allow: None,
        }
    }
}
const REQUEST_ID: &str = "c6104cbe-af31-11e0-8154-cbc7ccf896c7";

impl Reply {
    fn new(status: u16, content_type: &str, body: String) -> Reply {
        Reply {
            status,
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("x-amzn-requestid".into(), REQUEST_ID.into()),
            ],
            body,
        }
    }

    /// STS `GetCallerIdentity` success.
    pub fn sts_identity(arn: &str, account: &str, user_id: &str) -> Reply {
        Reply::new(
            200,
            "text/xml",
            format!(
                "<GetCallerIdentityResponse xmlns=\"{STS_NS}\">\n  <GetCallerIdentityResult>\n    <Arn>{arn}</Arn>\n    <UserId>{user_id}</UserId>\n    <Account>{account}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{REQUEST_ID}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n"
            ),
        )
    }

    /// An STS query-protocol error document.
    pub fn sts_error(status: u16, code: &str, message: &str) -> Reply {
        Reply::new(
            status,
            "text/xml",
            format!(
                "<ErrorResponse xmlns=\"{STS_NS}\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n  <RequestId>{REQUEST_ID}</RequestId>\n</ErrorResponse>\n"
            ),
        )
    }

    /// IAM `SimulatePrincipalPolicy` for the request `r`: one result per
    /// (action, resource) asked, as `decide` rules (resource `*` when none
    /// was given).
    pub fn simulation(r: &Recorded, decide: impl Fn(&str, &str) -> Sim) -> Reply {
        let actions = r.form_list("ActionNames");
        let mut resources = r.form_list("ResourceArns");
        if resources.is_empty() {
            resources.push("*".to_owned());
        }
        let mut members = String::new();
        for action in &actions {
            for resource in &resources {
                let sim = decide(action, resource);
                let matched: String = sim
                    .matched
                    .iter()
                    .map(|p| format!("<member><SourcePolicyId>{p}</SourcePolicyId><SourcePolicyType>user</SourcePolicyType></member>"))
                    .collect();
                let boundary = sim
                    .boundary_allows
                    .map(|b| format!("<PermissionsBoundaryDecisionDetail><AllowedByPermissionsBoundary>{b}</AllowedByPermissionsBoundary></PermissionsBoundaryDecisionDetail>"))
                    .unwrap_or_default();
                let orgs = sim
                    .organizations_allow
                    .map(|b| format!("<OrganizationsDecisionDetail><AllowedByOrganizations>{b}</AllowedByOrganizations></OrganizationsDecisionDetail>"))
                    .unwrap_or_default();
                members.push_str(&format!(
                    "<member><EvalActionName>{action}</EvalActionName><EvalResourceName>{resource}</EvalResourceName><EvalDecision>{}</EvalDecision><MatchedStatements>{matched}</MatchedStatements><MissingContextValues/>{boundary}{orgs}</member>",
                    sim.decision
                ));
            }
        }
        Reply::new(
            200,
            "text/xml",
            format!(
                "<SimulatePrincipalPolicyResponse xmlns=\"{IAM_NS}\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{members}</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
            ),
        )
    }

    /// An IAM query-protocol error document.
    pub fn iam_error(status: u16, code: &str, message: &str) -> Reply {
        Reply::new(
            status,
            "text/xml",
            format!(
                "<ErrorResponse xmlns=\"{IAM_NS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{REQUEST_ID}</RequestId></ErrorResponse>"
            ),
        )
    }

    /// STS `GetAccessKeyInfo` success.
    pub fn access_key_info(account: &str) -> Reply {
        Reply::new(
            200,
            "text/xml",
            format!(
                "<GetAccessKeyInfoResponse xmlns=\"{STS_NS}\"><GetAccessKeyInfoResult><Account>{account}</Account></GetAccessKeyInfoResult><ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata></GetAccessKeyInfoResponse>"
            ),
        )
    }

    /// IAM `GetAccessKeyLastUsed` success.
    pub fn access_key_last_used(user: &str, date: &str, service: &str, region: &str) -> Reply {
        Reply::new(
            200,
            "text/xml",
            format!(
                "<GetAccessKeyLastUsedResponse xmlns=\"{IAM_NS}\"><GetAccessKeyLastUsedResult><UserName>{user}</UserName><AccessKeyLastUsed><LastUsedDate>{date}</LastUsedDate><ServiceName>{service}</ServiceName><Region>{region}</Region></AccessKeyLastUsed></GetAccessKeyLastUsedResult><ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata></GetAccessKeyLastUsedResponse>"
            ),
        )
    }

    /// SESv2 `GetEmailIdentity` success: `verification` and `dkim` are
    /// status names; `mail_from` is (domain, status, behaviour on MX
    /// failure).
    pub fn email_identity(
        kind: &str,
        verification: &str,
        dkim: &str,
        signing: bool,
        mail_from: Option<(&str, &str, &str)>,
    ) -> Reply {
        let mut body = serde_json::json!({
            "IdentityType": kind,
            "FeedbackForwardingStatus": true,
            "VerifiedForSendingStatus": verification == "SUCCESS",
            "VerificationStatus": verification,
            "DkimAttributes": {
                "SigningEnabled": signing,
                "Status": dkim,
                "Tokens": ["t1", "t2", "t3"],
                "SigningAttributesOrigin": "AWS_SES"
            },
            "Policies": {},
            "Tags": []
        });
        if let Some((domain, status, behavior)) = mail_from {
            body["MailFromAttributes"] = serde_json::json!({
                "MailFromDomain": domain,
                "MailFromDomainStatus": status,
                "BehaviorOnMxFailure": behavior
            });
        }
        Reply::json(body)
    }

    /// SESv2 `ListEmailIdentities`: (name, type, sending enabled).
    pub fn email_identities(list: &[(&str, &str, bool)]) -> Reply {
        let items: Vec<serde_json::Value> = list
            .iter()
            .map(|(name, kind, sending)| {
                serde_json::json!({
                    "IdentityType": kind,
                    "IdentityName": name,
                    "SendingEnabled": sending,
                    "VerificationStatus": "SUCCESS"
                })
            })
            .collect();
        Reply::json(serde_json::json!({ "EmailIdentities": items }))
    }

    /// A SESv2 JSON success body.
    pub fn json(body: serde_json::Value) -> Reply {
        Reply::new(200, "application/json", body.to_string())
    }

    /// A SESv2 rest-json error: the code in `X-Amzn-Errortype` (with the
    /// service's namespace suffix, as AWS sends it) and a JSON body.
    pub fn ses_error(status: u16, code: &str, message: &str) -> Reply {
        let mut r = Reply::new(
            status,
            "application/json",
            serde_json::json!({ "message": message }).to_string(),
        );
        r.headers.push((
            "x-amzn-errortype".into(),
            format!("{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"),
        ));
        r
    }

    /// SESv2 `GetAccount` success.
    pub fn account(
        production: bool,
        sending: bool,
        enforcement: &str,
        max_24h: f64,
        sent_24h: f64,
    ) -> Reply {
        Reply::json(serde_json::json!({
            "DedicatedIpAutoWarmupEnabled": false,
            "EnforcementStatus": enforcement,
            "ProductionAccessEnabled": production,
            "SendQuota": {
                "Max24HourSend": max_24h,
                "MaxSendRate": 14.0,
                "SentLast24Hours": sent_24h
            },
            "SendingEnabled": sending,
            "SuppressionAttributes": { "SuppressedReasons": ["BOUNCE", "COMPLAINT"] }
        }))
    }

    /// SESv2 `SendEmail` success.
    pub fn sent() -> Reply {
        Reply::json(serde_json::json!({
            "MessageId": "010001812345abcd-12345678-1234-1234-1234-123456789012-000000"
        }))
    }

    /// An answer for anything the test did not script.
    pub fn not_found() -> Reply {
        Reply::new(404, "text/plain", "no route in the fake".into())
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// The running fake.
pub struct FakeAws {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    _server: ServerThread,
}

impl FakeAws {
    /// Start a fake whose `Date` header is the real time.
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeAws {
        FakeAws::start_skewed(0, handler)
    }

    /// Start a fake that records nothing: for sustained load.
    pub fn start_for_load(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeAws {
        FakeAws::start_with(0, false, handler)
    }

    /// Start a fake whose `Date` header is `offset_secs` ahead of the real
    /// time (negative: behind).
    pub fn start_skewed(
        offset_secs: i64,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> FakeAws {
        FakeAws::start_with(offset_secs, true, handler)
    }

    fn start_with(
        offset_secs: i64,
        record: bool,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> FakeAws {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake AWS");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = requests.clone();
        let server = ServerThread::spawn(move |mut stopped| async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let (stream, _) = tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(_) => continue,
                    },
                };
                let _ = stream.set_nodelay(true);
                let (handler, recorded) = (handler.clone(), recorded.clone());
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (handler, recorded) = (handler.clone(), recorded.clone());
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            answer(req, &*handler, &recorded, offset_secs, record).await,
                        )
                    }
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        FakeAws {
            url,
            requests,
            _server: server,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests were for `op`.
    pub fn count(&self, op: &str) -> usize {
        self.requests().iter().filter(|r| r.op() == op).count()
    }
}

async fn answer(
    req: Request<Incoming>,
    handler: &Handler,
    recorded: &Mutex<Vec<Recorded>>,
    offset_secs: i64,
    record: bool,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(Duration::from_secs(10), body.collect()).await {
        Ok(Ok(b)) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        _ => String::new(),
    };
    let rec = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let reply = handler(&rec);
    if record {
        recorded.lock().unwrap().push(rec);
    }
    let now = SystemTime::now();
    let date = if offset_secs >= 0 {
        now + Duration::from_secs(offset_secs as u64)
    } else {
        now - Duration::from_secs(offset_secs.unsigned_abs())
    };
    let date = aws_smithy_types::DateTime::from(date)
        .fmt(aws_smithy_types::date_time::Format::HttpDate)
        .expect("http date");
    let mut resp = Response::builder()
        .status(reply.status)
        .header("date", date)
        .header("content-length", reply.body.len());
    for (k, v) in &reply.headers {
        resp = resp.header(k, v);
    }
    resp.body(Full::new(Bytes::from(reply.body)))
        .expect("response")
}
