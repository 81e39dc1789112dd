/*
 * cmd_sim.c - `corio sim`: simulated devices. `provision` makes their keys and flash
 * files in a state directory and prints their registry lines; `run` runs them against
 * a gateway, all in one process (tools/sim/). This file is the command line; the
 * engine is tools/sim/sim_run.c.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "corio/mqtt.h"
#include "corio/topic.h"
#include "sim.h"

enum {
    OPT_DEVICES = 256,
    OPT_DIR,
    OPT_ORG,
    OPT_REGISTRY_OUT,
    OPT_GATEWAY,
    OPT_GATEWAY_ID,
    OPT_RATE,
    OPT_COUNT,
    OPT_DURATION,
    OPT_FORMAT,
    OPT_SEED,
    OPT_DRAIN_TIMEOUT,
    OPT_SUMMARY,
    OPT_HEARTBEAT,
    OPT_REBOOT_EVERY,
    OPT_NETLOSS_EVERY,
    OPT_NO_TIME_FRACTION,
    OPT_STATUS,
    OPT_MQTT,
    OPT_CLAIMS,
    OPT_GATEWAY_CA,
    OPT_OTA_ANCHOR,
    OPT_AUTH,
    OPT_ROTATE_EVERY,
    OPT_ORG_KEY,
    OPT_ORG_KEY_NO,
    OPT_CA,
    OPT_TLS,
    OPT_SERVER_NAME,
    OPT_HELP,
};

/* A finite, non-negative decimal number (seconds, rates, fractions). */
static int parse_seconds(const char *s, double *v)
{
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || !(d >= 0) || d > 1e9)
        return -1;
    *v = d;
    return 0;
}

static int sim_provision_cmd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"devices", required_argument, NULL, OPT_DEVICES},
        {"dir", required_argument, NULL, OPT_DIR},
        {"org", required_argument, NULL, OPT_ORG},
        {"registry-out", required_argument, NULL, OPT_REGISTRY_OUT},
        {"claims", required_argument, NULL, OPT_CLAIMS},
        {"gateway-ca", required_argument, NULL, OPT_GATEWAY_CA},
        {"ota-anchor", required_argument, NULL, OPT_OTA_ANCHOR},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *org = NULL, *registry = NULL, *claims = NULL;
    struct sim_prov_opts po = {0};
    uint64_t devices = 20;
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_DEVICES:
            if (cli_parse_u64(optarg, &devices) != 0 || devices < 1 || devices > 100000)
                return cli_usage_error("--devices: expected 1 to 100000");
            break;
        case OPT_DIR:
            dir = optarg;
            break;
        case OPT_ORG:
            org = optarg;
            break;
        case OPT_REGISTRY_OUT:
            registry = optarg;
            break;
        case OPT_CLAIMS:
            claims = optarg;
            break;
        case OPT_GATEWAY_CA:
            po.gateway_ca = optarg;
            break;
        case OPT_OTA_ANCHOR: {
            uint8_t pub[65];
            if (strncmp(optarg, "did:key:", 8) != 0 || cli_load_public(optarg, pub) != CLI_OK)
                return cli_usage_error("--ota-anchor: expected a P-256 did:key");
            po.ota_anchor = optarg;
            break;
        }
        case OPT_HELP:
            cli_command_help(stdout);
            return CLI_OK;
        default:
            return cli_usage_error("bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!dir || !org)
        return cli_usage_error("--dir and --org are required");
    if (!corio_short_id_valid(org, strlen(org)))
        return cli_usage_error("--org: '%s' is not a short id (24 characters of a-z, 2-7)", org);
    FILE *out = stdout;
    if (registry) {
        out = fopen(registry, "w");
        if (!out) {
            cli_error("%s: cannot write", registry);
            return CLI_FAIL;
        }
    }
    if (claims) {
        po.claims = fopen(claims, "w");
        if (!po.claims) {
            cli_error("%s: cannot write", claims);
            if (registry)
                fclose(out);
            return CLI_FAIL;
        }
    }
    int rc = sim_provision(dir, (int)devices, org, out, &po);
    if (registry && fclose(out) != 0 && rc == CLI_OK) {
        cli_error("%s: cannot write", registry);
        rc = CLI_FAIL;
    }
    if (po.claims && fclose(po.claims) != 0 && rc == CLI_OK) {
        cli_error("%s: cannot write", claims);
        rc = CLI_FAIL;
    }
    return rc;
}

