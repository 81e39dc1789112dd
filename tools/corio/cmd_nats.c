/*
 * cmd_nats.c - `corio nats auth`: nats-server's users and permissions when it is the
 * gateways' cloud broker (docs/scale-out.md, "Permissions"), written from the registry,
 * so that each gateway's certificate holds it to its own subjects as the cloud broker's
 * Mosquitto ACL does, and corio-cloud's certificate to what ingest needs (over NATS on
 * the scale-out path, or over MQTT with its bus mosquitto).
 *
 * nats-server 2.9 has no per-user templates in its configuration file: every gateway
 * gets its own users entry, named by its certificate's URI SAN (did:corio:<id>, which
 * `verify_and_map` tries before the subject). Every name written into the configuration
 * is checked to hold no character that its syntax could read as more than a name.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/x509.h>

#include "cli.h"
#include "corio/error.h"
#include "corio/topic.h"
#include "corio_registry.h"
#include "corio_x509.h"

#define MAX_CLOUDS   16
#define NAME_MAX_LEN 64 /* a stream's or consumer's name */
#define DN_MAX_LEN   512
#define DEF_STREAM   "CORIO_BATCHES"
#define DEF_CONSUMER "corio-ingest"

enum {
    OPT_ORG = 256,
    OPT_REGISTRY,
    OPT_GATEWAY,
    OPT_CLOUD_CERT,
    OPT_STREAM,
    OPT_CONSUMER,
    OPT_BUS,
    OPT_OUT,
    OPT_HELP,
};

/* A short id, or a did:corio without a key number: the short id, or NULL. */
static const char *parse_id(const char *s)
{
    if (strncmp(s, CORIO_DID_PREFIX, CORIO_DID_PREFIX_LEN) == 0)
        s += CORIO_DID_PREFIX_LEN;
    return corio_short_id_valid(s, strlen(s)) ? s : NULL;
}

/* A stream's or consumer's name: JetStream refuses '.', '*', '>' and white space in
 * them; the configuration's quoting would mind quotes and backslashes. */
static bool name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* A subject DN as nats-server's verify_and_map compares it: RFC 4514 (OpenSSL's RFC 2253
 * printing, most specific first: CN=...,OU=...,O=...). Refused when it needed escapes or
 * holds anything but printable ASCII: such a name would need quoting rules of two
 * syntaxes to agree. */
static int cert_dn(const char *path, char *dn, size_t cap)
{
    X509 *x = NULL;
    int rc = corio_x509_read_pem(path, &x);
    if (rc != CORIO_OK) {
        cli_error("%s: %s", path,
                  rc == CORIO_ERR_NOTFOUND    ? "no such file"
                  : rc == CORIO_ERR_MALFORMED ? "no PEM certificate in it"
                                              : corio_strerror(rc));
        return CLI_INPUT;
    }
    BIO *mem = BIO_new(BIO_s_mem());
    char *text = NULL;
    long n = 0;
    if (mem && X509_NAME_print_ex(mem, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0)
        n = BIO_get_mem_data(mem, &text);
    rc = CLI_OK;
    if (!text || n <= 0) {
        cli_error("%s: the certificate has no subject", path);
        rc = CLI_INPUT;
    } else if ((size_t)n >= cap) {
        cli_error("%s: the subject is longer than %zu bytes", path, cap - 1);
        rc = CLI_INPUT;
    } else {
        for (long i = 0; i < n && rc == CLI_OK; i++) {
            unsigned char c = (unsigned char)text[i];
            if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '\'') {
                cli_error("%s: the subject '%.*s' holds characters that need escaping; "
                          "issue corio-cloud a certificate with a plain name",
                          path, (int)n, text);
                rc = CLI_INPUT;
            }
        }
        if (rc == CLI_OK)
            snprintf(dn, cap, "%.*s", (int)n, text);
    }
    BIO_free(mem);
    X509_free(x);
    return rc;
}

/* What the users are written from. */
struct auth {
    const char *org;
    bool mqtt_cloud; /* corio-cloud's bus mosquitto: it reaches the broker over MQTT */
    const char *stream, *consumer;
    const char (*dns)[DN_MAX_LEN]; /* corio-cloud's users */
    size_t ndns;
};

struct ids {
    char (*id)[CORIO_REG_ID_CHARS + 1];
    size_t n, cap;
};

