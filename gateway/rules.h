/*
 * rules.h - local intelligence at the gateway that works offline: rules on device
 * samples (thresholds with hysteresis, rates of change, absence) and streaming anomaly
 * detection (anomaly.h), with their actions: local alerts, commands to local devices
 * and events upstream. The rules file and its semantics are in docs/edge-rules.md.
 *
 * Two parts:
 *   - the rules file, parsed into a struct corio_rules_conf (rules_conf.c): strict,
 *     with "<file>:<line>: <what>" for every mistake;
 *   - the engine (rules.c), made from a conf, fed with samples and ticked with the
 *     clock by corio-gateway's loop. It does no I/O: every action is a callback of
 *     struct corio_rules_ops, and the clock is what the caller passes. It logs each
 *     raise and clear through corio_log (common/corio_log.h) and counts everything
 *     in struct corio_rules_stats.
 *
 * One thread: the engine and its callbacks run in the caller's thread, and a callback
 * must not call back into the engine.
 *
 * Clock: every time here is milliseconds since 1970 (the gateway's wall clock, as in
 * the outbox's recv_ms), since sample times and command expiries are wall-clock times.
 * Absence is measured on the engine's clock (tick), from the moment a sample reached
 * the engine, not from the time the device stamped on it.
 */
#ifndef CORIO_GATEWAY_RULES_H
#define CORIO_GATEWAY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anomaly.h"
#include "corio/senml.h"
#include "edge_model.h"

/* ------------------------------------------------------------------------------ */
/* The parsed rules file                                                          */
/* ------------------------------------------------------------------------------ */

/* Longest rule, anomaly block or command name, in bytes. */
#define CORIO_RULES_NAME_MAX 64
/* Limits of one file; over them the parser refuses the file. */
#define CORIO_RULES_MAX_RULES      1024
#define CORIO_RULES_MAX_DETECTORS  32
#define CORIO_RULES_MAX_COMMANDS   8   /* per rule, raise and clear each */
#define CORIO_RULES_MAX_ARGS       16  /* per command */
#define CORIO_RULES_MAX_SELECT     256 /* device selectors or metrics per block */
#define CORIO_RULES_MAX_PARAMS     32  /* model parameters per anomaly block */
#define CORIO_RULES_ARGS_MAX       512 /* bytes of a command's encoded arguments */
#define CORIO_RULES_FILE_MAX       (1 << 20)
#define CORIO_RULES_LINE_MAX       4096
#define CORIO_RULES_MODEL_FILE_MAX (64 << 20)

enum corio_rule_kind {
    CORIO_RULE_ABOVE = 1,  /* value > limit raises, value < clear clears */
    CORIO_RULE_BELOW,      /* value < limit raises, value > clear clears */
    CORIO_RULE_RATE_ABOVE, /* rate (per second, over a window) > limit raises */
    CORIO_RULE_RATE_BELOW, /* rate < limit raises */
    CORIO_RULE_ABSENT,     /* no sample for absent_ms raises; a sample clears */
    CORIO_RULE_ANOMALY,    /* an anomaly episode (alerts of anomaly blocks only) */
};

enum corio_severity {
    CORIO_SEV_NONE = 0, /* no local alert */
    CORIO_SEV_INFO,
    CORIO_SEV_WARNING,
    CORIO_SEV_CRITICAL,
};

/* Which devices a block applies to: all, or any listed id, class or group. */
struct corio_rules_select {
    bool all;
    char (*ids)[CORIO_EDGE_DEVICE_LEN + 1];
    size_t nids;
    char **classes;
    size_t nclasses;
    char **groups;
    size_t ngroups;
};

/* A command a rule sends to a device. */
struct corio_rules_command {
    bool self;                              /* to the device whose sample fired */
    char device[CORIO_EDGE_DEVICE_LEN + 1]; /* else to this one */
    char name[CORIO_RULES_NAME_MAX + 1];
    uint8_t *args; /* CBOR of the arguments: a map of the
                      key=value pairs, or one bare value; NULL
                      when the line gave none */
    size_t args_len;
    int line;
};

struct corio_rule {
    char name[CORIO_RULES_NAME_MAX + 1];
    int line; /* of its `rule` line */
    struct corio_rules_select select;
    char metric[CORIO_EDGE_METRIC_MAX + 1];
    enum corio_rule_kind kind;
    double limit;      /* threshold, or rate per second */
    double clear;      /* the clear level (= limit when the file gives none) */
    int64_t window_ms; /* rates */
    int64_t absent_ms; /* absence */
    enum corio_severity alert;
    bool event;
    int64_t expires_ms; /* lifetime of its commands */
    struct corio_rules_command *raise_cmds, *clear_cmds;
    size_t nraise, nclear;
};