/* HOST:PORT, the host a name or an address ([v6] in brackets). */
static int parse_hostport(char *s, const char **host, uint16_t *port)
{
    char *colon = strrchr(s, ':');
    uint64_t p;
    if (!colon || colon == s || cli_parse_u64(colon + 1, &p) != 0 || p < 1 || p > 65535)
        return -1;
    *colon = '\0';
    if (s[0] == '[' && colon[-1] == ']') {
        colon[-1] = '\0';
        s++;
    }
    *host = s;
    *port = (uint16_t)p;
    return 0;
}

static int sim_run_cmd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, OPT_DIR},
        {"gateway", required_argument, NULL, OPT_GATEWAY},
        {"gateway-id", required_argument, NULL, OPT_GATEWAY_ID},
        {"devices", required_argument, NULL, OPT_DEVICES},
        {"rate", required_argument, NULL, OPT_RATE},
        {"count", required_argument, NULL, OPT_COUNT},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"seed", required_argument, NULL, OPT_SEED},
        {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
        {"summary", required_argument, NULL, OPT_SUMMARY},
        {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
        {"reboot-every", required_argument, NULL, OPT_REBOOT_EVERY},
        {"netloss-every", required_argument, NULL, OPT_NETLOSS_EVERY},
        {"no-time-fraction", required_argument, NULL, OPT_NO_TIME_FRACTION},
        {"status", required_argument, NULL, OPT_STATUS},
        {"mqtt", required_argument, NULL, OPT_MQTT},
        {"auth", required_argument, NULL, OPT_AUTH},
        {"rotate-every", required_argument, NULL, OPT_ROTATE_EVERY},
        {"org-key", required_argument, NULL, OPT_ORG_KEY},
        {"org-key-no", required_argument, NULL, OPT_ORG_KEY_NO},
        {"ca", required_argument, NULL, OPT_CA},
        {"tls", no_argument, NULL, OPT_TLS},
        {"server-name", required_argument, NULL, OPT_SERVER_NAME},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *ca = NULL;
    bool tls = false;
    struct sim_opts o;
    memset(&o, 0, sizeof o);
    o.rate = 1;
    o.format = CORIO_FORMAT_JSON;
    o.seed = 1;
    o.drain_timeout = 30;
    o.heartbeat = 60;
    o.status_every = 10;
    o.mqtt_version = CORIO_MQTT_V5;
    const char *auth = NULL;
    uint64_t u;
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_DIR:
            o.dir = optarg;
            break;
        case OPT_GATEWAY:
            if (parse_hostport(optarg, &o.host, &o.port) != 0)
                return cli_usage_error("--gateway: expected HOST:PORT");
            break;
        case OPT_GATEWAY_ID:
            if (!corio_short_id_valid(optarg, strlen(optarg)))
                return cli_usage_error("--gateway-id: expected the gateway's short id");
            o.gateway_id = optarg;
            break;
        case OPT_DEVICES:
            if (cli_parse_u64(optarg, &u) != 0 || u < 1 || u > 100000)
                return cli_usage_error("--devices: expected 1 to 100000");
            o.devices = (int)u;
            break;
        case OPT_RATE:
            if (parse_seconds(optarg, &o.rate) != 0 || o.rate < 0.001 || o.rate > 1000)
                return cli_usage_error("--rate: expected packs per second, 0.001 to 1000");
            break;
        case OPT_COUNT:
            if (cli_parse_u64(optarg, &o.count) != 0)
                return cli_usage_error("--count: expected a number of packs");
            break;
        case OPT_DURATION:
            if (parse_seconds(optarg, &o.duration) != 0)
                return cli_usage_error("--duration: expected seconds");
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "json") == 0)
                o.format = CORIO_FORMAT_JSON;
            else if (strcmp(optarg, "cbor") == 0)
                o.format = CORIO_FORMAT_CBOR;
            else
                return cli_usage_error("--format: expected json or cbor");
            break;
        case OPT_SEED:
            if (cli_parse_u64(optarg, &o.seed) != 0)
                return cli_usage_error("--seed: expected an unsigned integer");
            break;
        case OPT_DRAIN_TIMEOUT:
            if (parse_seconds(optarg, &o.drain_timeout) != 0)
                return cli_usage_error("--drain-timeout: expected seconds");
            break;
        case OPT_SUMMARY:
            o.summary = optarg;
            break;
        case OPT_HEARTBEAT:
            if (parse_seconds(optarg, &o.heartbeat) != 0 || o.heartbeat > 86400)
                return cli_usage_error("--heartbeat: expected seconds, at most 86400");
            break;
        case OPT_REBOOT_EVERY:
            if (parse_seconds(optarg, &o.reboot_every) != 0)
                return cli_usage_error("--reboot-every: expected seconds");
            break;
        case OPT_NETLOSS_EVERY:
            if (parse_seconds(optarg, &o.netloss_every) != 0)
                return cli_usage_error("--netloss-every: expected seconds");
            break;
        case OPT_NO_TIME_FRACTION:
            if (parse_seconds(optarg, &o.no_time_fraction) != 0 || o.no_time_fraction > 1)
                return cli_usage_error("--no-time-fraction: expected 0 to 1");
            break;
        case OPT_STATUS:
            if (parse_seconds(optarg, &o.status_every) != 0)
                return cli_usage_error("--status: expected seconds");
            break;
        case OPT_MQTT:
            if (strcmp(optarg, "5") == 0)
                o.mqtt_version = CORIO_MQTT_V5;
            else if (strcmp(optarg, "3.1.1") == 0)
                o.mqtt_version = CORIO_MQTT_V311;
            else
                return cli_usage_error("--mqtt: expected 5 or 3.1.1");
            break;
        case OPT_CA:
            ca = optarg;
            break;
        case OPT_TLS:
            tls = true;
            break;
        case OPT_SERVER_NAME:
            if (!*optarg || strlen(optarg) > 255)
                return cli_usage_error("--server-name: 1 to 255 characters");
            o.server_name = optarg;
            break;
        case OPT_AUTH:
            if (strcmp(optarg, "eat") != 0 && strcmp(optarg, "single") != 0)
                return cli_usage_error("--auth: expected eat or single");
            auth = optarg;
            break;
        case OPT_ROTATE_EVERY:
            if (parse_seconds(optarg, &o.rotate_every) != 0)
                return cli_usage_error("--rotate-every: expected seconds");
            break;
        case OPT_ORG_KEY:
            o.org_key = optarg;
            break;
        case OPT_ORG_KEY_NO:
            if (cli_parse_u64(optarg, &u) != 0 || u > UINT32_MAX)
                return cli_usage_error("--org-key-no: expected a key number");
            o.org_key_number = (uint32_t)u;
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
    if (!o.dir || !o.host || !o.gateway_id)
        return cli_usage_error("--dir, --gateway and --gateway-id are required");
    /* Enhanced authentication needs MQTT 5: the default there, single-step otherwise. */
    o.auth_eat = auth ? strcmp(auth, "eat") == 0 : o.mqtt_version == CORIO_MQTT_V5;
    if (o.auth_eat && o.mqtt_version != CORIO_MQTT_V5)
        return cli_usage_error("--auth eat needs --mqtt 5");
    if (o.rotate_every > 0 && !o.auth_eat)
        return cli_usage_error("--rotate-every needs --auth eat (single-step logins take the "
                               "registry's key only)");
    if (o.rotate_every > 0 && !o.org_key)
        return cli_usage_error("--rotate-every needs --org-key (the organisation endorses "
                               "every rotation)");
    if (o.server_name && !ca && !tls)
        return cli_usage_error("--server-name goes with --ca or --tls");
    if (!ca && !tls)
        return sim_run(&o);

    /* TLS: with the trust anchor named, or each device's own (sim_run.c). */
    o.tls = true;
    if (!o.server_name)
        o.server_name = o.host;
    uint8_t *pem = NULL;
    if (ca) {
        size_t len = 0;
        int rc = cli_read_file(ca, 1 << 20, &pem, &len);
        if (rc != CLI_OK)
            return rc;
        pem[len] = '\0'; /* cli_read_file leaves room for it */
        o.ca_pem = (const char *)pem;
    }
    int rc = sim_run(&o);
    free(pem);
    return rc;
}

