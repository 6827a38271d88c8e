//! The SMTP wire format, strictly and with bounded memory.
//!
//! [`Conn`] reads replies line by line from any byte stream (plain TCP
//! before STARTTLS, TLS after) and refuses what a real SMTP server never
//! sends: lines over [`MAX_LINE`] bytes, replies over [`MAX_REPLY`] bytes,
//! lines without a three-digit code, continuation lines whose code changes.
//! The read buffer never holds more than one line plus one read, so a
//! hostile or broken peer cannot make the probe's memory grow.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest reply line accepted, without its CRLF (RFC 5321 allows 512
/// bytes; real servers stay far below this).
pub const MAX_LINE: usize = 4096;
/// Longest reply accepted, all lines together.
pub const MAX_REPLY: usize = 64 * 1024;
/// Bytes asked for per read.
const CHUNK: usize = 4096;

/// One SMTP reply: the code and its text lines (code and separator
/// stripped).
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// The text as one line, for classification and messages.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// The text with its line structure, for the report.
    pub fn display_text(&self) -> String {
        self.lines.join("\n")
    }
}

/// What can go wrong reading or writing the session.
#[derive(Debug)]
pub enum WireError {
    /// The peer closed the connection (cleanly or by reset).
    Closed,
    /// A socket error other than a close.
    Io(io::Error),
    /// A line longer than [`MAX_LINE`].
    LineTooLong,
    /// A reply longer than [`MAX_REPLY`].
    ReplyTooLong,
    /// Not an SMTP reply line; carries a short, printable excerpt.
    Malformed(String),
}

impl WireError {
    fn from_io(e: io::Error) -> WireError {
        use io::ErrorKind::*;
        match e.kind() {
            UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected => {
                WireError::Closed
            }
            _ => WireError::Io(e),
        }
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Closed => f.write_str("the server closed the connection"),
            WireError::Io(e) => write!(f, "socket error: {e}"),
            WireError::LineTooLong => {
                write!(f, "the server sent a reply line over {MAX_LINE} bytes")
            }
            WireError::ReplyTooLong => write!(f, "the server sent a reply over {MAX_REPLY} bytes"),
            WireError::Malformed(excerpt) => {
                write!(
                    f,
                    "the server sent something that is not an SMTP reply: {excerpt:?}"
                )
            }
        }
    }
}

