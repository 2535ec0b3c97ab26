//! `fermyon:spin/mqtt@2.0.0`: one MQTT 3.1.1 connection per `open`, as Spin does.
//!
//! The client id comes from the address (`mqtt://host:1883?client_id=...`). A QoS 1 publish
//! returns only once the broker's PUBACK arrived, QoS 2 once PUBCOMP arrived, so a component that
//! marks an outbox row after `publish` returns knows the broker has the message.
//!
//! `mqtts://host:8883` speaks TLS and verifies the broker's certificate against the machine's
//! trust store, as Spin's MQTT client does (rustls with the native roots). To trust a local CA,
//! add it to the system store (`/usr/local/share/ca-certificates` + `update-ca-certificates`) or
//! point `SSL_CERT_FILE` at a PEM bundle that holds it (docs/host.md).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin2_0_0::mqtt::{self as m, Error, Qos};
use wasmtime::component::{HasData, ResourceTable};

use super::Guest;

/// What the MQTT interface sees of a request: the guest and the table.
pub struct MqttView<'a> {
    pub guest: Guest<'a>,
    pub table: &'a mut ResourceTable,
}

/// The linker's marker for [`MqttView`].
pub struct Mqtt;

impl HasData for Mqtt {
    type Data<'a> = MqttView<'a>;
}

/// How long the broker has to answer CONNECT or acknowledge a publish.
const BROKER_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest payload a guest may publish (the MQTT variable-length limit is 256 MiB; brokers are lower).
const PUBLISH_PAYLOAD_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The port of `mqtts://` without one.
const MQTTS_DEFAULT_PORT: u16 = 8883;

/// A byte stream to the broker: plain TCP or TLS over it.
trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// The host side of a guest's MQTT `connection`.
pub struct MqttConnection {
    stream: Box<dyn Transport>,
    next_packet_id: u16,
}

/// The TLS client settings for `mqtts://`: the machine's trust store, loaded once.
fn tls_config() -> Result<Arc<tokio_rustls::rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<tokio_rustls::rustls::ClientConfig>, String>> =
        OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            let certs = rustls_native_certs::load_native_certs()
                .map_err(|e| format!("cannot load the trust store: {e}"))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err("the trust store has no usable certificate".to_string());
            }
            let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
            let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(Error::ConnectionFailed)
}

fn encode_remaining_length(mut len: usize, out: &mut Vec<u8>) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

