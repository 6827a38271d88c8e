//! An in-process fake AWS endpoint that speaks the real wire formats: STS
//! query-protocol XML and SESv2 rest-json with `X-Amzn-Errortype`. Each
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
    /// The AWS operation: `GetCallerIdentity`, `GetAccount`, `SendEmail`,
    /// or `other`.
    pub fn op(&self) -> &'static str {
        match (self.method.as_str(), self.path.as_str()) {
            ("POST", "/") if self.body.contains("Action=GetCallerIdentity") => "GetCallerIdentity",
            ("GET", "/v2/email/account") => "GetAccount",
            ("POST", "/v2/email/outbound-emails") => "SendEmail",
            _ => "other",
        }
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

    /// Start a fake whose `Date` header is `offset_secs` ahead of the real
    /// time (negative: behind).
    pub fn start_skewed(
        offset_secs: i64,
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
                let (handler, recorded) = (handler.clone(), recorded.clone());
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (handler, recorded) = (handler.clone(), recorded.clone());
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            answer(req, &*handler, &recorded, offset_secs).await,
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
    recorded.lock().unwrap().push(rec);
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
