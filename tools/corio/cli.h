/*
 * cli.h - what the corio command's parts share: the command table (main.c lists the
 * groups; each group lives in cmd_<group>.c), the exit codes, and helpers that turn
 * command-line text and files into keys, public keys, bytes and messages with one
 * clear error line each.
 *
 * Adding a group: write cmd_<name>.c defining `const struct cli_group cli_group_<name>`,
 * declare it below and add it to the table in main.c.
 */
#ifndef CORIO_TOOLS_CLI_H
#define CORIO_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "corio/crypto.h"

/* Exit codes, as `corio --help` documents them. */
enum cli_exit {
    CLI_OK = 0,      /* done; a signature or token verified */
    CLI_REFUSED = 1, /* a signature, token or chain was refused */
    CLI_USAGE = 2,   /* the command line is wrong: unknown command or option, missing or
                      * unparsable option value */
    CLI_INPUT = 3,   /* an input it names is bad: missing or unreadable file, not a key */
    CLI_FAIL = 4,    /* the crypto backend or the file system failed */
};

struct cli_command {
    const char *name;
    const char *usage;                 /* the arguments after "corio <group> <name>" */
    const char *summary;               /* one line */
    const char *help;                  /* the options, one per line, or NULL */
    int (*run)(int argc, char **argv); /* argv[0] is the command's name; returns enum cli_exit */
};

struct cli_group {
    const char *name;
    const char *summary;
    const struct cli_command *commands;
    size_t count;
};

extern const struct cli_group cli_group_key;
extern const struct cli_group cli_group_did;
extern const struct cli_group cli_group_eat;
extern const struct cli_group cli_group_cose;
extern const struct cli_group cli_group_sim;
extern const struct cli_group cli_group_ca;
extern const struct cli_group cli_group_nats;

/* The group and command running now, for error and usage messages (set by main). */
extern const struct cli_group *cli_current_group;
extern const struct cli_command *cli_current_command;

/* Prints "corio: <message>" and a newline to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "corio: <message>", a hint to --help, and returns CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the current command's usage and help to f. */
void cli_command_help(FILE *f);

/* Hex (either case, no separators) into out[0..cap): the byte count, or -1. */
int cli_hex_decode(const char *s, uint8_t *out, size_t cap);
void cli_hex_print(FILE *f, const uint8_t *p, size_t n);

/* Unpadded base64url (RFC 4648 §5). encode writes a NUL-terminated string and returns
 * its length, or -1 when out is too small; decode returns the byte count or -1. */
int cli_b64url_encode(const uint8_t *p, size_t n, char *out, size_t cap);
int cli_b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap);

/* A decimal unsigned integer without sign or spaces: 0 on success, -1 if not one. */
int cli_parse_u64(const char *s, uint64_t *v);

/* Reads a whole file ("-" is stdin), at most max bytes, into a malloc'd buffer.
 * Returns CLI_OK or CLI_INPUT (after printing why). */
int cli_read_file(const char *path, size_t max, uint8_t **buf, size_t *len);

/* A message given as a file ("-" is stdin) or as text on the command line, in raw CBOR,
 * hex or base64url (told apart by their characters). Returns CLI_OK and a malloc'd
 * buffer, or CLI_INPUT. */
int cli_read_message(const char *arg, uint8_t **buf, size_t *len);

/* Loads a private key from a PEM file (OpenSSL backend). Returns CLI_OK or CLI_INPUT. */
int cli_load_key(const char *path, struct corio_key *key);

/* A public key given as did:key, a multibase "zDn..." key, hex (33 or 65 bytes), or a
 * PEM file holding a public or private key. Returns CLI_OK or CLI_INPUT. */
int cli_load_public(const char *arg, uint8_t pub[65]);

/* Prints what identifies a key as "name value" lines on stdout: did (the did:corio it
 * would have as an inception key), didkey, id (the short id) and pub (compressed, hex).
 * Returns CLI_OK or CLI_FAIL. */
int cli_print_identity(const uint8_t pub[65]);

/* Output encodings of made messages. */
enum cli_format { CLI_FORMAT_HEX, CLI_FORMAT_B64URL, CLI_FORMAT_RAW };
int cli_parse_format(const char *s, enum cli_format *f);
/* Writes p[0..n) to stdout in format f (text formats end with a newline). Returns
 * CLI_OK or CLI_FAIL. */
int cli_write_message(const uint8_t *p, size_t n, enum cli_format f);

#endif /* CORIO_TOOLS_CLI_H */