/* An anomaly block: one model over the series it selects. */
struct corio_rules_detector {
    char name[CORIO_RULES_NAME_MAX + 1];
    int line;
    struct corio_rules_select select;
    bool all_metrics;
    char **metrics;
    size_t nmetrics;
    const struct corio_edge_model *model;
    void *model_inst; /* owned: freed with the conf */
    struct corio_edge_shape shape;
    size_t max_series;
    enum corio_severity alert;
};

struct corio_rules_conf {
    char *name; /* the file name errors and logs use */
    size_t max_instances;
    int64_t command_expiry_ms;
    struct corio_rule *rules;
    size_t nrules;
    struct corio_rules_detector *detectors;
    size_t ndetectors;
};

/* How to parse. Zero is fine: built-in models, no model files read. */
struct corio_rules_parse_opts {
    /* The models `detector` may name (NULL-terminated); NULL: corio_edge_models. */
    const struct corio_edge_model *const *models;
    /* Read model_file lines' files (relative paths against the rules file's directory).
     * When false a model_file line is refused: parsing text must not touch files. */
    bool read_files;
};

/*
 * Parses len bytes of rules text named name (for messages and relative paths). Returns
 * CORIO_OK and *out (free with corio_rules_conf_free); CORIO_ERR_MALFORMED with one line
 * "<name>:<line>: <what>" in err for any mistake (or "<name>: <what>" for the file as a
 * whole); CORIO_ERR_IO when a model file cannot be read ("<name>:<line>: <path>:
 * <reason>"); CORIO_ERR_NOSPACE when memory ran out. opts may be NULL.
 */
int corio_rules_conf_parse(const char *name, const char *text, size_t len,
                           const struct corio_rules_parse_opts *opts, struct corio_rules_conf **out,
                           char *err, size_t errlen);

/* Reads the file at path (at most CORIO_RULES_FILE_MAX bytes) and parses it with
 * read_files on and the built-in models. Returns what corio_rules_conf_parse returns,
 * or CORIO_ERR_IO with "<path>: <reason>" when the file cannot be read. */
int corio_rules_conf_load(const char *path, struct corio_rules_conf **out, char *err,
                          size_t errlen);

void corio_rules_conf_free(struct corio_rules_conf *c);

/* The name of a severity ("info", "warning", "critical"; "none") and of a kind
 * ("above", "below", "rate_above", "rate_below", "absent", "anomaly"). */
const char *corio_severity_name(enum corio_severity s);
const char *corio_rule_kind_name(enum corio_rule_kind k);

/* ------------------------------------------------------------------------------ */
/* The engine                                                                     */
/* ------------------------------------------------------------------------------ */

/* A device's registry metadata, for class: and group: selectors. */
struct corio_rules_devinfo {
    const char *cls;    /* device class, "" if none */
    const char *groups; /* comma-separated group names, "" if none */
};

/* A local alert being raised or cleared. Strings live during the call only. */
struct corio_rules_alert {
    const char *rule; /* the rule's or the anomaly block's name */
    const char *device;
    const char *metric;
    enum corio_rule_kind kind;
    enum corio_severity severity;
    bool raised;      /* true: raised; false: cleared */
    double value;     /* what decided: the sample's value, the rate per second, the seconds
                         without a sample (absence raised), or the anomaly score */
    double limit;     /* the level crossed: the limit when raising, the clear level when
                         clearing (absence: its duration in seconds; anomaly: 0) */
    int64_t t_ms;     /* the sample's time, or the tick's for an absence */
    int64_t since_ms; /* when the alert was raised (= t_ms when raising) */
};

/* Upstream event suffixes (the outbox's `suffix` column, device ''). */
#define CORIO_RULES_EVENT_RULE    "edge/rule"
#define CORIO_RULES_EVENT_ANOMALY "edge/anomaly"

struct corio_rules_ops {
    /* A local alert was raised or cleared (rules and anomaly blocks with `alert`). */
    void (*alert)(void *ctx, const struct corio_rules_alert *a);
    /* Sends cbor[0..len) (a command, docs/edge-rules.md) to device on topic
     * (corio/v1/d/{device}/dn/cmd). Returns 0 when handed over, non-zero when not (the
     * engine counts and logs it; it does not retry: the command's expiry would be
     * stale by then, and the condition will fire again if it persists). */
    int (*command)(void *ctx, const char *device, const char *topic, const uint8_t *cbor,
                   size_t len);
    /* Stores payload[0..len) (JSON, docs/edge-rules.md) upstream as the gateway's own
     * record with this suffix (CORIO_RULES_EVENT_*). Returns 0, or non-zero on failure
     * (counted and logged). */
    int (*event)(void *ctx, const char *suffix, const uint8_t *payload, size_t len);
    /* Fills *info for device and returns true, or returns false when the device is
     * unknown. Only needed for class: and group: selectors; NULL: they match nothing.
     * info's strings need to live during the call only. */
    bool (*device_info)(void *ctx, const char *device, struct corio_rules_devinfo *info);
    void *ctx;
};

