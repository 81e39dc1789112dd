/*
 * corio_x509.h - X.509 certificates for Corio's TLS (docs/identity.md, "Certificates"):
 * an organisation's CA, self-signed with the organisation's own P-256 key and naming
 * its did:corio, and the certificates that CA issues for the keys of its gateways,
 * cloud services and ledger nodes. Built with OpenSSL 3's libcrypto, no configuration
 * files and no openssl command.
 *
 * Mutual TLS proves only "a certificate from a CA this broker trusts": on a broker that
 * trusts several organisations' CAs, any of them can mint a certificate naming any
 * gateway. What a gateway may say is decided by its signed batches (DESIGN.md §3);
 * these certificates open the connection.
 *
 * Ownership: every X509 the functions return is the caller's (X509_free). Functions
 * return CORIO_OK or a negative corio_err, and on failure write a one-line reason into
 * why (whylen bytes, always NUL-terminated when whylen > 0). OpenSSL's error queue of
 * the calling thread is left empty.
 */
#ifndef CORIO_X509_H
#define CORIO_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "corio/crypto.h"
#include "corio/did.h"

/* Validity in days: defaults and the largest accepted. */
#define CORIO_X509_CA_DAYS_DEFAULT   3650
#define CORIO_X509_CA_DAYS_MAX       10950
#define CORIO_X509_LEAF_DAYS_DEFAULT 365
#define CORIO_X509_LEAF_DAYS_MAX     3650

/* Certificates are dated this long before they are made, so that a peer whose clock
 * is a little behind does not find them "not yet valid". */
#define CORIO_X509_BACKDATE_SECONDS 3600

/* The URI prefix naming a ledger node's consensus id (ledger/ledger_tls_transport.h). */
#define CORIO_X509_LEDGER_NODE_URI "urn:corio:ledger:node:"

/* Names in an issued certificate, at most. */
#define CORIO_X509_MAX_NAMES 16

/* Upper bounds of X.520 (RFC 5280 Appendix A): common and organisation names. */
#define CORIO_X509_CN_MAX 64

/*
 * What an issued certificate is for. Every role may serve and be a client (a gateway
 * is the server of its devices and a client of the cloud broker; a ledger node both
 * to the other nodes; a cloud service a broker's server or corio-cloud's client), so
 * the extended key usage is serverAuth and clientAuth for all; the role decides the
 * subject's defaults and is written as its organisationalUnitName.
 */
enum corio_x509_role {
    CORIO_X509_ROLE_GATEWAY,     /* CN: the gateway's short id; URI SAN: its did:corio */
    CORIO_X509_ROLE_CLOUD,       /* CN: corio-cloud-<org id>; URI SAN only when asked */
    CORIO_X509_ROLE_LEDGER_NODE, /* CN: the node's short id; URI SANs: its did:corio and
                                  * urn:corio:ledger:node:<consensus id> */
};

/* "gateway", "cloud", "ledger-node"; NULL for another value. */
const char *corio_x509_role_name(enum corio_x509_role role);

/* The role a name stands for: CORIO_OK, or CORIO_ERR_INVAL for an unknown name. */
int corio_x509_role_parse(const char *name, enum corio_x509_role *role);

/* Whether s is a host name a certificate may carry as a dNSName: 1 to 253 characters,
 * dot-separated labels of 1 to 63 letters, digits and inner hyphens; no trailing dot,
 * no wildcard. */
bool corio_x509_dns_name_valid(const char *s);

struct corio_x509_ca_options {
    /* The organisation's key (OpenSSL backend): it signs the CA certificate and every
     * certificate the CA issues. */
    const struct corio_key *org_key;
    /* Optional organisationName (1 to 64 bytes of UTF-8 without control characters),
     * e.g. "Example Org"; the commonName is always did:corio:<org id>. */
    const char *name;
    /* Validity; 0: CORIO_X509_CA_DAYS_DEFAULT. At most CORIO_X509_CA_DAYS_MAX. */
    int days;
};

/*
 * Makes an organisation's CA certificate: X.509 v3, a random positive 127-bit serial,
 * issuer = subject = CN=did:corio:<id of the organisation's key>[, O=name], valid from
 * CORIO_X509_BACKDATE_SECONDS ago for the given days, subjectAltName URI:did:corio:<id>,
 * basicConstraints critical CA:TRUE pathlen:0 (it issues only end-entity certificates),
 * keyUsage critical keyCertSign and cRLSign, subject and authority key identifiers;
 * signed ecdsa-with-SHA256 by the organisation's key. The organisation's id is the one
 * its key founds (key 0); an organisation whose key has rotated names its DID in
 * org_id instead.
 * Returns CORIO_OK and *out, CORIO_ERR_INVAL (arguments, name, days),
 * CORIO_ERR_UNSUPPORTED (not an OpenSSL P-256 key with its private part) or
 * CORIO_ERR_CRYPTO.
 */
