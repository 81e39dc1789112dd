/*
 * ledger_tls_transport.h - a raft_uv_transport (raft/uv.h) over mutual TLS, so that ledger
 * nodes of different organisations talk only to each other and never in plaintext.
 *
 * Each node has a certificate issued by its organisation's CA and trusts the set of
 * organisation CAs in its configuration: a connection in either direction completes
 * only when the peer presents a certificate chaining to one of them (TLS 1.3, both
 * sides authenticated). With verify_names, a node dialing "host:port" also checks that
 * the peer's certificate names host (DNS name or IP address), and a node accepting a
 * connection checks that the client's certificate names the host of the raft address
 * the client claims for itself.
 *
 * How it fits raft_uv: the library reads and writes a uv_stream_t that it believes is
 * the raw connection. Each connection here is a TCP handle carrying TLS (OpenSSL with
 * memory BIOs, driven by libuv) plus a socketpair: raft_uv gets one end as a uv_pipe_t
 * (allocated with raft_malloc, which raft_uv frees), this file pumps plaintext between
 * the other end and the TLS session. Closing either side closes the other, so raft_uv
 * sees a broken connection exactly as it would on TCP. After the TLS handshake the
 * dialing side sends a hello inside TLS (magic, version, its raft id and address),
 * which replaces raft_uv's plaintext TCP handshake. docs/ledger.md, "Transport".
 *
 * Everything runs on the loop's thread.
 */
#ifndef CORIO_LEDGER_TLS_TRANSPORT_H
#define CORIO_LEDGER_TLS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>

struct corio_tls_opts {
    const char *cert_file;       /* PEM: this node's certificate, then any intermediates */
    const char *key_file;        /* PEM: its private key */
    const char *const *ca_files; /* PEM files of the trusted organisation CAs */
    size_t nca;
    bool verify_names;             /* check certificate names against raft addresses */
    bool verify_ids;               /* check certificates name the raft ids (see below) */
    uint64_t id;                   /* this node's raft id, checked when verify_ids */
    unsigned handshake_timeout_ms; /* 0: 10000 */
    const char *bind_address;      /* "ip:port" to listen on; NULL: the raft address */
};

/* What the transport counted, for metrics and tests. */
struct corio_tls_stats {
    uint64_t accepted;         /* inbound connections that completed TLS and the hello */
    uint64_t connected;        /* outbound connections handed to raft */
    uint64_t handshake_failed; /* TLS handshakes refused or broken (either direction) */
    uint64_t refused_hello;    /* inbound hellos refused (malformed, name mismatch) */
    uint64_t open;             /* connections open now */
};

/*
 * Node ids in certificates. With verify_ids, a node's certificate must carry the URI
 * subjectAltName CORIO_TLS_NODE_URI followed by its raft id in decimal
 * ("urn:corio:ledger:node:3"): the transport refuses to start with a certificate that
 * does not name its own id, a dialing node refuses a server whose certificate does not
 * name the id it dialed, and an accepting node refuses a hello whose id the client's
 * certificate does not name. So a member cannot claim another member's id unless a
 * CA the others trust issued it a certificate naming that id.
 */
#define CORIO_TLS_NODE_URI "urn:corio:ledger:node:"

struct x509_st;
/* Whether cert (an OpenSSL X509 *) names node id (see above). */
bool corio_tls_cert_names_node(const struct x509_st *cert, uint64_t id);

/*
 * Makes t a TLS transport on loop. The certificate, key and CA files are loaded now.
 * Returns 0, or a RAFT_* code with a message in err (unreadable or mismatched files,
 * no CA). On success corio_tls_transport_close must be called after raft_uv is closed.
 */
int corio_tls_transport_init(struct raft_uv_transport *t, struct uv_loop_s *loop,
                             const struct corio_tls_opts *opts, char *err, size_t errlen);

/* Frees what init allocated. Call after the raft instance using t has closed (its
 * close callback ran) and the loop has run the pending close callbacks. */
void corio_tls_transport_close(struct raft_uv_transport *t);

/* The counters so far. */
void corio_tls_transport_stats(struct raft_uv_transport *t, struct corio_tls_stats *out);

#endif /* CORIO_LEDGER_TLS_TRANSPORT_H */
