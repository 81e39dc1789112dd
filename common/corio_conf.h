/*
 * corio_conf.h - schema-driven config files for Corio daemons.
 *
 * A config file is a list of `key value` lines, as in mosquitto.conf: `#` starts a
 * comment line, blank lines are ignored, the value is the rest of the line with
 * surrounding blanks removed (a `#` inside a value is part of it). A daemon declares
 * every key it accepts in a schema (name, type, range, default, help, whether it is
 * required or may repeat); the parser refuses anything else with one line naming the
 * file and line:
 *
 *     corio-gateway.conf:12: unknown key 'lisen' (did you mean 'listen'?)
 *
 * The same schema prints the `--help` text (corio_conf_help). The file format is
 * described for operators in docs/operations.md.
 *
 * Typical use, with the argv helper in corio_cli.h:
 *
 *     static const struct corio_conf_key keys[] = {
 *         {.name = "listen", .type = CORIO_CONF_STRING, .def = "0.0.0.0:8080",
 *          .help = "Address and port of the HTTP API."},
 *         {.name = "max_body", .type = CORIO_CONF_SIZE, .def = "1MiB",
 *          .min = 1024, .max = 64 << 20, .help = "Largest request body accepted."},
 *         {0}
 *     };
 */
#ifndef CORIO_CONF_H
#define CORIO_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Longest line accepted, in bytes, not counting the line end. */
#define CORIO_CONF_LINE_MAX 4096

enum corio_conf_type {
    CORIO_CONF_STRING,   /* any text without control characters; .choices may restrict it */
    CORIO_CONF_INT,      /* a decimal integer, optionally negative */
    CORIO_CONF_BOOL,     /* true/false, yes/no, on/off, 1/0 */
    CORIO_CONF_DURATION, /* number + unit: 250ms, 30s, 5m, 2h, 1d, or a sum like 1h30m; read
                            back in milliseconds; 0 needs no unit */
    CORIO_CONF_SIZE,     /* bytes, with an optional binary unit: 512, 64k, 64KiB, 16M, 1G */
    CORIO_CONF_PATH,     /* a file system path; a relative path in a file is resolved
                            against that file's directory */
};

/* Flags of a key. */
#define CORIO_CONF_REQUIRED 0x1u /* the file must set it (a default makes no sense then) */
#define CORIO_CONF_LIST     0x2u /* it may appear many times; every value is kept */

/*
 * One key of a schema. A schema is an array of these ending with an entry whose name is
 * NULL ({0}). The strings are not copied: the schema must outlive every corio_conf made
 * from it (static const arrays are the intended use).
 */
struct corio_conf_key {
    const char *name; /* [a-z0-9_]+ */
    enum corio_conf_type type;
    const char *def;            /* default, written as in a file; NULL: unset by default */
    int64_t min, max;           /* inclusive range for INT, DURATION (ms), SIZE (bytes);
                                   both 0: unbounded (SIZE and DURATION are never < 0) */
    unsigned flags;             /* CORIO_CONF_REQUIRED, CORIO_CONF_LIST */
    const char *const *choices; /* STRING only: NULL-terminated list of accepted values */
    const char *help;           /* one sentence for --help */
};

struct corio_conf;

/*
 * Makes an empty configuration for the schema keys (terminated by {0}); every key has
 * its default. Checks the schema itself: a bad name, a default that does not parse or is
 * out of range, a required key with a default, or a duplicate name is a programming error
 * reported in err.
 * Returns CORIO_OK and sets *out (free with corio_conf_free); CORIO_ERR_INVAL with a
 * message in err (err may be NULL, errlen 0); CORIO_ERR_NOSPACE when memory ran out.
 */
int corio_conf_new(struct corio_conf **out, const struct corio_conf_key *keys, char *err,
                   size_t errlen);

/* Frees c and every value in it. NULL is fine. */
void corio_conf_free(struct corio_conf *c);

/*
 * Parses len bytes of config text named name (used in messages and to resolve relative
 * paths; e.g. "corio-gateway.conf"). The text need not be NUL-terminated. A
 * configuration can be loaded once.
 * Returns CORIO_OK; CORIO_ERR_MALFORMED for a file that breaks the format or the schema
 * (unknown key, bad value, out of range, repeated key, missing required key, NUL byte,
 * control character, over-long line), with one line in err of the form
 * "<name>:<line>: <what>" ("<name>: <what>" for a missing required key);
 * CORIO_ERR_STATE when c was already loaded; CORIO_ERR_NOSPACE when memory ran out.
 * On failure c keeps its defaults only.
 */
int corio_conf_load_buf(struct corio_conf *c, const char *name, const char *text, size_t len,
                        char *err, size_t errlen);

/*
 * Reads and parses the file at path (at most 1 MiB). Returns what corio_conf_load_buf
 * returns, or CORIO_ERR_IO with "<path>: <strerror>" in err when it cannot be read.
 */
int corio_conf_load_file(struct corio_conf *c, const char *path, char *err, size_t errlen);

/*
 * Accessors. name must be a key of the schema, of a type the accessor reads; anything
 * else is a programming error that aborts with a message (a typo must not read as 0).
 * A key without a value (no default, not in the file) reads as NULL / 0 / false.
 * For a LIST key these read the first value; use corio_conf_count and the _at forms.
 */

/* STRING or PATH value; owned by c, valid until corio_conf_free. */
const char *corio_conf_str(const struct corio_conf *c, const char *name);
/* INT, DURATION (milliseconds) or SIZE (bytes) value. */
int64_t corio_conf_int(const struct corio_conf *c, const char *name);
/* BOOL value. */
bool corio_conf_bool(const struct corio_conf *c, const char *name);

/* How many values the key has (0 or 1 for a non-LIST key; a default counts as 1). */
size_t corio_conf_count(const struct corio_conf *c, const char *name);
/* The i-th value (i < corio_conf_count); NULL / 0 when i is out of range. */
const char *corio_conf_str_at(const struct corio_conf *c, const char *name, size_t i);
int64_t corio_conf_int_at(const struct corio_conf *c, const char *name, size_t i);

/* True when the loaded text set the key (as opposed to its default). */
bool corio_conf_isset(const struct corio_conf *c, const char *name);

/* The line that set the key's first value, 0 for a default; for a daemon's own checks
 * that want to name the line ("corio.conf:7: ..."). */
int corio_conf_line(const struct corio_conf *c, const char *name);

/* The name the configuration was loaded under ("" before loading). */
const char *corio_conf_name(const struct corio_conf *c);

/*
 * Writes the schema as the "Configuration keys" part of --help to out: for each key its
 * name, type, range, default, flags and help text.
 */
void corio_conf_help(FILE *out, const struct corio_conf_key *keys);

#endif /* CORIO_CONF_H */
