/*
 * sim.h - `corio sim`'s engine: many simulated devices in one process, each a real
 * corio_device (include/corio/device.h) with its own P-256 key, did:corio id and
 * flash file, all driven by one poll() loop; and what they share: a non-blocking TCP
 * transport and the sensor models. cmd_sim.c parses the command line into these.
 *
 * A state directory holds, per device, <id>.pem (its key 0, PKCS#8, mode 0600),
 * <id>.flash (its flash: SIM_SECTORS sectors of SIM_SECTOR_SIZE bytes programmed in
 * SIM_PROG_SIZE-byte units, each once per erase, as on ECC flash) and <id>.prov (what
 * provisioning writes into a real device: its claim secret and trust anchors,
 * docs/onboarding.md), so a second run continues where the first stopped: same ids,
 * same outboxes, same counters. A device whose key rotated also has <id>.key<n>.pem
 * (key n) and <id>.chain (its rotation chain to the latest key).
 */
#ifndef CORIO_TOOLS_SIM_H
#define CORIO_TOOLS_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "corio/senml.h"
#include "corio/transport.h"

/* Each device's flash file: 2 sectors of counter store and 16 of outbox (about 400
 * packs of the sim's size), 72 KiB. */
#define SIM_SECTOR_SIZE 4096u
#define SIM_SECTORS     18u
#define SIM_PROG_SIZE   8u

/* ---- provisioning ---- */

/* What provisioning writes besides keys and flash (docs/onboarding.md). */
struct sim_prov_opts {
    const char *gateway_ca; /* PEM file: the gateway's TLS trust anchor, copied to
                               <id>.ca.pem; NULL: none */
    const char *ota_anchor; /* the OTA trust anchor, a did:key; NULL: none */
    FILE *claims;           /* one line per device, "did:corio:<id> <secret>" (the text
                               of its QR code); NULL: none */
};

/* Makes n devices in dir (created if missing): a key, an erased flash file and a
 * provisioning record (a fresh claim secret, the trust anchors of po) each, and writes
 * their registry lines (docs/registry.md) to out, one per device:
 * "device <id> org=<org> key=<did:key> class=sim-sensor model=sim-1", and their claim
 * lines to po->claims. Returns a cli_exit code (after printing why on failure). */
int sim_provision(const char *dir, int n, const char *org, FILE *out,
                  const struct sim_prov_opts *po);

/* Reads the claim secret from <dir>/<id>.prov into secret (NUL-terminated). Returns
 * CORIO_OK, CORIO_ERR_NOTFOUND (no record or no secret in it) or CORIO_ERR_MALFORMED. */
int sim_prov_secret(const char *dir, const char *id, char *secret, size_t cap);

/* ---- running ---- */

struct sim_opts {
    const char *dir;
    const char *host; /* the gateway's MQTT listener */
    uint16_t port;
    const char *gateway_id; /* the EATs' audience */
    int devices;            /* how many of the provisioned devices; 0: all */
    double rate;            /* packs per second per device */
    uint64_t count;         /* packs per device; 0: no limit */
    double duration;        /* seconds of sampling; 0: no limit */
    enum corio_format format;
    uint64_t seed;           /* sensor models and event schedules */
    double drain_timeout;    /* seconds to wait for acknowledgements after sampling */
    double heartbeat;        /* seconds between heartbeats; 0: none */
    double reboot_every;     /* mean seconds between a device's reboots; 0: none */
    double netloss_every;    /* mean seconds between a device's lost connections; 0: none */
    double no_time_fraction; /* devices without a clock (until dn/time) */
    double status_every;     /* seconds between status lines on stderr; 0: none */
    uint8_t mqtt_version;
    bool auth_eat;           /* corio-eat-v1 (MQTT 5) rather than single-step */
    double rotate_every;     /* mean seconds between a device's key rotations; 0: none */
    const char *org_key;     /* the owner organisation's PEM key: endorses rotations */
    uint32_t org_key_number; /* its key number */
    const char *summary; /* the summary JSON file, or NULL */
    /* TLS to the gateway when tls is set: the gateway's certificate must chain to ca_pem
     * (PEM text, NUL-terminated) or, when that is NULL, to each device's own trust
     * anchor, the file provisioning wrote beside its key (SIM_GATEWAY_CA_SUFFIX); and
     * it must carry server_name (a DNS name: mbedTLS 2.28 matches no IP addresses). */
    bool tls;
    const char *ca_pem;
    const char *server_name;
};

