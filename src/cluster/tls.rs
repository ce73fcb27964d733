//! Gossip over mutual TLS (`--cluster.tls-config`), as Alertmanager's TLS transport carries
//! memberlist's packets: chitchat's messages go over TLS-on-TCP connections instead of UDP
//! datagrams. Each message is one frame: a 4-byte big-endian length, then the sender's
//! advertise address (2-byte length + text: replies go there, not to the connection's
//! ephemeral port), then the message as chitchat serializes it. One writer task per peer
//! owns the outgoing connection (connecting again after an error, dropping messages while
//! the peer is unreachable — gossip repeats them); one reader task per accepted connection.
//!
//! chitchat keeps its wire encoding private, so messages are encoded and decoded by its own
//! UDP sockets on loopback: a message is "sent" to a loopback socket of ours to get its
//! bytes, and received bytes are handed to a second chitchat socket to get the message
//! back. Nothing but this process talks to those sockets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpTransport};
use chitchat::ChitchatEnvelope;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::metrics::{ClusterMetrics, MsgTypeLabel};
use super::ClusterTls;

/// The largest frame accepted (chitchat keeps messages under 64 KiB).
const MAX_FRAME: usize = 1 << 20;
/// Messages queued per peer while its connection is down or slow.
const PEER_QUEUE: usize = 64;
/// How long a connect plus handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a read of one frame (after its first byte) or a write may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TlsTransport {
    tls: ClusterTls,
    advertise: SocketAddr,
    metrics: ClusterMetrics,
}

impl TlsTransport {
    pub fn new(tls: ClusterTls, advertise: SocketAddr, metrics: ClusterMetrics) -> Self {
        Self {
            tls,
            advertise,
            metrics,
        }
    }
}

struct TlsSocket {
    local: SocketAddr,
    advertise: SocketAddr,
    tls: ClusterTls,
    peers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    incoming: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
    codec: Codec,
    accept: JoinHandle<()>,
    writers: Vec<JoinHandle<()>>,
    metrics: ClusterMetrics,
}

impl Drop for TlsSocket {
    fn drop(&mut self) {
        self.accept.abort();
        for w in &self.writers {
            w.abort();
        }
    }
}

fn tls_label() -> MsgTypeLabel {
    MsgTypeLabel {
        msg_type: "gossip".to_string(),
    }
}

#[async_trait::async_trait]
impl Transport for TlsTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let listener = TcpListener::bind(listen_addr).await.map_err(|e| {
            anyhow::anyhow!("failed to bind to {listen_addr}/TCP for gossip over TLS: {e}")
        })?;
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(1024);
        let acceptor = TlsAcceptor::from(self.tls.server.clone());
        let codec = Codec::open().await?;
        let accept = tokio::spawn(crate::base::task::boxed(accept_loop(
            listener, acceptor, tx,
        )));
        Ok(Box::new(TlsSocket {
            local,
            advertise: self.advertise,
            tls: self.tls.clone(),
            peers: HashMap::new(),
            incoming: rx,
            codec,
            accept,
            writers: Vec::new(),
            metrics: self.metrics.clone(),
        }))
    }
}

#[async_trait::async_trait]
impl Socket for TlsSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.local)
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        let bytes = self.codec.encode(envelope).await?;
        let frame = encode_frame(&self.advertise, &bytes);
        let len = frame.len();
        let closed = self.peers.get(&to).is_none_or(|s| s.is_closed());
        if closed {
            let (tx, rx) = mpsc::channel(PEER_QUEUE);
            let connector = TlsConnector::from(self.tls.client.clone());
            let name = server_name(&self.tls, to);
            self.writers.retain(|w| !w.is_finished());
            self.writers
                .push(tokio::spawn(crate::base::task::boxed(writer(
                    to, connector, name, rx,
                ))));
            self.peers.insert(to, tx);
        }
        if let Some(peer) = self.peers.get(&to) {
            // A full queue means the peer is unreachable or slow: gossip repeats itself, so
            // dropping this message loses nothing that a later round does not carry.
            if peer.try_send(frame).is_ok() {
                self.metrics.messages_sent.get_or_create(&tls_label()).inc();
                self.metrics
                    .messages_sent_size
                    .get_or_create(&tls_label())
                    .inc_by(len as u64);
            }
        }
        Ok(SendOutcome {
            num_bytes_sent: len,
        })
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        let got = loop {
            let (from, bytes) = self
                .incoming
                .recv()
                .await
                .ok_or_else(|| anyhow::anyhow!("the gossip listener stopped"))?;
            if let Some(envelope) = self.codec.decode(&bytes).await? {
                break RecvOutcome {
                    from_addr: from,
                    envelope,
                    num_bytes_received: bytes.len(),
                };
            }
        };
        self.metrics
            .messages_received
            .get_or_create(&tls_label())
            .inc();
        self.metrics
            .messages_received_size
            .get_or_create(&tls_label())
            .inc_by(got.num_bytes_received as u64);
        Ok(got)
    }
}

/// The name the peer's certificate must carry: `tls_client_config.server_name`, else its IP.
fn server_name(tls: &ClusterTls, to: SocketAddr) -> ServerName<'static> {
    tls.server_name
        .as_deref()
        .and_then(|n| ServerName::try_from(n.to_string()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(to.ip().into()))
}

/// chitchat's own encoding, through two of its UDP sockets on loopback (see the module doc).
struct Codec {
    encoder: Box<dyn Socket>,
    catcher: tokio::net::UdpSocket,
    injector: tokio::net::UdpSocket,
    decoder: Box<dyn Socket>,
    decoder_addr: SocketAddr,
    buf: Vec<u8>,
}

/// How long a message may take through a loopback socket.
const CODEC_TIMEOUT: Duration = Duration::from_secs(1);

