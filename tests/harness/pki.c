/* pki.c - a throw-away certificate authority for TLS tests, made with the
 * openssl command (harness.h, "Certificates"). EC P-256, valid two days. */
#include "harness_int.h"

#include <stdio.h>
#include <string.h>

#define OPENSSL "openssl"

static int run_openssl(const char *const *args)
{
    const char *argv[32] = {OPENSSL};
    int n = 1;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *out;
    int st = h_run("openssl", argv, NULL, 30000, &out);
    if (st != 0)
        h__msg("openssl %s failed (status %d): %s", args[0], st, out ? out : "");
    return st == 0 ? CORIO_OK : CORIO_ERR_IO;
}

/* A key and a certificate signed by the CA, with the given subjectAltName. */
static int issue(struct h_pki *pki, const char *base, const char *cn, const char *san,
                 const char *usage, const char **cert, const char **key)
{
    const char *k = h_strf("%s/%s.key", pki->dir, base);
    const char *csr = h_strf("%s/%s.csr", pki->dir, base);
    const char *crt = h_strf("%s/%s.crt", pki->dir, base);
    const char *ext = h_strf("%s/%s.ext", pki->dir, base);
    const char *text = h_strf("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                              "extendedKeyUsage=%s\n%s%s\n",
                              usage, san ? "subjectAltName=" : "", san ? san : "");
    if (h_write_file(ext, text) != CORIO_OK)
        return CORIO_ERR_IO;
    const char *req[] = {
        "req",     "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", k,      "-out",    csr,  "-subj",    h_strf("/CN=%s", cn),           NULL};
    const char *sign[] = {"x509",     "-req",      "-in",
                          csr,        "-CA",       pki->ca_cert,
                          "-CAkey",   pki->ca_key, "-CAcreateserial",
                          "-days",    "2",         "-sha256",
                          "-extfile", ext,         "-out",
                          crt,        NULL};
    if (run_openssl(req) != CORIO_OK || run_openssl(sign) != CORIO_OK)
        return CORIO_ERR_IO;
    *cert = crt;
    *key = k;
    return CORIO_OK;
}

struct h_pki *h_pki_create(const char *client_cn)
{
    struct h_pki *pki = h__scoped(h__xcalloc(1, sizeof *pki));
    pki->dir = h_mkdir("pki");
    pki->ca_cert = h_strf("%s/ca.crt", pki->dir);
    pki->ca_key = h_strf("%s/ca.key", pki->dir);
    const char *ca[] = {"req",        "-x509",
                        "-newkey",    "ec",
                        "-pkeyopt",   "ec_paramgen_curve:prime256v1",
                        "-nodes",     "-keyout",
                        pki->ca_key,  "-out",
                        pki->ca_cert, "-days",
                        "2",          "-sha256",
                        "-subj",      "/CN=corio test CA",
                        "-addext",    "basicConstraints=critical,CA:TRUE",
                        "-addext",    "keyUsage=critical,keyCertSign,cRLSign",
                        NULL};
    if (run_openssl(ca) != CORIO_OK)
        return NULL;
    if (issue(pki, "server", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth",
              &pki->server_cert, &pki->server_key) != CORIO_OK)
        return NULL;
    if (issue(pki, "client", client_cn ? client_cn : "client", NULL, "clientAuth",
              &pki->client_cert, &pki->client_key) != CORIO_OK)
        return NULL;
    return pki;
}

int h_pki_issue(struct h_pki *pki, const char *cn, const char **cert, const char **key)
{
    if (!pki || !cn || !cert || !key)
        return CORIO_ERR_INVAL;
    char base[96];
    snprintf(base, sizeof base, "client-");
    size_t n = strlen(base);
    for (size_t i = 0; cn[i] && n < sizeof base - 1; i++) {
        char c = cn[i];
        base[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '_'
                        ? c
                        : '_';
    }
    base[n] = 0;
    return issue(pki, base, cn, NULL, "clientAuth", cert, key);
}
