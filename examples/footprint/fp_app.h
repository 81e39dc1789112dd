/*
 * fp_app.h - how the footprint example's files talk to each other. The example is a
 * complete device application (DESIGN.md §1: sample, encode, keep in the outbox, publish
 * QoS 1, authenticate with corio-eat-v1, obey commands), split by SDK module so that
 * make footprint can build each piece once its module has landed: fp_modules.h, which
 * the script generates from modules.conf, says which have (FP_HAVE_<MODULE>).
 */
#ifndef FP_APP_H
#define FP_APP_H

#include <stddef.h>
#include <stdint.h>

#include "corio/crypto.h"
#include "corio/mqtt.h"
#include "fp_modules.h"

/* Topic suffixes the device uses (DESIGN.md §4), also its outbox message types. */
enum fp_kind { FP_UP_CBOR, FP_UP_JSON, FP_UP_EVT, FP_UP_HB, FP_UP_RES, FP_KIND_COUNT };

/* mbedtls_heap.c: the pool mbedTLS allocates from. */
extern unsigned char fp_mbedtls_heap[FP_MBEDTLS_HEAP];

/* app_identity.c: the device key and the name made from it. */
int fp_identity_init(void);
const struct corio_key *fp_identity_key(void);
const char *fp_short_id(void); /* CORIO's 24-character short id, NUL-terminated */
/* The id bytes the short id spells (base32), for the EAT's issuer. */
const uint8_t *fp_identity_id(void);

/* app_mqtt.c: the client, its buffers and the main loop's step. */
int fp_mqtt_start(const struct corio_transport *tp, const struct corio_clock *clk,
                  const struct corio_random *rnd);
uint32_t fp_mqtt_step(void); /* processes; returns how long the loop may sleep */
/* Stores (when the outbox is there) and publishes one message; QoS 1. */
int fp_send(enum fp_kind kind, const uint8_t *payload, size_t len, uint32_t now_ms);
/* Publishes one message QoS 1 with the outbox's token; corio_mqtt_publish()'s codes. */
int fp_publish(enum fp_kind kind, const uint8_t *payload, size_t len, uint64_t token);
/* The full topic for kind, NUL-terminated, in buf of cap bytes; returns its length. */
int fp_topic(enum fp_kind kind, char *buf, size_t cap);

/* app_telemetry.c: the format telemetry goes out in (a command changes it; without
 * the SenML module only CBOR), and the boot count the bootloader keeps. */
extern uint8_t fp_format_json;
extern uint32_t fp_boot_count;

/* app_telemetry.c: a measurement as SenML (JSON and CBOR) and the heartbeat. */
int fp_telemetry_sample(uint32_t now_ms);
int fp_heartbeat(uint32_t now_ms);

/* app_commands.c: a downlink message on dn/cmd (CBOR). Returns the PUBACK reason. */
uint8_t fp_command(const uint8_t *payload, size_t len, uint32_t now_ms);

/* app_tls.c (FP_TLS): raw wrapped in TLS 1.2; out is the transport to use. */
int fp_tls_wrap(const struct corio_transport *raw, struct corio_transport *out);

/* app_outbox.c (FP_HAVE_OUTBOX): the persistent outbox over the board's flash. */
int fp_outbox_open(void);
int fp_outbox_store(enum fp_kind kind, const uint8_t *payload, size_t len, uint32_t now_ms);
void fp_outbox_pump(void); /* publishes unacknowledged messages while the client takes them */
void fp_outbox_done(uint64_t token, int result);
/* Heartbeat figures: epoch, last seq, depth, drops. */
void fp_outbox_figures(uint32_t *epoch, uint32_t *last_seq, uint32_t *depth, uint32_t *drops);

/* app_eat.c (FP_HAVE_EAT): corio-eat-v1's answer to the broker's nonce. */
int fp_eat_answer(const uint8_t *nonce, size_t nonce_len, const uint8_t **out, size_t *out_len);

#endif /* FP_APP_H */