static int add_id(struct ids *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->id[i], id) == 0)
            return CLI_OK;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        void *p = realloc(s->id, cap * sizeof *s->id);
        if (!p) {
            cli_error("out of memory");
            return CLI_FAIL;
        }
        s->id = p;
        s->cap = cap;
    }
    snprintf(s->id[s->n++], sizeof s->id[0], "%s", id);
    return CLI_OK;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* corio-cloud with bus nats: the stream and its consumer, acks (also into $MQTT_msgs,
 * as nats-server stores an MQTT QoS 1 publish), live events, gateways' status documents;
 * over NATS. */
static void write_cloud_nats(FILE *f, const struct auth *a, const char *dn)
{
    const char *s = a->stream, *c = a->consumer;
    fprintf(f,
            "    {\n"
            "      user: \"%s\"\n"
            "      allowed_connection_types: [\"STANDARD\"]\n"
            "      permissions: {\n"
            "        publish: { allow: [\n"
            "          \"$JS.API.STREAM.INFO.%s\", \"$JS.API.STREAM.CREATE.%s\",\n"
            "          \"$JS.API.CONSUMER.INFO.%s.%s\",\n"
            "          \"$JS.API.CONSUMER.DURABLE.CREATE.%s.%s\",\n"
            "          \"$JS.API.CONSUMER.MSG.NEXT.%s.%s\", \"$JS.ACK.%s.%s.>\",\n"
            "          \"corio.v1.g.*.ack\", \"$MQTT.msgs.corio.v1.g.*.ack\",\n"
            "          \"corio.v1.o.%s.live\"\n"
            "        ] }\n"
            "        subscribe: { allow: [\"_INBOX.>\", \"corio.v1.o.%s.live\", "
            "\"corio.v1.g.*.status\"] }\n"
            "      }\n"
            "    }\n",
            dn, s, s, s, c, s, c, s, c, s, c, a->org, a->org);
}

/* corio-cloud with bus mosquitto, nats-server its MQTT broker: what the cloud broker's
 * Mosquitto ACL gives it (batches and state in, acks and downlink out); over MQTT. */
static void write_cloud_mqtt(FILE *f, const char *dn)
{
    fprintf(f,
            "    {\n"
            "      user: \"%s\"\n"
            "      allowed_connection_types: [\"MQTT\"]\n"
            "      permissions: {\n"
            "        publish: { allow: [\"corio.v1.g.*.ack\", \"corio.v1.g.*.down\"] }\n"
            "        subscribe: { allow: [\"corio.v1.g.*.batch\", \"corio.v1.g.*.state\", "
            "\"corio.v1.g.*.status\", \"$MQTT.sub.>\"] }\n"
            "      }\n"
            "    }\n",
            dn);
}

static void write_gateway(FILE *f, const char *id)
{
    fprintf(f,
            "    {\n"
            "      user: \"did:corio:%s\"\n"
            "      allowed_connection_types: [\"MQTT\"]\n"
            "      permissions: {\n"
            "        publish: { allow: [\"corio.v1.g.%s.batch\", \"corio.v1.g.%s.state\", "
            "\"corio.v1.g.%s.status\"] }\n"
            "        subscribe: { allow: [\"corio.v1.g.%s.ack\", \"corio.v1.g.%s.down\", "
            "\"$MQTT.sub.>\"] }\n"
            "      }\n"
            "    }\n",
            id, id, id, id, id, id);
}