int corio_x509_ca_new(const struct corio_x509_ca_options *o, const char *org_id, X509 **out,
                      char *why, size_t whylen);

struct corio_x509_issue_options {
    X509 *ca_cert;                  /* the organisation's CA certificate */
    const struct corio_key *ca_key; /* its key: the organisation's key */
    const uint8_t *pub;             /* the subject's public key, 65 bytes (04 || x || y) */
    enum corio_x509_role role;
    /* The subject's short id for the URI SAN did:corio:<id> (gateway, ledger node: NULL
     * means the id the key founds, i.e. key 0; cloud: NULL means no URI SAN). */
    const char *did_id;
    /* The commonName; NULL: the role's default (see enum corio_x509_role). */
    const char *cn;
    /* A ledger node's consensus id (corio-ledger's node_id), written as the URI SAN
     * CORIO_X509_LEDGER_NODE_URI<id> that corio-ledger checks; required for that role,
     * refused for the others. */
    uint64_t node_id;
    /* dNSName and iPAddress SANs (text, checked), for certificates that serve. */
    const char *const *dns;
    size_t ndns;
    const char *const *ip;
    size_t nip;
    /* Validity; 0: CORIO_X509_LEAF_DAYS_DEFAULT. At most CORIO_X509_LEAF_DAYS_MAX, and
     * never past the CA's own end. */
    int days;
};

/*
 * Issues a certificate for a key: X.509 v3, random positive 127-bit serial, issuer the
 * CA's subject, subject CN=<cn>, OU=<role>, O=<the CA's commonName, did:corio:<org>>;
 * basicConstraints critical CA:FALSE, keyUsage critical digitalSignature,
 * extendedKeyUsage serverAuth and clientAuth, subjectAltName (URI, DNS and IP names as
 * above; none at all is allowed only for a cloud client), subject and authority key
 * identifiers; signed ecdsa-with-SHA256 by the CA's key.
 * Refused (CORIO_ERR_INVAL, with the reason): a CA certificate that is not a CA or not
 * this key's, a subject key that is the CA's own, a name that is not valid, more than
 * CORIO_X509_MAX_NAMES names, days out of range or past the CA's end. CORIO_ERR_MALFORMED:
 * pub is not a P-256 point. CORIO_ERR_CRYPTO: OpenSSL failed.
 */
int corio_x509_issue(const struct corio_x509_issue_options *o, X509 **out, char *why,
                     size_t whylen);

/*
 * Writes cert as PEM to path, mode 0644: written to a temporary name in the same
 * directory, synced, then linked into place, so it appears whole or not at all, and an
 * existing file is never replaced. Returns CORIO_OK, CORIO_ERR_STATE (path exists),
 * CORIO_ERR_IO or CORIO_ERR_INVAL.
 */
int corio_x509_write_pem(X509 *cert, const char *path);

/*
 * Reads the first certificate of a PEM file. Returns CORIO_OK and *out,
 * CORIO_ERR_NOTFOUND (no such file), CORIO_ERR_IO or CORIO_ERR_MALFORMED (no
 * certificate in it).
 */
int corio_x509_read_pem(const char *path, X509 **out);

/*
 * The did:corio short ids that cert's subjectAltName names as URIs did:corio:<id>
 * (without fragment), in order: copies up to max of them into ids and returns how
 * many there are (which may exceed max), or CORIO_ERR_INVAL. A URI that starts with
 * did:corio: but is not a valid DID counts as none.
 */
int corio_x509_dids(X509 *cert, char (*ids)[CORIO_DID_ID_CHARS + 1], size_t max);

/* Whether cert's public key is key's: CORIO_OK, CORIO_ERR_BADSIG (another key) or
 * CORIO_ERR_INVAL. */
int corio_x509_matches_key(X509 *cert, const struct corio_key *key);

/*
 * The check a program makes of its own certificate at start: the PEM file at
 * cert_path must hold a certificate for key, and when it names did:corio identities
 * (URI SANs), one of them must be short_id. Returns CORIO_OK, or an error with the
 * reason in why: CORIO_ERR_NOTFOUND, CORIO_ERR_IO, CORIO_ERR_MALFORMED (no
 * certificate), CORIO_ERR_BADSIG (for another key), CORIO_ERR_POLICY (names other
 * identities only).
 */
int corio_x509_check_own(const char *cert_path, const struct corio_key *key, const char *short_id,
                         char *why, size_t whylen);

#endif /* CORIO_X509_H */
