/*
 * test_ledger_util.h - helpers the ledger's unit and integration tests share:
 * organisation CAs and node certificates for mutual TLS, made with the openssl command
 * through the harness (h_pki_create for the CA, then a node certificate that is good
 * for both TLS roles and names 127.0.0.1, localhost and the node's id, as a ledger node
 * needs).
 * Header-only; every function is static.
 */
#ifndef TEST_LEDGER_UTIL_H
#define TEST_LEDGER_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

struct t_org {
    struct h_pki *pki; /* ca_cert, ca_key */
};

struct t_node_cert {
    const char *cert, *key;
};

/* A new organisation CA. */
static inline struct t_org t_org_new(const char *name)
{
    struct t_org o;
    o.pki = h_pki_create(name);
    return o;
}

/* A node certificate issued by org's CA, for serverAuth and clientAuth, with the given
 * subjectAltName. Returns 0 or -1. */
static inline int t_node_cert_san(struct t_org *org, const char *name, const char *san,
                                  struct t_node_cert *out)
{
    const char *dir = org->pki->dir;
    const char *key = h_strf("%s/%s.key", dir, name);
    const char *csr = h_strf("%s/%s.csr", dir, name);
    const char *crt = h_strf("%s/%s.crt", dir, name);
    const char *ext = h_strf("%s/%s.ext", dir, name);
    if (h_write_file(ext, h_strf("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                                 "extendedKeyUsage=serverAuth,clientAuth\n"
                                 "subjectAltName=%s\n",
                                 san)) != CORIO_OK)
        return -1;
    const char *req[] = {
        "openssl", "req",     "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes",  "-keyout", key,    "-out",    csr,  "-subj",    h_strf("/CN=%s", name),
        NULL};
    const char *sign[] = {"openssl",
                          "x509",
                          "-req",
                          "-in",
                          csr,
                          "-CA",
                          org->pki->ca_cert,
                          "-CAkey",
                          org->pki->ca_key,
                          "-CAcreateserial",
                          "-days",
                          "2",
                          "-sha256",
                          "-extfile",
                          ext,
                          "-out",
                          crt,
                          NULL};
    if (h_run("openssl", req, NULL, 30000, NULL) != 0 ||
        h_run("openssl", sign, NULL, 30000, NULL) != 0)
        return -1;
    out->cert = crt;
    out->key = key;
    return 0;
}

/* A node certificate naming 127.0.0.1 and localhost, as a ledger node on loopback
 * needs, and its consensus id (URI urn:corio:ledger:node:<id>, ledger_tls_transport.h). */
static inline int t_node_cert(struct t_org *org, const char *name, uint64_t id,
                              struct t_node_cert *out)
{
    return t_node_cert_san(
        org, name,
        h_strf("IP:127.0.0.1,DNS:localhost,URI:urn:corio:ledger:node:%llu", (unsigned long long)id),
        out);
}

#endif /* TEST_LEDGER_UTIL_H */
