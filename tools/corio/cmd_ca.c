/*
 * cmd_ca.c - `corio ca`: an organisation's certificate authority for Corio's TLS. `new`
 * makes the CA certificate, self-signed with the organisation's own key; `sign` issues
 * a certificate for a gateway's, cloud service's or ledger node's key. The work is
 * common/corio_x509.c (libcrypto); this file is the command line.
 *
 * A CA directory holds ca.crt (the certificate, which brokers and devices trust) and
 * ca.key, a symbolic link to the organisation's key file: the organisation's private
 * key exists once, where its owner keeps it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "corio/error.h"
#include "corio/topic.h"
#include "corio_x509.h"
#include "crypto_openssl.h"

enum {
    OPT_ORG_KEY = 256,
    OPT_OUT,
    OPT_NAME,
    OPT_DAYS,
    OPT_ORG_ID,
    OPT_CA,
    OPT_KEY,
    OPT_PUB,
    OPT_ROLE,
    OPT_DID,
    OPT_CN,
    OPT_DNS,
    OPT_IP,
    OPT_NODE_ID,
    OPT_HELP,
};

/* A short id, or a did:corio without a key number: the short id, or NULL. */
static const char *parse_id(const char *s)
{
    if (strncmp(s, CORIO_DID_PREFIX, CORIO_DID_PREFIX_LEN) == 0)
        s += CORIO_DID_PREFIX_LEN;
    return corio_short_id_valid(s, strlen(s)) ? s : NULL;
}

static int parse_days(const char *s, int max, int *days)
{
    uint64_t v;
    if (cli_parse_u64(s, &v) != 0 || v < 1 || v > (uint64_t)max)
        return cli_usage_error("--days: expected 1 to %d", max);
    *days = (int)v;
    return CLI_OK;
}

/* What identifies a certificate, as "name value" lines on stdout. */
static int print_cert(const char *path, X509 *x)
{
    struct tm tm;
    char end[32] = "?";
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        strftime(end, sizeof end, "%Y-%m-%dT%H:%M:%SZ", &tm);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1) {
        cli_error("cannot digest the certificate");
        return CLI_FAIL;
    }
    /* The subject as RFC 2253 writes it: CN=...,OU=...,O=... */
    BIO *mem = BIO_new(BIO_s_mem());
    char *subject = NULL;
    long n = 0;
    if (mem && X509_NAME_print_ex(mem, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0)
        n = BIO_get_mem_data(mem, &subject);
    printf("cert %s\nsubject %.*s\n", path, (int)n, subject ? subject : "");
    BIO_free(mem);
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_URI || g->type == GEN_DNS) {
            const ASN1_IA5STRING *s =
                g->type == GEN_URI ? g->d.uniformResourceIdentifier : g->d.dNSName;
            printf("%s %.*s\n", g->type == GEN_URI ? "uri" : "dns", ASN1_STRING_length(s),
                   (const char *)ASN1_STRING_get0_data(s));
        } else if (g->type == GEN_IPADD) {
            char text[INET6_ADDRSTRLEN] = "?";
            int len = ASN1_STRING_length(g->d.iPAddress);
            inet_ntop(len == 16 ? AF_INET6 : AF_INET, ASN1_STRING_get0_data(g->d.iPAddress), text,
                      sizeof text);
            printf("ip %s\n", text);
        }
    }
    GENERAL_NAMES_free(gens);
    printf("not_after %s\nsha256 ", end);
    cli_hex_print(stdout, md, mdlen);
    putchar('\n');
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