/* A device's trust anchor for the gateway's TLS certificate (its organisation's CA,
 * PEM) in the state directory: <id> followed by this, as provisioning writes it
 * (docs/onboarding.md). */
#define SIM_GATEWAY_CA_SUFFIX ".ca.pem"

/* Runs the devices until sampling ends (count, duration, or SIGINT/SIGTERM), then
 * until every outbox is acknowledged or the drain timeout passes (a second signal
 * cuts it short); writes the summary and prints the "sim devices=..." line. Returns a
 * cli_exit code: CLI_OK when every pack was acknowledged, CLI_REFUSED when some were
 * still pending, CLI_INPUT or CLI_FAIL when it could not run. */
int sim_run(const struct sim_opts *o);

/* ---- the transport ---- */

/* A TCP connection to a resolved address that never blocks, connect included: open()
 * answers CORIO_ERR_AGAIN while the connection is being made (the caller polls the
 * socket for writing meanwhile). */
struct sim_tcp {
    int fd; /* -1 when closed */
    bool connecting;
    struct sockaddr_storage addr;
    socklen_t addr_len;
};

/* Resolves host:port once for every device into *addr. Returns CORIO_OK or
 * CORIO_ERR_NOTFOUND. */
int sim_resolve(const char *host, uint16_t port, struct sockaddr_storage *addr,
                socklen_t *addr_len);
/* Prepares t (closed) to connect to addr (copied). */
void sim_tcp_init(struct sim_tcp *t, const struct sockaddr_storage *addr, socklen_t addr_len);
/* Fills *out with t's functions (transport.h); t must outlive their use. open returns
 * CORIO_OK, CORIO_ERR_AGAIN while connecting, CORIO_ERR_REFUSED, CORIO_ERR_TIMEOUT or
 * CORIO_ERR_IO; send and recv never block. */
void sim_tcp_transport(struct sim_tcp *t, struct corio_transport *out);
/* A lost network: the connection is shut down under the client, which notices at its
 * next read. Does nothing while closed or connecting. */
void sim_tcp_cut(struct sim_tcp *t);

/* ---- sensor models ---- */

/* A deterministic random stream (splitmix64). */
struct sim_rng {
    uint64_t s;
};
/* Starts stream number `stream` of seed (one per device and purpose). */
void sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(struct sim_rng *r); /* 64 random bits */
double sim_rng_unit(struct sim_rng *r);   /* uniform in [0, 1) */
double sim_rng_normal(struct sim_rng *r); /* standard normal (approximately) */

/* One device's environment: temperature (a per-device level, slow drift, noise),
 * relative humidity that moves against it, and vibration from a machine that runs
 * some of the time. */
struct sim_model {
    struct sim_rng rng;
    double temp_base, temp_drift;
    double hum_base, hum_drift;
    bool machine_on;
    double vib_level;
};
struct sim_sample {
    double temp; /* Cel */
    double hum;  /* %RH */
    double vib;  /* m/s2, RMS */
    bool running;
};
/* A device's environment, drawn from seed and its index. */
void sim_model_init(struct sim_model *m, uint64_t seed, uint64_t device);
/* Advances the model by dt seconds and reads the sensors. */
void sim_model_step(struct sim_model *m, double dt, struct sim_sample *out);

#endif /* CORIO_TOOLS_SIM_H */