fn put_str(s: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    encode_remaining_length(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// Reads one packet: (first byte, body).
async fn read_packet<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<(u8, Vec<u8>)> {
    let first = stream.read_u8().await?;
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = stream.read_u8().await?;
        len |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return Err(std::io::Error::other("malformed remaining length"));
        }
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await?;
    Ok((first, body))
}

impl MqttConnection {
    /// Connects and completes the MQTT handshake.
    pub async fn connect(
        address: &str,
        username: &str,
        password: &str,
        keep_alive_secs: u64,
    ) -> Result<Self, Error> {
        let url = url::Url::parse(address).map_err(|_| Error::InvalidAddress)?;
        let tls = match url.scheme() {
            "mqtt" => false,
            "mqtts" => true,
            _ => return Err(Error::InvalidAddress),
        };
        let host = url.host_str().ok_or(Error::InvalidAddress)?.to_string();
        let port = url
            .port()
            .unwrap_or(if tls { MQTTS_DEFAULT_PORT } else { 1883 });
        let client_id = url
            .query_pairs()
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let tcp = tokio::time::timeout(
            BROKER_ANSWER_TIMEOUT,
            TcpStream::connect((host.as_str(), port)),
        )
        .await
        .map_err(|_| Error::ConnectionFailed("timed out connecting".into()))?
        .map_err(|e| Error::ConnectionFailed(e.to_string()))?;
        tcp.set_nodelay(true).ok();
        let mut stream: Box<dyn Transport> = if tls {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|_| Error::InvalidAddress)?;
            let connector = tokio_rustls::TlsConnector::from(tls_config()?);
            let tls_stream =
                tokio::time::timeout(BROKER_ANSWER_TIMEOUT, connector.connect(name, tcp))
                    .await
                    .map_err(|_| Error::ConnectionFailed("timed out in the TLS handshake".into()))?
                    .map_err(|e| Error::ConnectionFailed(format!("TLS: {e}")))?;
            Box::new(tls_stream)
        } else {
            Box::new(tcp)
        };
        let mut body = Vec::new();
        put_str(b"MQTT", &mut body);
        body.push(4); // protocol level 3.1.1
        let mut flags = 0x02; // clean session
        if !username.is_empty() {
            flags |= 0x80;
        }
        if !password.is_empty() {
            flags |= 0x40;
        }
        body.push(flags);
        body.extend_from_slice(&(keep_alive_secs.min(u16::MAX as u64) as u16).to_be_bytes());
        put_str(client_id.as_bytes(), &mut body);
        if !username.is_empty() {
            put_str(username.as_bytes(), &mut body);
        }
        if !password.is_empty() {
            put_str(password.as_bytes(), &mut body);
        }
        let io = |e: std::io::Error| Error::ConnectionFailed(e.to_string());
        stream.write_all(&packet(0x10, &body)).await.map_err(io)?;
        let (first, ack) = tokio::time::timeout(BROKER_ANSWER_TIMEOUT, read_packet(&mut stream))
            .await
            .map_err(|_| Error::ConnectionFailed("broker did not answer CONNECT".into()))?
            .map_err(io)?;
        if first != 0x20 || ack.len() != 2 {
            return Err(Error::ConnectionFailed(
                "unexpected answer to CONNECT".into(),
            ));
        }
        if ack[1] != 0 {
            let why = match ack[1] {
                1 => "unacceptable protocol version",
                2 => "client id rejected",
                3 => "server unavailable",
                4 => "bad user name or password",
                5 => "not authorized",
                _ => "refused",
            };
            return Err(Error::ConnectionFailed(format!(
                "broker refused the connection: {why}"
            )));
        }
        Ok(Self {
            stream,
            next_packet_id: 1,
        })
    }

    fn packet_id(&mut self) -> u16 {
        let id = self.next_packet_id;
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        id
    }

    /// Publishes and waits for the acknowledgements the QoS asks for.
    pub async fn publish(&mut self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), Error> {
        if topic.is_empty() || topic.contains(['+', '#']) {
            return Err(Error::Other(format!(
                "`{topic}` is not a valid topic to publish to"
            )));
        }
        if payload.len() > PUBLISH_PAYLOAD_BYTES_MAX {
            return Err(Error::Other(format!(
                "payload exceeds {PUBLISH_PAYLOAD_BYTES_MAX} bytes"
            )));
        }
        let (qos_bits, id) = match qos {
            Qos::AtMostOnce => (0u8, None),
            Qos::AtLeastOnce => (1, Some(self.packet_id())),
            Qos::ExactlyOnce => (2, Some(self.packet_id())),
        };
        let mut body = Vec::with_capacity(topic.len() + payload.len() + 4);
        put_str(topic.as_bytes(), &mut body);
        if let Some(id) = id {
            body.extend_from_slice(&id.to_be_bytes());
        }
        body.extend_from_slice(payload);
        let io = |e: std::io::Error| Error::ConnectionFailed(e.to_string());
        self.stream
            .write_all(&packet(0x30 | (qos_bits << 1), &body))
            .await
            .map_err(io)?;
        let Some(id) = id else { return Ok(()) };
        let wait = async {
            loop {
                let (first, body) = read_packet(&mut self.stream).await.map_err(io)?;
                let acked = body.len() >= 2 && u16::from_be_bytes([body[0], body[1]]) == id;
                match first & 0xF0 {
                    0x40 if acked && qos_bits == 1 => return Ok(()),
                    0x50 if acked && qos_bits == 2 => {
                        self.stream
                            .write_all(&packet(0x62, &id.to_be_bytes()))
                            .await
                            .map_err(io)?;
                    }
                    0x70 if acked && qos_bits == 2 => return Ok(()),
                    _ => {} // PINGRESP or a stale acknowledgement
                }
            }
        };
        tokio::time::timeout(BROKER_ANSWER_TIMEOUT, wait)
            .await
            .map_err(|_| Error::Other("broker did not acknowledge the publish".into()))?
    }

    /// Sends DISCONNECT; errors are irrelevant at this point.
    pub async fn disconnect(mut self) {
        let _ = self.stream.write_all(&[0xE0, 0x00]).await;
        let _ = self.stream.shutdown().await;
    }
}

impl m::Host for MqttView<'_> {}

impl m::HostConnection for MqttView<'_> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<MqttConnection>, Error>> {
        if !self.guest.grants.allows_url(&address) {
            tracing::warn!(
                "component `{}`: MQTT address {address} denied by allowed_outbound_hosts",
                self.guest.id
            );
            // Spin's wording.
            return Ok(Err(Error::ConnectionFailed(format!(
                "address {address} is not permitted"
            ))));
        }
        match MqttConnection::connect(&address, &username, &password, keep_alive_interval_in_secs)
            .await
        {
            Ok(c) => Ok(Ok(self.table.push(c)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn publish(
        &mut self,
        this: Resource<MqttConnection>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> wasmtime::Result<Result<(), Error>> {
        let conn = self.table.get_mut(&this)?;
        Ok(conn.publish(&topic, &payload, qos).await)
    }

    async fn drop(&mut self, this: Resource<MqttConnection>) -> wasmtime::Result<()> {
        let conn = self.table.delete(this)?;
        tokio::spawn(conn.disconnect());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_uses_mqtt_varints() {
        for (len, expected) in [
            (0usize, vec![0u8]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xff, 0x7f]),
            (2_097_152, vec![0x80, 0x80, 0x80, 0x01]),
        ] {
            let mut out = Vec::new();
            encode_remaining_length(len, &mut out);
            assert_eq!(out, expected, "{len}");
        }
    }
}