static int write_cert(X509 *x, const char *path)
{
    int rc = corio_x509_write_pem(x, path);
    if (rc == CORIO_ERR_STATE) {
        cli_error("%s: exists; not replacing a certificate", path);
        return CLI_INPUT;
    }
    if (rc != CORIO_OK) {
        cli_error("%s: cannot write the certificate: %s", path, corio_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int ca_new(int argc, char **argv)
{
    static const struct option opts[] = {
        {"org-key", required_argument, NULL, OPT_ORG_KEY},
        {"out", required_argument, NULL, OPT_OUT},
        {"name", required_argument, NULL, OPT_NAME},
        {"days", required_argument, NULL, OPT_DAYS},
        {"org-id", required_argument, NULL, OPT_ORG_ID},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *org_key = NULL, *out = NULL, *name = NULL, *org_id = NULL;
    int days = 0, c, rc;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ORG_KEY:
            org_key = optarg;
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_NAME:
            name = optarg;
            break;
        case OPT_DAYS:
            if ((rc = parse_days(optarg, CORIO_X509_CA_DAYS_MAX, &days)) != CLI_OK)
                return rc;
            break;
        case OPT_ORG_ID:
            if (!(org_id = parse_id(optarg)))
                return cli_usage_error("--org-id: '%s' is not a did:corio or short id", optarg);
            break;
        case OPT_HELP:
            cli_command_help(stdout);
            return CLI_OK;
        default:
            return cli_usage_error("bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!org_key || !out)
        return cli_usage_error("--org-key and --out are required");
    if (name && (!*name || strlen(name) > CORIO_X509_CN_MAX))
        return cli_usage_error("--name: 1 to %d bytes", CORIO_X509_CN_MAX);

    char abs_key[PATH_MAX];
    if (!realpath(org_key, abs_key)) {
        cli_error("%s: %s", org_key, strerror(errno));
        return CLI_INPUT;
    }
    struct corio_key key;
    if ((rc = cli_load_key(org_key, &key)) != CLI_OK)
        return rc;
    if (mkdir(out, 0700) != 0 && errno != EEXIST) {
        corio_key_close(&key);
        cli_error("%s: cannot create the directory: %s", out, strerror(errno));
        return CLI_FAIL;
    }
    char *crt_path = NULL, *key_path = NULL;
    X509 *x = NULL;
    char why[256];
    rc = CLI_FAIL;
    if (asprintf(&crt_path, "%s/ca.crt", out) < 0 || asprintf(&key_path, "%s/ca.key", out) < 0) {
        crt_path = key_path = NULL;
        cli_error("out of memory");
        goto done;
    }
    struct stat st;
    if (lstat(crt_path, &st) == 0 || lstat(key_path, &st) == 0) {
        cli_error("%s: already holds a CA; not replacing it", out);
        rc = CLI_INPUT;
        goto done;
    }
    struct corio_x509_ca_options o = {.org_key = &key, .name = name, .days = days};
    int err = corio_x509_ca_new(&o, org_id, &x, why, sizeof why);
    if (err != CORIO_OK) {
        cli_error("cannot make the CA: %s", why);
        rc = err == CORIO_ERR_INVAL ? CLI_USAGE : CLI_FAIL;
        goto done;
    }
    if (symlink(abs_key, key_path) != 0) {
        cli_error("%s: cannot link the organisation's key: %s", key_path, strerror(errno));
        goto done;
    }
    if ((rc = write_cert(x, crt_path)) != CLI_OK) {
        unlink(key_path);
        goto done;
    }
    rc = print_cert(crt_path, x);
done:
    X509_free(x);
    free(crt_path);
    free(key_path);
    corio_key_close(&key);
    return rc;
}

/* The CA of a directory: its certificate and the organisation's key, which must match. */
static int load_ca(const char *dir, const char *org_key, X509 **cert, struct corio_key *key)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    int rc = corio_x509_read_pem(path, cert);
    if (rc != CORIO_OK) {
        cli_error("%s: %s", path,
                  rc == CORIO_ERR_NOTFOUND    ? "no such file (make the CA with corio ca new)"
                  : rc == CORIO_ERR_MALFORMED ? "no PEM certificate in it"
                                              : corio_strerror(rc));
        return CLI_INPUT;
    }
    if (!org_key) {
        snprintf(path, sizeof path, "%s/ca.key", dir);
        org_key = path;
    }
    if ((rc = cli_load_key(org_key, key)) != CLI_OK) {
        X509_free(*cert);
        *cert = NULL;
        return rc;
    }
    if (corio_x509_matches_key(*cert, key) != CORIO_OK) {
        cli_error("%s: not the key of %s/ca.crt", org_key, dir);
        X509_free(*cert);
        *cert = NULL;
        corio_key_close(key);
        return CLI_INPUT;
    }
    return CLI_OK;
}

static int ca_sign(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ca", required_argument, NULL, OPT_CA},
        {"org-key", required_argument, NULL, OPT_ORG_KEY},
        {"key", required_argument, NULL, OPT_KEY},
        {"pub", required_argument, NULL, OPT_PUB},
        {"role", required_argument, NULL, OPT_ROLE},
        {"out", required_argument, NULL, OPT_OUT},
        {"did", required_argument, NULL, OPT_DID},
        {"cn", required_argument, NULL, OPT_CN},
        {"dns", required_argument, NULL, OPT_DNS},
        {"ip", required_argument, NULL, OPT_IP},
        {"node-id", required_argument, NULL, OPT_NODE_ID},
        {"days", required_argument, NULL, OPT_DAYS},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    uint64_t node_id = 0;
    const char *ca = NULL, *org_key = NULL, *key_file = NULL, *pub_arg = NULL, *out = NULL;
    const char *did_id = NULL, *cn = NULL, *dns[CORIO_X509_MAX_NAMES], *ip[CORIO_X509_MAX_NAMES];
    size_t ndns = 0, nip = 0;
    enum corio_x509_role role = CORIO_X509_ROLE_GATEWAY;
    bool have_role = false;
    unsigned char addr[16];
    int days = 0, c, rc;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CA:
            ca = optarg;
            break;
        case OPT_ORG_KEY:
            org_key = optarg;
            break;
        case OPT_KEY:
            key_file = optarg;
            break;
        case OPT_PUB:
            pub_arg = optarg;
            break;
        case OPT_ROLE:
            if (corio_x509_role_parse(optarg, &role) != CORIO_OK)
                return cli_usage_error("--role: expected gateway, cloud or ledger-node");
            have_role = true;
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_DID:
            if (!(did_id = parse_id(optarg)))
                return cli_usage_error("--did: '%s' is not a did:corio (without #key) or a "
                                       "short id",
                                       optarg);
            break;
        case OPT_CN:
            if (!*optarg || strlen(optarg) > CORIO_X509_CN_MAX)
                return cli_usage_error("--cn: 1 to %d bytes", CORIO_X509_CN_MAX);
            cn = optarg;
            break;
        case OPT_DNS:
            if (!corio_x509_dns_name_valid(optarg))
                return cli_usage_error("--dns: '%s' is not a host name", optarg);
            if (ndns + nip + 2 >= CORIO_X509_MAX_NAMES)
                return cli_usage_error("at most %d --dns and --ip", CORIO_X509_MAX_NAMES - 2);
            dns[ndns++] = optarg;
            break;
        case OPT_IP:
            if (inet_pton(AF_INET, optarg, addr) != 1 && inet_pton(AF_INET6, optarg, addr) != 1)
                return cli_usage_error("--ip: '%s' is not an IPv4 or IPv6 address", optarg);
            if (ndns + nip + 2 >= CORIO_X509_MAX_NAMES)
                return cli_usage_error("at most %d --dns and --ip", CORIO_X509_MAX_NAMES - 2);
            ip[nip++] = optarg;
            break;
        case OPT_NODE_ID:
            if (cli_parse_u64(optarg, &node_id) != 0 || node_id == 0)
                return cli_usage_error("--node-id: expected a consensus id, 1 or more");
            break;
        case OPT_DAYS:
            if ((rc = parse_days(optarg, CORIO_X509_LEAF_DAYS_MAX, &days)) != CLI_OK)
                return rc;
            break;
        case OPT_HELP:
            cli_command_help(stdout);
            return CLI_OK;
        default:
            return cli_usage_error("bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!ca || !out || !have_role)
        return cli_usage_error("--ca, --role and --out are required");
    if ((role == CORIO_X509_ROLE_LEDGER_NODE) != (node_id != 0))
        return cli_usage_error(node_id ? "--node-id goes with --role ledger-node"
                                       : "--role ledger-node needs --node-id (its node_id)");
    if (!key_file == !pub_arg)
        return cli_usage_error("give the subject's key with exactly one of --key and --pub");

    uint8_t pub[CORIO_P256_PUB_LEN];
    if (key_file) {
        struct corio_key k;
        if ((rc = cli_load_key(key_file, &k)) != CLI_OK)
            return rc;
        int e = corio_key_public(&k, pub);
        corio_key_close(&k);
        if (e != CORIO_OK) {
            cli_error("%s: %s", key_file, corio_strerror(e));
            return CLI_FAIL;
        }
    } else if ((rc = cli_load_public(pub_arg, pub)) != CLI_OK) {
        return rc;
    }

    X509 *ca_cert = NULL, *x = NULL;
    struct corio_key ca_key;
    if ((rc = load_ca(ca, org_key, &ca_cert, &ca_key)) != CLI_OK)
        return rc;
    struct corio_x509_issue_options o = {.ca_cert = ca_cert,
                                         .ca_key = &ca_key,
                                         .pub = pub,
                                         .role = role,
                                         .did_id = did_id,
                                         .cn = cn,
                                         .dns = dns,
                                         .ndns = ndns,
                                         .ip = ip,
                                         .nip = nip,
                                         .days = days,
                                         .node_id = node_id};
    char why[256];
    int err = corio_x509_issue(&o, &x, why, sizeof why);
    if (err != CORIO_OK) {
        cli_error("cannot issue the certificate: %s", why);
        rc = err == CORIO_ERR_CRYPTO ? CLI_FAIL : CLI_INPUT;
    } else if ((rc = write_cert(x, out)) == CLI_OK) {
        rc = print_cert(out, x);
    }
    X509_free(x);
    X509_free(ca_cert);
    corio_key_close(&ca_key);
    return rc;
}

static const struct cli_command commands[] = {
    {"new", "--org-key FILE --out DIR [--name TEXT] [--days N] [--org-id ID]",
     "make an organisation's CA certificate, self-signed with the organisation's key",
     "  --org-key FILE  the organisation's P-256 key (PEM); it signs the CA and all it issues\n"
     "  --out DIR       the CA directory (created, mode 0700): ca.crt, the certificate,\n"
     "                  and ca.key, a symbolic link to FILE; an existing CA is never\n"
     "                  replaced\n"
     "  --name TEXT     the organisation's name, as the subject's O (up to 64 bytes)\n"
     "  --days N        validity (default 3650, at most 10950)\n"
     "  --org-id ID     the organisation's did:corio (or short id) when FILE holds a\n"
     "                  rotated key; default: the id FILE's key founds\n"
     "The subject is CN=did:corio:<org> with the same URI SAN; basicConstraints CA:TRUE,\n"
     "pathlen:0; keyUsage keyCertSign, cRLSign. Prints cert, subject, uri, not_after and\n"
     "sha256 (the certificate's fingerprint) lines.\n",
     ca_new},
    {"sign",
     "--ca DIR (--key FILE | --pub KEY) --role gateway|cloud|ledger-node --out FILE\n"
     "      [--dns NAME]... [--ip ADDR]... [--node-id N] [--did DID] [--cn TEXT] [--days N]",
     "issue a certificate for a gateway's, cloud service's or ledger node's key",
     "  --ca DIR        the CA directory made by corio ca new\n"
     "  --org-key FILE  the organisation's key, when DIR/ca.key does not lead to it\n"
     "  --key FILE      the subject's private key (PEM; only its public part is used)\n"
     "  --pub KEY       or its public key: did:key, zDn..., hex, or a PEM file\n"
     "  --role ROLE     gateway: CN is the gateway's short id, URI SAN its did:corio\n"
     "                  cloud: CN corio-cloud-<org id> (corio-cloud's default client id),\n"
     "                         no URI SAN unless --did\n"
     "                  ledger-node: CN the node's short id, URI SANs its did:corio and\n"
     "                         urn:corio:ledger:node:N (corio-ledger checks it)\n"
     "  --out FILE      the certificate (PEM, mode 0644; never replaces a file)\n"
     "  --dns NAME      a DNS name the subject serves under (repeatable)\n"
     "  --ip ADDR       an IPv4 or IPv6 address it serves under (repeatable)\n"
     "  --node-id N     a ledger node's consensus id (its node_id); required for that role\n"
     "  --did DID       the subject's did:corio when the key is not its key 0\n"
     "  --cn TEXT       another common name (up to 64 bytes)\n"
     "  --days N        validity (default 365, at most 3650, never past the CA's end)\n"
     "Every certificate has keyUsage digitalSignature and extendedKeyUsage serverAuth and\n"
     "clientAuth, OU=<role> and O=did:corio:<org>. Devices built on mbedTLS 2.28 match\n"
     "the server's name against DNS names only: give a gateway a --dns name its devices\n"
     "use. Prints the same lines as corio ca new.\n",
     ca_sign},
};

const struct cli_group cli_group_ca = {"ca", "an organisation's certificate authority for TLS",
                                       commands, sizeof commands / sizeof commands[0]};
