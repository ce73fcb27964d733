//! The gossip transport: chitchat's UDP socket, wrapped to count the messages and bytes it
//! sends and receives for `alertmanager_cluster_messages_*`.

use std::net::SocketAddr;

use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpTransport};
use chitchat::ChitchatEnvelope;

use super::metrics::{ClusterMetrics, MsgTypeLabel};

pub struct CountingUdp {
    pub metrics: ClusterMetrics,
}

struct CountingSocket {
    inner: Box<dyn Socket>,
    metrics: ClusterMetrics,
}

fn gossip() -> MsgTypeLabel {
    MsgTypeLabel {
        msg_type: "gossip".to_string(),
    }
}

#[async_trait::async_trait]
impl Transport for CountingUdp {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let inner = UdpTransport.open(listen_addr).await?;
        Ok(Box::new(CountingSocket {
            inner,
            metrics: self.metrics.clone(),
        }))
    }
}

#[async_trait::async_trait]
impl Socket for CountingSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        let out = self.inner.send(to, envelope).await?;
        self.metrics.messages_sent.get_or_create(&gossip()).inc();
        self.metrics
            .messages_sent_size
            .get_or_create(&gossip())
            .inc_by(out.num_bytes_sent as u64);
        Ok(out)
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        let got = self.inner.recv().await?;
        self.metrics
            .messages_received
            .get_or_create(&gossip())
            .inc();
        self.metrics
            .messages_received_size
            .get_or_create(&gossip())
            .inc_by(got.num_bytes_received as u64);
        Ok(got)
    }
}