/// An SMTP client connection over `S` with a bounded read buffer.
pub struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    /// Bytes the server sent that no reply has consumed yet. Must be zero
    /// when switching to TLS: anything else was injected before the
    /// handshake (the STARTTLS injection attack).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Give up the stream, for the TLS handshake.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Send one command line; CRLF is appended. A line break inside the
    /// command would smuggle a second command, so it is refused.
    pub async fn send(&mut self, line: &str) -> Result<(), WireError> {
        if line.contains(['\r', '\n']) {
            return Err(WireError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "refusing to send a command containing a line break",
            )));
        }
        // One write: a command and its CRLF in one segment (and one TLS
        // record), never a lone CRLF waiting on the peer's delayed ACK.
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes).await
    }

    /// Send bytes as they are (a message body, an AUTH payload).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(WireError::from_io)?;
        self.stream.flush().await.map_err(WireError::from_io)
    }

    /// Read one line, without its CRLF (a bare LF is tolerated).
    async fn read_line(&mut self) -> Result<Vec<u8>, WireError> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + pos;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > MAX_LINE {
                    return Err(WireError::LineTooLong);
                }
                return Ok(line);
            }
            scanned = self.buf.len();
            if self.buf.len() > MAX_LINE + 1 {
                return Err(WireError::LineTooLong);
            }
            let mut chunk = [0u8; CHUNK];
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(WireError::from_io)?;
            if n == 0 {
                return Err(WireError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Read one complete (possibly multi-line) reply.
    pub async fn read_reply(&mut self) -> Result<Reply, WireError> {
        let mut code: Option<u16> = None;
        let mut lines = Vec::new();
        let mut total = 0usize;
        loop {
            let line = self.read_line().await?;
            total += line.len() + 2;
            if total > MAX_REPLY {
                return Err(WireError::ReplyTooLong);
            }
            let (this, last, text) = parse_line(&line)?;
            if code.is_some_and(|c| c != this) {
                return Err(WireError::Malformed(excerpt(&line)));
            }
            code = Some(this);
            lines.push(text);
            if last {
                return Ok(Reply { code: this, lines });
            }
        }
    }
}

/// Split a reply line into code, "is the last line", and text.
fn parse_line(line: &[u8]) -> Result<(u16, bool, String), WireError> {
    let bad = || WireError::Malformed(excerpt(line));
    if line.len() < 3
        || !line[..3].iter().all(u8::is_ascii_digit)
        || !(b'2'..=b'5').contains(&line[0])
    {
        return Err(bad());
    }
    let code = std::str::from_utf8(&line[..3])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let last = match line.get(3) {
        None | Some(b' ') => true,
        Some(b'-') => false,
        Some(_) => return Err(bad()),
    };
    let text = line.get(4..).unwrap_or_default();
    Ok((code, last, String::from_utf8_lossy(text).into_owned()))
}

/// A short printable excerpt of a bad line, for the message.
fn excerpt(line: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(&line[..line.len().min(60)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    s
}

/// What an EHLO reply advertises.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Capabilities {
    pub starttls: bool,
    /// Upper-cased AUTH mechanism names.
    pub auth: Vec<String>,
}

impl Capabilities {
    /// Parse the lines after the greeting line of a 250 EHLO reply. Both
    /// `AUTH PLAIN LOGIN` and the old `AUTH=PLAIN LOGIN` are understood.
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            if keyword == "STARTTLS" {
                caps.starttls = true;
            } else if keyword == "AUTH" || keyword.starts_with("AUTH=") {
                let first = keyword.strip_prefix("AUTH=").filter(|m| !m.is_empty());
                for m in first
                    .into_iter()
                    .map(str::to_owned)
                    .chain(words.map(str::to_ascii_uppercase))
                {
                    if !caps.auth.contains(&m) {
                        caps.auth.push(m);
                    }
                }
            }
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn replies(input: &[u8]) -> Vec<Result<Reply, String>> {
        let (mut server, client) = tokio::io::duplex(1 << 20);
        server.write_all(input).await.unwrap();
        drop(server);
        let mut conn = Conn::new(client);
        let mut out = Vec::new();
        loop {
            match conn.read_reply().await {
                Ok(r) => out.push(Ok(r)),
                Err(WireError::Closed) => return out,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    #[tokio::test]
    async fn multi_line_replies_and_bare_codes() {
        let got =
            replies(b"250-a.example\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n354\r\n221 Bye\n").await;
        assert_eq!(got.len(), 3);
        let first = got[0].as_ref().unwrap();
        assert_eq!(first.code, 250);
        assert_eq!(first.lines, ["a.example", "STARTTLS", "AUTH PLAIN"]);
        assert_eq!(got[1].as_ref().unwrap().code, 354);
        assert_eq!(got[2].as_ref().unwrap().text(), "Bye");
    }

    #[tokio::test]
    async fn refuses_garbage_and_changing_codes() {
        let got = replies(b"HTTP/1.1 400 Bad Request\r\n").await;
        assert!(got[0].as_ref().unwrap_err().contains("not an SMTP reply"));
        let got = replies(b"250-a\r\n251 b\r\n").await;
        assert!(got[0].is_err());
        let got = replies(b"250xok\r\n").await;
        assert!(got[0].is_err());
        let got = replies(b"650 ok\r\n").await;
        assert!(got[0].is_err());
    }

    #[tokio::test]
    async fn bounds_lines_and_replies() {
        let mut long = b"250 ".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        long.extend_from_slice(b"\r\n");
        let got = replies(&long).await;
        assert_eq!(
            got[0].as_ref().unwrap_err(),
            &WireError::LineTooLong.to_string()
        );
        // A line that never ends is cut at the bound, not read forever.
        let got = replies(&vec![b'2'; 3 * MAX_LINE]).await;
        assert_eq!(
            got[0].as_ref().unwrap_err(),
            &WireError::LineTooLong.to_string()
        );
        let mut many = Vec::new();
        for _ in 0..(MAX_REPLY / 100 + 1) {
            many.extend_from_slice(b"250-");
            many.extend(std::iter::repeat_n(b'y', 100));
            many.extend_from_slice(b"\r\n");
        }
        many.extend_from_slice(b"250 end\r\n");
        let got = replies(&many).await;
        assert_eq!(
            got[0].as_ref().unwrap_err(),
            &WireError::ReplyTooLong.to_string()
        );
        // Exactly at the line bound is fine.
        let mut edge = b"250 ".to_vec();
        edge.extend(std::iter::repeat_n(b'z', MAX_LINE - 4));
        edge.extend_from_slice(b"\r\n");
        assert!(replies(&edge).await[0].is_ok());
    }

    #[test]
    fn capabilities() {
        let r = Reply {
            code: 250,
            lines: vec![
                "email-smtp.amazonaws.com".into(),
                "8BITMIME".into(),
                "starttls".into(),
                "AUTH PLAIN LOGIN".into(),
                "AUTH=login xoauth2".into(),
                "Ok".into(),
            ],
        };
        let c = Capabilities::from_ehlo(&r);
        assert!(c.starttls);
        assert_eq!(c.auth, ["PLAIN", "LOGIN", "XOAUTH2"]);
        let none = Capabilities::from_ehlo(&Reply {
            code: 250,
            lines: vec!["STARTTLS is the greeting, not a capability".into()],
        });
        assert_eq!(none, Capabilities::default());
    }
}
