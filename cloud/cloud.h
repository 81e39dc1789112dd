/*
 * cloud.h - the corio-cloud daemon: configuration, the registry file, and the program
 * that ties storage, ingest, the MQTT client and the HTTP API together.
 *
 * main.c is only corio_cloud_main; tests drive the same code as the binary.
 *
 * Threads: libmosquitto's network thread receives batches and only queues them; one
 * ingest worker owns the writer connection and does, per batch: verify, decode, one
 * transaction, publish the ack (QoS 1), broadcast the live events; libmicrohttpd's
 * threads answer the API through a reader connection; the main thread waits for
 * SIGTERM and then stops them in order.
 */
#ifndef CORIO_CLOUD_CLOUD_H
#define CORIO_CLOUD_CLOUD_H

#include <stddef.h>

#include "corio_conf.h"
#include "ingest.h"
#include "store.h"

/* The config schema of corio-cloud (printed by --help; cloud/README.md). */
extern const struct corio_conf_key corio_cloud_conf_keys[];

/*
 * Loads a registry file into s, in one transaction: lines of
 *     org <id> [name ...]
 *     gateway <id> org=<id> key=did:key:zDn... [key_no=<n>]
 *     device <id> org=<id> [gateway=<id>] [class=..] [model=..] [hw_rev=..] [groups=..]
 *            [assurance=..]
 * ('#' starts a comment line). Every id is a short id; a gateway's key is a did:key of
 * P-256. Returns CORIO_OK; CORIO_ERR_MALFORMED with "<path>:<line>: <what>" in err;
 * CORIO_ERR_IO when the file cannot be read or the store fails.
 */
int corio_cloud_registry_load(struct corio_store *s, const char *path, char *err, size_t errlen);

/* The same for len bytes of text named name (used in messages); NUL bytes are refused
 * as control characters. CORIO_ERR_IO only when the store fails. */
int corio_cloud_registry_load_buf(struct corio_store *s, const char *name, const char *text,
                                  size_t len, char *err, size_t errlen);

/*
 * The verifier of gateway batches: COSE_Sign1, ES256, kid "did:corio:<gw>#<key_no>",
 * checked against the gateway's registered key (docs/formats.md).
 */
extern const struct corio_batch_verifier corio_cloud_cose_verifier;

/* Runs corio-cloud with argv as the command line; returns the exit status. */
int corio_cloud_main(int argc, char **argv);

#endif /* CORIO_CLOUD_CLOUD_H */
