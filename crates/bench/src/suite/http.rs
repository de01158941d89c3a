//! The load generator's HTTP/1.1 client: one hyper connection per [`Conn`], keep-alive, no
//! pool and no redirects, so that each request costs the client as little as possible and
//! the same client measures the gateway and the bare axum baseline alike.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Where requests go and how they authenticate.
pub struct Endpoint {
    pub addr: SocketAddr,
    host: HeaderValue,
    auth: Option<HeaderValue>,
}

impl Endpoint {
    pub fn new(addr: SocketAddr, bearer: Option<&str>) -> anyhow::Result<Arc<Endpoint>> {
        let auth = match bearer {
            Some(key) => Some(HeaderValue::from_str(&format!("Bearer {key}"))?),
            None => None,
        };
        Ok(Arc::new(Endpoint {
            addr,
            host: HeaderValue::from_str(&addr.to_string())?,
            auth,
        }))
    }

    /// `http://host:port` → an endpoint.
    pub fn from_url(url: &str, bearer: Option<&str>) -> anyhow::Result<Arc<Endpoint>> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("not an http:// URL: {url}"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let addr = authority
            .parse()
            .with_context(|| format!("not an IP address and port: {authority}"))?;
        Endpoint::new(addr, bearer)
    }
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "unexpected response {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Fails on anything but 2xx, with the body in the message.
    pub fn ok(self) -> anyhow::Result<Reply> {
        anyhow::ensure!(
            self.status.is_success(),
            "HTTP {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        Ok(self)
    }
}

/// One keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    endpoint: Arc<Endpoint>,
}

impl Conn {
    pub async fn open(endpoint: &Arc<Endpoint>) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(endpoint.addr)
            .await
            .with_context(|| format!("cannot connect to {}", endpoint.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the connection closes; its errors surface on the next request.
            let _ = connection.await;
        });
        Ok(Conn {
            sender,
            endpoint: endpoint.clone(),
        })
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, None).await
    }

    pub async fn post_json(&mut self, path: &str, body: Option<Bytes>) -> anyhow::Result<Reply> {
        self.send(Method::POST, path, body).await
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Reply> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.endpoint.host.clone());
        if let Some(auth) = &self.endpoint.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}