/* The whole configuration, in memory: nothing is written unless all of it is made. */
static char *auth_text(const struct auth *a, const struct ids *gw, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    fprintf(f,
            "# nats-server users and permissions for Corio (docs/scale-out.md, \"Permissions\"),\n"
            "# written by `corio nats auth`: write it again when a gateway is added or removed.\n"
            "# Certificates name the users (tls and mqtt.tls with verify_and_map): a gateway\n"
            "# by its URI SAN did:corio:<id>, corio-cloud by its subject. A gateway may publish\n"
            "# its own batch and state and read its own ack and down subjects, over MQTT only;\n"
            "# $MQTT.sub.> is where nats-server 2.9 delivers an MQTT QoS 1 subscription (the\n"
            "# MQTT listener refuses clients' own subscriptions there).\n");
    if (a->mqtt_cloud)
        fprintf(f,
                "# corio-cloud (bus mosquitto) may read batches and state and write acks and\n"
                "# downlink, over MQTT only.\n"
                "#   organisation %s\n",
                a->org);
    else
        fprintf(f,
                "# corio-cloud (bus nats) may use the stream and its consumer, publish acks (also\n"
                "# into $MQTT_msgs, as MQTT QoS 1) and share its organisation's live events,\n"
                "# over NATS only.\n"
                "#   organisation %s, stream %s, consumer %s\n",
                a->org, a->stream, a->consumer);
    fprintf(f, "authorization {\n  users = [\n");
    for (size_t i = 0; i < a->ndns; i++) {
        if (a->mqtt_cloud)
            write_cloud_mqtt(f, a->dns[i]);
        else
            write_cloud_nats(f, a, a->dns[i]);
    }
    for (size_t i = 0; i < gw->n; i++)
        write_gateway(f, gw->id[i]);
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Replaces path with text atomically (a new file beside it, renamed), mode 0644. */
static int write_out(const char *path, const char *text, size_t len)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-%ld", path, (long)getpid()) < 0) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    FILE *f = fopen(tmp, "w");
    bool ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && (chmod(tmp, 0644) != 0 || rename(tmp, path) != 0))
        ok = false;
    if (!ok) {
        cli_error("%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? CLI_OK : CLI_FAIL;
}

static int nats_auth(int argc, char **argv)
{
    static const struct option opts[] = {
        {"org", required_argument, NULL, OPT_ORG},
        {"registry", required_argument, NULL, OPT_REGISTRY},
        {"gateway", required_argument, NULL, OPT_GATEWAY},
        {"cloud-cert", required_argument, NULL, OPT_CLOUD_CERT},
        {"stream", required_argument, NULL, OPT_STREAM},
        {"consumer", required_argument, NULL, OPT_CONSUMER},
        {"bus", required_argument, NULL, OPT_BUS},
        {"out", required_argument, NULL, OPT_OUT},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *org = NULL, *registry = NULL, *out = NULL;
    const char *stream = DEF_STREAM, *consumer = DEF_CONSUMER;
    bool mqtt_cloud = false, named = false;
    const char *certs[MAX_CLOUDS];
    size_t ncerts = 0;
    struct ids gw = {0};
    int c, rc = CLI_OK;
    optind = 0;
    opterr = 0;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        const char *id;
        switch (c) {
        case OPT_ORG:
            if (!(org = parse_id(optarg)))
                rc = cli_usage_error("--org: '%s' is not a did:corio or short id", optarg);
            break;
        case OPT_REGISTRY:
            registry = optarg;
            break;
        case OPT_GATEWAY:
            if (!(id = parse_id(optarg)))
                rc = cli_usage_error("--gateway: '%s' is not a did:corio or short id", optarg);
            else
                rc = add_id(&gw, id);
            break;
        case OPT_CLOUD_CERT:
            if (ncerts == MAX_CLOUDS)
                rc = cli_usage_error("at most %d --cloud-cert", MAX_CLOUDS);
            else
                certs[ncerts++] = optarg;
            break;
        case OPT_STREAM:
        case OPT_CONSUMER:
            if (!name_valid(optarg))
                rc = cli_usage_error("--%s: '%s' is not a name (1 to %d of A-Z a-z 0-9 - _)",
                                     c == OPT_STREAM ? "stream" : "consumer", optarg, NAME_MAX_LEN);
            else if (c == OPT_STREAM)
                stream = optarg;
            else
                consumer = optarg;
            named = true;
            break;
        case OPT_BUS:
            if (strcmp(optarg, "nats") == 0 || strcmp(optarg, "mosquitto") == 0)
                mqtt_cloud = strcmp(optarg, "mosquitto") == 0;
            else
                rc = cli_usage_error("--bus: expected nats or mosquitto (corio-cloud's bus)");
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_HELP:
            cli_command_help(stdout);
            free(gw.id);
            return CLI_OK;
        default:
            rc = cli_usage_error("bad option '%s'", argv[optind - 1]);
        }
    }
    if (rc == CLI_OK && optind != argc)
        rc = cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (rc == CLI_OK && !org)
        rc = cli_usage_error("--org is required (corio-cloud's org)");
    if (rc == CLI_OK && mqtt_cloud && named)
        rc = cli_usage_error("--stream and --consumer go with --bus nats");
    if (rc == CLI_OK && registry) {
        struct corio_reg *r = NULL;
        char err[256];
        if (corio_reg_load(registry, &r, err, sizeof err) != CORIO_OK) {
            cli_error("%s", err);
            rc = CLI_INPUT;
        }
        for (size_t i = 0; rc == CLI_OK && r && i < r->ngateways; i++) {
            const char *id = r->gateways[i].id;
            if (corio_short_id_valid(id, strlen(id))) {
                rc = add_id(&gw, id);
            } else {
                cli_error("%s: gateway '%s' is not a short id", registry, id);
                rc = CLI_INPUT;
            }
        }
        corio_reg_free(r);
    }
    if (rc == CLI_OK && !registry && gw.n == 0)
        rc = cli_usage_error("no gateways: give --registry or --gateway");

    char dns[MAX_CLOUDS][DN_MAX_LEN];
    size_t ndns = 0;
    if (rc == CLI_OK && ncerts == 0) {
        /* What `corio ca sign --role cloud` makes with the organisation's CA. */
        snprintf(dns[ndns++], DN_MAX_LEN, "CN=corio-cloud-%s,OU=cloud,O=" CORIO_DID_PREFIX "%s",
                 org, org);
    }
    for (size_t i = 0; rc == CLI_OK && i < ncerts; i++)
        rc = cert_dn(certs[i], dns[ndns++], DN_MAX_LEN);

    if (rc == CLI_OK) {
        qsort(gw.id, gw.n, sizeof gw.id[0], cmp_id);
        size_t len = 0;
        struct auth a = {.org = org,
                         .mqtt_cloud = mqtt_cloud,
                         .stream = stream,
                         .consumer = consumer,
                         .dns = (const char(*)[DN_MAX_LEN])dns,
                         .ndns = ndns};
        char *text = auth_text(&a, &gw, &len);
        if (!text) {
            cli_error("out of memory");
            rc = CLI_FAIL;
        } else if (out) {
            rc = write_out(out, text, len);
        } else if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
            rc = CLI_FAIL;
        }
        free(text);
        if (rc == CLI_OK && out)
            fprintf(stderr, "corio: %s: %zu gateway(s), %zu corio-cloud user(s)\n", out, gw.n,
                    ndns);
    }
    free(gw.id);
    return rc;
}

