//! A moto server (from the test venv) on 127.0.0.1 and a free port, set up
//! through `moto_setup.py` (boto3, which moto pulls in). Killed on Drop.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    pub url: String,
    child: Child,
}

/// Credentials moto created for one IAM user.
#[derive(Clone, Debug)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Moto {
    /// Start moto and wait (bounded) until it accepts connections.
    pub fn start() -> Moto {
        let venv = super::venv();
        let port = free_port();
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start within 30s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Run the setup script with `spec` (see `moto_setup.py`).
    pub fn setup(&self, spec: serde_json::Value) -> serde_json::Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_setup.py");
        let out = Command::new(super::venv().join("bin/python"))
            .args([script, &self.url, &spec.to_string()])
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .output()
            .expect("run moto_setup.py");
        assert!(
            out.status.success(),
            "moto_setup.py failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("setup JSON")
    }

    /// The keys of `user` from a setup result.
    pub fn keys(setup: &serde_json::Value, user: &str) -> Keys {
        let u = &setup["users"][user];
        Keys {
            access_key_id: u["access_key_id"].as_str().expect("key id").to_owned(),
            secret_access_key: u["secret_access_key"].as_str().expect("secret").to_owned(),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