impl Codec {
    async fn open() -> anyhow::Result<Self> {
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let encoder = UdpTransport.open(loopback).await?;
        let catcher = tokio::net::UdpSocket::bind(loopback).await?;
        let injector = tokio::net::UdpSocket::bind(loopback).await?;
        let decoder = UdpTransport.open(loopback).await?;
        let decoder_addr = decoder.local_addr()?;
        Ok(Self {
            encoder,
            catcher,
            injector,
            decoder,
            decoder_addr,
            buf: vec![0u8; 65_536],
        })
    }

    async fn encode(&mut self, envelope: ChitchatEnvelope) -> anyhow::Result<Vec<u8>> {
        let to = self.catcher.local_addr()?;
        self.encoder.send(to, envelope).await?;
        let n = tokio::time::timeout(CODEC_TIMEOUT, self.catcher.recv(&mut self.buf))
            .await
            .map_err(|_| anyhow::anyhow!("encoding a gossip message timed out"))??;
        Ok(self.buf[..n].to_vec())
    }

    /// `None` when the bytes are not a message chitchat accepts.
    async fn decode(&mut self, bytes: &[u8]) -> anyhow::Result<Option<ChitchatEnvelope>> {
        self.injector.send_to(bytes, self.decoder_addr).await?;
        match tokio::time::timeout(CODEC_TIMEOUT, self.decoder.recv()).await {
            Ok(got) => Ok(Some(got?.envelope)),
            Err(_) => Ok(None),
        }
    }
}

fn encode_frame(advertise: &SocketAddr, message: &[u8]) -> Vec<u8> {
    let addr = advertise.to_string();
    let mut body = Vec::with_capacity(message.len() + 32);
    body.extend_from_slice(&(addr.len() as u16).to_be_bytes());
    body.extend_from_slice(addr.as_bytes());
    body.extend_from_slice(message);
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// The sender's address and message bytes of one frame body.
fn decode_body(body: &[u8]) -> Option<(SocketAddr, Vec<u8>)> {
    let (len, rest) = body.split_first_chunk::<2>()?;
    let n = u16::from_be_bytes(*len) as usize;
    let addr = std::str::from_utf8(rest.get(..n)?).ok()?.parse().ok()?;
    Some((addr, rest.get(n..)?.to_vec()))
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(SocketAddr, Vec<u8>)>,
) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(crate::base::task::boxed(async move {
            let stream = match tokio::time::timeout(CONNECT_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::warn!(message = "Gossip TLS handshake failed", peer = %peer, error = %e);
                    return;
                }
                Err(_) => return,
            };
            read_frames(stream, tx).await;
        }));
    }
}

async fn read_frames<S: AsyncRead + Unpin>(mut stream: S, tx: mpsc::Sender<(SocketAddr, Vec<u8>)>) {
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > MAX_FRAME {
            return;
        }
        let mut body = vec![0u8; n];
        match tokio::time::timeout(IO_TIMEOUT, stream.read_exact(&mut body)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(got) = decode_body(&body) else {
            tracing::warn!(message = "Invalid gossip frame", bytes = n);
            return;
        };
        if tx.send(got).await.is_err() {
            return;
        }
    }
}

async fn writer(
    to: SocketAddr,
    connector: TlsConnector,
    name: ServerName<'static>,
    mut rx: mpsc::Receiver<Vec<u8>>,
) {
    let mut conn: Option<Box<dyn AsyncWriteUnpinSend>> = None;
    while let Some(frame) = rx.recv().await {
        if conn.is_none() {
            conn = connect(to, &connector, name.clone()).await;
        }
        let Some(c) = conn.as_mut() else { continue };
        let ok = matches!(
            tokio::time::timeout(IO_TIMEOUT, c.write_all(&frame)).await,
            Ok(Ok(()))
        );
        if !ok {
            conn = None;
        }
    }
}

trait AsyncWriteUnpinSend: AsyncWrite + Unpin + Send {}
impl<T: AsyncWrite + Unpin + Send> AsyncWriteUnpinSend for T {}

async fn connect(
    to: SocketAddr,
    connector: &TlsConnector,
    name: ServerName<'static>,
) -> Option<Box<dyn AsyncWriteUnpinSend>> {
    let attempt = async {
        let tcp = TcpStream::connect(to).await.ok()?;
        let _ = tcp.set_nodelay(true);
        match connector.connect(name, tcp).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(message = "Gossip TLS connection failed", peer = %to, error = %e);
                None
            }
        }
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .ok()??;
    Some(Box::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chitchat::ChitchatMessage;

    #[tokio::test]
    async fn frames_carry_the_sender_and_chitchats_own_encoding() {
        let envelope = || ChitchatEnvelope {
            version: chitchat::ProtocolVersion::V0,
            message: ChitchatMessage::BadCluster,
        };
        let mut codec = Codec::open().await.unwrap();
        let bytes = codec.encode(envelope()).await.unwrap();
        let addr: SocketAddr = "10.0.0.7:9094".parse().unwrap();
        let frame = encode_frame(&addr, &bytes);
        let n = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(n, frame.len() - 4);
        let (from, back) = decode_body(&frame[4..]).unwrap();
        assert_eq!(from, addr);
        assert_eq!(codec.decode(&back).await.unwrap(), Some(envelope()));
        assert_eq!(codec.decode(b"garbage").await.unwrap(), None);
        // The codec still works after refusing garbage.
        let again = codec.encode(envelope()).await.unwrap();
        assert_eq!(codec.decode(&again).await.unwrap(), Some(envelope()));
        assert!(
            decode_body(&frame[4..7]).is_none(),
            "a cut frame is refused"
        );
    }
}