static const struct cli_command commands[] = {
    {"provision",
     "--dir DIR --org ORG_ID [--devices N] [--registry-out FILE] [--claims FILE]\n"
     "      [--gateway-ca FILE] [--ota-anchor DIDKEY]",
     "make N simulated devices (keys, flash files, claim secrets, trust anchors) and print "
     "their registry lines",
     "  --dir DIR            the state directory (created if missing); each device gets\n"
     "                       <id>.pem (its P-256 key, mode 0600), <id>.flash (its\n"
     "                       flash, erased) and <id>.prov (its claim secret and trust\n"
     "                       anchors, mode 0600); devices already there are kept\n"
     "  --org ORG_ID         the owner organisation's short id, for the registry lines\n"
     "  --devices N          how many to make (default 20)\n"
     "  --registry-out FILE  write the registry lines to FILE instead of standard output:\n"
     "                       device <id> org=<org> key=<did:key> class=sim-sensor model=sim-1\n"
     "  --claims FILE        write each device's claim line to FILE: \"did:corio:<id>\n"
     "                       <secret>\", the text of the QR code printed with it, which\n"
     "                       `corio device claim` takes (docs/onboarding.md)\n"
     "  --gateway-ca FILE    the gateway's TLS trust anchor (PEM), copied to <id>.ca.pem\n"
     "  --ota-anchor DIDKEY  the OTA trust anchor, recorded in <id>.prov\n",
     sim_provision_cmd},
    {"run",
     "--dir DIR --gateway HOST:PORT --gateway-id GW [--devices N] [--rate R] [--count C]\n"
     "      [--duration S] [--format json|cbor] [--seed N] [--summary FILE]\n"
     "      [--ca FILE | --tls] [--server-name NAME] ...",
     "run the provisioned devices against a gateway, in one process",
     "  --dir DIR               the state directory made by corio sim provision\n"
     "  --gateway HOST:PORT     the gateway's MQTT listener\n"
     "  --gateway-id GW         the gateway's short id (the audience of the devices' EATs)\n"
     "  --devices N             run the first N devices of DIR (default: all)\n"
     "  --rate R                packs per second per device (default 1)\n"
     "  --count C               packs per device, then stop sampling (default: no limit)\n"
     "  --duration S            seconds of sampling, then stop (default: no limit)\n"
     "  --format json|cbor      SenML encoding, up/json or up/cbor (default json)\n"
     "  --seed N                seed of the sensor models and of the event schedules\n"
     "                          (default 1)\n"
     "  --heartbeat S           heartbeat interval on up/hb (default 60; 0: none)\n"
     "  --reboot-every S        each device reboots every S seconds on average: its RAM\n"
     "                          state is dropped and it boots again from its flash\n"
     "  --netloss-every S       each device loses its connection every S seconds on\n"
     "                          average (the socket is shut down under it)\n"
     "  --no-time-fraction F    this fraction of the devices has no clock: they stamp\n"
     "                          boot count and uptime until the gateway's dn/time gives\n"
     "                          them the time; the others keep time with a clock (the\n"
     "                          host's), and take dn/time too (default 0)\n"
     "  --drain-timeout S       after sampling, wait at most S seconds for every pack to\n"
     "                          be acknowledged (default 30); a second SIGINT ends it\n"
     "  --summary FILE          write per-device figures as JSON to FILE\n"
     "  --status S              a status line on stderr every S seconds (default 10; 0:\n"
     "                          none)\n"
     "  --mqtt 5|3.1.1          MQTT version (default 5)\n"
     "  --tls                   connect with TLS; the gateway's certificate must chain to\n"
     "                          each device's trust anchor, DIR/<id>" SIM_GATEWAY_CA_SUFFIX " as\n"
     "                          provisioning wrote it (its organisation's CA)\n"
     "  --ca FILE               connect with TLS, every device trusting FILE (PEM) instead\n"
     "  --server-name NAME      the DNS name the gateway's certificate must carry (default:\n"
     "                          the host of --gateway; the devices' TLS (mbedTLS 2.28)\n"
     "                          matches DNS names only, so give one when --gateway is an\n"
     "                          address)\n"
     "  --auth eat|single       MQTT 5 enhanced authentication corio-eat-v1 (the default\n"
     "                          under MQTT 5; a device the gateway does not know waits in\n"
     "                          quarantine and answers claims with its secret) or\n"
     "                          single-step (the default under 3.1.1)\n"
     "  --rotate-every S        each device rotates to a new key every S seconds on\n"
     "                          average: key k+1, its link signed by key k and endorsed by\n"
     "                          --org-key, kept in <id>.key<k+1>.pem and <id>.chain; a\n"
     "                          connected device re-authenticates with it at once\n"
     "  --org-key FILE          the owner organisation's key (PEM), which endorses\n"
     "                          rotations; --org-key-no N its key number (default 0)\n"
     "Sampling ends at --count, --duration, or SIGINT/SIGTERM; the last line on stdout is\n"
     "  sim devices=<n> sent=<packs made> acked=<acknowledged> pending=<n> drops=<n>\n"
     "Exit status: 0 when every pack was acknowledged, 1 when some were still pending.\n",
     sim_run_cmd},
};

const struct cli_group cli_group_sim = {"sim", "simulated devices", commands,
                                        sizeof commands / sizeof commands[0]};
