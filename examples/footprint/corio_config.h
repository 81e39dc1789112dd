/*
 * corio_config.h - the footprint example's build-time configuration of libcorio
 * (named by CORIO_CONFIG_FILE; include/corio/config.h explains the mechanism), and the
 * sizes of the buffers the example gives the SDK. make footprint measures exactly these.
 */
#ifndef FP_CORIO_CONFIG_H
#define FP_CORIO_CONFIG_H

/* MQTT: the QoS 1 window and the filters kept across reconnects (the defaults). */
#define CORIO_MQTT_MAX_INFLIGHT      8
#define CORIO_MQTT_MAX_SUBSCRIPTIONS 4
/*
 * Device-size options: each leaves out what this device does not use (docs/footprint.md
 * lists them). FP_DEFAULT_OPTIONS=1 builds the same application with every one of them
 * at the SDK's default, which make footprint measures too, to show what they save.
 */
#ifndef FP_DEFAULT_OPTIONS
#define FP_DEFAULT_OPTIONS 0
#endif
#if !FP_DEFAULT_OPTIONS

/* MQTT features the device does not use: it never unsubscribes (its one filter is its
 * dn/cmd), authenticates with corio-eat-v1 at CONNECT only (each connection gets a
 * fresh nonce, so re-authentication adds nothing), sets no will (the gateway reports
 * presence itself, DESIGN.md §1), and resends from its outbox, not from the client
 * (drop_inflight_on_disconnect). */
#define CORIO_MQTT_WITH_UNSUBSCRIBE 0
#define CORIO_MQTT_WITH_REAUTH      0
#define CORIO_MQTT_WITH_WILL        0
#define CORIO_MQTT_WITH_RESEND      0
/* The client id (the short id), topics (the SDK's topic builder), the dn/cmd
 * filter and the auth method are the device's own code and carry no properties, so
 * the client need not check them against MQTT's rules; it still checks every packet
 * from the broker. */
#define CORIO_MQTT_CHECK_OWN 0
/* The device authenticates with corio-eat-v1, never with a username and
 * password, and adds no CONNECT properties of its own. */
#define CORIO_MQTT_WITH_LOGIN         0
#define CORIO_MQTT_WITH_CONNECT_PROPS 0

/* SenML: values go as decimals (CORIO_SENML_HAS_VDEC); the encoder's double path,
 * and with it soft-float arithmetic and shortest-double formatting, stays out. */
#define CORIO_SENML_FLOAT 0

/* The device sends no binary values (vd), so the encoder's base64url and
 * byte-string paths stay out too; a data record would be refused. */
#define CORIO_SENML_VD 0

/* Crypto: PSA validates every public point it imports, so the SDK's own P-256 field
 * arithmetic (point checks, decompression) stays out; the OTA anchor is kept
 * uncompressed (board.h). */
#define CORIO_CRYPTO_POINT_CHECK 0
/* The device key is provisioned and imported at every boot (app_identity.c): no keys
 * kept in PSA storage, so the code that opens them stays out. */
#define CORIO_CRYPTO_PSA_PERSISTENT 0
/* For the same reason it neither generates keys nor exports private ones. */
#define CORIO_CRYPTO_PSA_GENERATE 0

/* The device answers the broker's nonce (corio-eat-v1's challenge mode) and
 * keeps no wall clock and no firmware name, so its tokens carry no iat, swname or
 * single-step counter, and the code writing those stays out. */
#define CORIO_EAT_MAKE_OPTIONAL 0

/* CRC-32 (the outbox's record checks) bit by bit, without its table: the
 * same checks, slower per byte. */
#define CORIO_CRC32_TABLE 0
/* The heartbeat takes epoch, last seq, depth and drops from the outbox's
 * stats, all kept in RAM: no header reads for wear figures at every heartbeat. */
#define CORIO_DEV_OUTBOX_STATS_FLASH 0

#endif /* !FP_DEFAULT_OPTIONS */

/* Outbox: remember where the messages of the whole MQTT window are. */
#define CORIO_DEV_OUTBOX_CACHE CORIO_MQTT_MAX_INFLIGHT

/* The MQTT client's buffers. tx holds the largest packet the device sends: CONNECT
 * (or AUTH) with the EAT and key rotation chain of corio-eat-v1, or a telemetry
 * PUBLISH. rx holds one downlink packet (commands, configuration, OTA offers). */
#define FP_MQTT_TX 1024
#define FP_MQTT_RX 512

/* One telemetry message (a SenML pack) or command result as encoded. */
#define FP_PAYLOAD_MAX 256

/* mbedTLS's heap, a static pool (MBEDTLS_MEMORY_BUFFER_ALLOC_C): PSA key slots' key
 * data and ECDSA's temporaries; with TLS also the record buffers (IN 4096 + OUT 2048
 * content bytes plus headroom, mbedtls-tls.cfg), the handshake and the gateway's parsed
 * certificate chain. These are configured sizes, not a measured peak. */
#ifndef FP_TLS
#define FP_TLS 0 /* 1: the TLS variant (scripts/footprint.sh builds both) */
#endif
#if FP_TLS
#define FP_MBEDTLS_HEAP 20480
#else
#define FP_MBEDTLS_HEAP 4096
#endif

/* A measurement every 10 s; a heartbeat every 60 s. */
#define FP_SAMPLE_MS    10000u
#define FP_HEARTBEAT_MS 60000u

#endif /* FP_CORIO_CONFIG_H */