struct corio_rules_options {
    int64_t now_ms;       /* the clock at creation */
    uint64_t seq_start;   /* the first command's seq; keep it above any seq sent
                             before a restart, e.g. the wall clock in ms */
    uint8_t nonce[8];     /* random: the first half of every command's correlation id */
    uint8_t hash_key[16]; /* random: the key of the series tables */
    struct corio_rules_ops ops;
};

struct corio_rules_stats {
    uint64_t samples;         /* fed */
    uint64_t samples_refused; /* bad device id, metric name or non-finite value */
    uint64_t samples_stale;   /* older than a rule's newest sample: not evaluated */
    uint64_t packs;           /* SenML messages fed */
    uint64_t packs_refused;   /* not valid SenML, or not this device's */
    uint64_t records_skipped; /* string or data records (not numbers) */
    uint64_t raised;          /* rule raises */
    uint64_t cleared;         /* rule clears */
    uint64_t active;          /* rules raised now (gauge) */
    uint64_t commands_sent;
    uint64_t commands_failed;
    uint64_t events_sent;
    uint64_t events_failed;
    uint64_t instances;         /* (rule, device) states kept (gauge) */
    uint64_t instances_refused; /* not kept: max_instances reached */
    /* anomaly blocks, summed */
    uint64_t anomaly_samples;
    uint64_t anomaly_series; /* gauge */
    uint64_t anomaly_evicted;
    uint64_t anomalies_started;
    uint64_t anomalies_ended;
    uint64_t anomalies_open; /* gauge */
};

/* One rule's counters. */
struct corio_rules_rule_stats {
    const char *name;
    uint64_t raised, cleared, active;
};

typedef struct corio_rules corio_rules;

/*
 * Makes an engine that owns conf from now on (it is freed with the engine, and also
 * when this call fails). Instances for rules that name devices by id start now, so an
 * absence rule notices a named device that never speaks. Returns CORIO_OK and *out;
 * CORIO_ERR_INVAL for NULL arguments (err says which); CORIO_ERR_NOSPACE when memory
 * ran out.
 */
int corio_rules_new(struct corio_rules_conf *conf, const struct corio_rules_options *o,
                    corio_rules **out, char *err, size_t errlen);

/* Frees the engine and its conf. Active alerts are dropped without callbacks. */
void corio_rules_free(corio_rules *e);

/*
 * One decoded sample: device (a short id), metric (a SenML name of at most
 * CORIO_EDGE_METRIC_MAX bytes, without the device's "urn:corio:<id>:" prefix), t_ms its
 * time (0 .. 9999-12-31, as the cloud accepts), value finite. Evaluates every rule and
 * anomaly block that selects it; actions run before this returns. Returns CORIO_OK, or
 * CORIO_ERR_INVAL for a refused sample (counted).
 */
int corio_rules_feed(corio_rules *e, const char *device, const char *metric, int64_t t_ms,
                     double value);

/*
 * A whole SenML pack (up/json or up/cbor) from device, received at recv_ms: decoded
 * with include/corio/senml.h, names stripped of "urn:corio:<device>:", relative times
 * resolved against recv_ms (as the cloud does), and every number (a sum where there is
 * no value; booleans as 1 and 0) fed as corio_rules_feed does. All or nothing: a pack
 * that does not decode, or names another device's URN, feeds nothing. Returns the
 * number of samples fed (>= 0); CORIO_ERR_MALFORMED (or the decoder's error) for a
 * refused pack; CORIO_ERR_INVAL for bad arguments; CORIO_ERR_NOSPACE.
 */
int corio_rules_feed_senml(corio_rules *e, const char *device, enum corio_format fmt,
                           const uint8_t *msg, size_t len, int64_t recv_ms);

/* Advances the engine's clock to now_ms (taken into 0 .. 9999-12-31) and raises the
 * absence rules that are due. When the clock steps back, silence counts from the new
 * time (a "last seen" later than it is taken as it). Cheap when nothing is due. */
void corio_rules_tick(corio_rules *e, int64_t now_ms);

void corio_rules_stats(const corio_rules *e, struct corio_rules_stats *st);

/* How many rules; the counters of rule i (i < count): CORIO_OK or CORIO_ERR_INVAL. */
size_t corio_rules_count(const corio_rules *e);
int corio_rules_rule_stats(const corio_rules *e, size_t i, struct corio_rules_rule_stats *st);

/* Calls fn for every local alert raised now (rules with `alert`), in no particular
 * order; a.raised is true and a.t_ms is the raise's time. Returns how many. */
size_t corio_rules_alerts(const corio_rules *e,
                          void (*fn)(void *arg, const struct corio_rules_alert *a), void *arg);

/* Bytes one (rule, device) state takes for a rule of this kind. */
size_t corio_rules_instance_bytes(enum corio_rule_kind kind);

#endif /* CORIO_GATEWAY_RULES_H */