static const struct cli_command commands[] = {
    {"auth",
     "--org ID (--registry FILE | --gateway ID...) [--cloud-cert FILE]...\n"
     "      [--bus nats|mosquitto] [--stream NAME] [--consumer NAME] [--out FILE]",
     "write nats-server's users and permissions: each gateway held to its own subjects",
     "  --org ID          the organisation of the corio-cloud instances (their org key)\n"
     "  --registry FILE   a user for every gateway of this registry file\n"
     "  --gateway ID      and for this gateway (did:corio or short id; repeatable)\n"
     "  --cloud-cert FILE corio-cloud's client certificate: its subject names the user\n"
     "                    (repeatable); default CN=corio-cloud-<org>,OU=cloud,\n"
     "                    O=did:corio:<org>, what corio ca sign --role cloud makes\n"
     "  --bus BUS         corio-cloud's bus: nats (default; the scale-out path) or\n"
     "                    mosquitto (nats-server as its MQTT broker)\n"
     "  --stream NAME     corio-cloud's nats_stream (default " DEF_STREAM ")\n"
     "  --consumer NAME   corio-cloud's nats_consumer (default " DEF_CONSUMER ")\n"
     "  --out FILE        write here (replaced atomically) instead of stdout\n"
     "The output is an authorization block for nats-server 2.9: include it from the\n"
     "configuration whose tls and mqtt.tls blocks say verify_and_map: true. A gateway's\n"
     "user is did:corio:<id>, which its certificate's URI SAN names (corio ca sign --role\n"
     "gateway): it may publish corio.v1.g.<id>.batch, .state and .status and subscribe to\n"
     "corio.v1.g.<id>.ack and .down, over MQTT only. corio-cloud's user (bus nats) may use\n"
     "the stream and consumer, publish acks and share live events, over NATS only; with bus\n"
     "mosquitto it may read every gateway's batch and state and write acks and downlink,\n"
     "over MQTT only.\n",
     nats_auth},
};

const struct cli_group cli_group_nats = {"nats", "nats-server configuration for the scale-out path",
                                         commands, sizeof commands / sizeof commands[0]};
